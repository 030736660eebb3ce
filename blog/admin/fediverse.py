"""Settings → Fediverse (admins), and Admin → Fediverse (admins and editors see it; only admins
remove followers and block servers): followers, servers and their delivery health, the
recent deliveries. The rules live in blog.federation.administration.

Decisions:
- Federation can only be switched on for an https:// SITE_URL: Mastodon and the others refuse
  plain-http actors, so a site that turned it on anyway would look broken to its readers.
  When configuration turns it on (FEDERATION), the switch only shows that, and a save keeps
  the stored value.
- Like the other settings pages, the page carries a fingerprint of what it showed and a save
  from a stale page is refused with 409 (blog.concurrent_edits).
- CSRF is checked for every POST by CSRFProtect (blog.extensions).
- Blocking a server asks for a tick first: it deletes its followers, likes, boosts and
  waiting replies, which no unblock brings back.
"""

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

from ..concurrent_edits import fingerprint
from ..extensions import db
from ..federation import administration as fedi
from ..federation import forced_on, site_is_https
from ..models import (
    DeliveryState,
    FederationDelivery,
    Follower,
    LocalActor,
    RemoteActor,
    RemoteServer,
    Role,
    User,
)
from ..pagination import Page, page_number
from ..permissions import admin_required, role_required
from ..settings import get_setting, get_settings, set_settings
from . import bp
from .design import save_checked, shown

PER_PAGE = 50
KEYS = (
    "federation_enabled",
    "federation_actor_name",
    "federation_actor_summary",
    "federation_replies_as_comments",
    "federation_author_actors",
)
staff_required = role_required(Role.ADMIN, Role.EDITOR)


class FediverseForm(FlaskForm):
    federation_enabled = BooleanField("Federate: people on the fediverse can follow this blog")
    federation_actor_name = StringField(
        "Name people follow",
        validators=[
            InputRequired("Enter a name, such as blog."),
            Regexp(
                fedi.ACTOR_NAME.pattern + "$",
                message="Use 1 to 30 lower-case letters, digits, _ or - (no spaces).",
            ),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    federation_actor_summary = TextAreaField(
        "Description on the fediverse",
        validators=[Length(max=500, message="Keep it under 500 characters.")],
    )
    federation_replies_as_comments = BooleanField(
        "Replies from the fediverse become comments (held for moderation)"
    )
    federation_author_actors = BooleanField(
        "Each author can also be followed on their own (@author-name@your.domain)"
    )


# Settings → Fediverse ------------------------------------------------------------------------


def settings_page(form: FediverseForm, status: int = 200):
    shown_now = request.form.get("shown") if form.is_submitted() else fingerprint(shown(KEYS))
    on, why = fedi.state()
    return render_template(
        "admin/fediverse_settings.html",
        form=form,
        shown=shown_now,
        forced=forced_on(),
        https=site_is_https(),
        on=on,
        why=why,
        handle=fedi.handle(),
        host=fedi.site_host(),
        site_url=current_app.config["SITE_URL"],
    ), status


def name_taken_by_author(form: FediverseForm) -> bool:
    """With author actors on, the site's name must not be an author's (their handles clash)."""
    if not form.federation_author_actors.data:
        return False
    name = form.federation_actor_name.data
    if db.session.scalar(select(User.id).where(User.slug == name)) is None:
        return False
    form.federation_actor_name.errors = [
        f"An author is followed as @{name}@{fedi.site_host()} already: choose another name."
    ]
    return True


@bp.route("/settings/fediverse", methods=["GET", "POST"])
@admin_required
def fediverse_settings():
    form = FediverseForm(data=get_settings())
    if not form.validate_on_submit():
        return settings_page(form, 400 if form.is_submitted() else 200)
    if name_taken_by_author(form):
        return settings_page(form, 400)
    values = {key: getattr(form, key).data for key in KEYS}
    values["federation_actor_summary"] = values["federation_actor_summary"].strip()
    if forced_on():  # the switch is informational: configuration decides
        values["federation_enabled"] = get_setting("federation_enabled")
    elif values["federation_enabled"] and not site_is_https():
        form.federation_enabled.errors = [
            "Federation needs an https:// site address: Mastodon and other fediverse servers "
            f"refuse to follow plain-http sites, and SITE_URL is {current_app.config['SITE_URL']}."
            " Change SITE_URL (BLOG_SITE_URL) first. Nothing was saved."
        ]
        return settings_page(form, 400)
    old_name = get_setting("federation_actor_name")
    refusal = save_checked(KEYS, lambda status: settings_page(form, status))
    if refusal is not None:
        return refusal
    set_settings(values)
    db.session.commit()
    current_app.logger.info("%s changed the fediverse settings", current_user.email)
    message = "Fediverse settings saved."
    if values["federation_actor_name"] != old_name:
        message += (
            f" People now find the blog as {fedi.handle()}; searching for"
            f" {fedi.handle(str(old_name))} finds nothing any more. Existing followers keep"
            " following."
        )
    flash(message, "success")
    return redirect(url_for("admin.fediverse_settings"), 303)


# Admin → Fediverse ---------------------------------------------------------------------------


def followed_handles():
    """A function naming the actor a follower follows, reading the settings once a page."""
    site_handle = fedi.handle()

    def followed(actor: LocalActor) -> str:
        return site_handle if actor.user is None else fedi.handle(actor.user.slug)

    return followed


def overview_context() -> dict:
    on, why = fedi.state()
    return {"on": on, "why": why, "handle": fedi.handle(), "totals": fedi.overview()}


@bp.get("/fediverse")
@staff_required
def fediverse():
    """The followers, newest first, optionally of one server."""
    server = request.args.get("server", "").strip().lower()[:253]
    query = (
        select(Follower)
        .join(Follower.remote_actor)
        .options(
            contains_eager(Follower.remote_actor),
            joinedload(Follower.local_actor).joinedload(LocalActor.user),
        )
        .order_by(Follower.created_at.desc(), Follower.id.desc())
    )
    if server:
        query = query.where(RemoteActor.host == server)
    page = Page.of(query, page_number(), PER_PAGE)
    return render_template(
        "admin/fediverse.html",
        page=page,
        server=server,
        followed_handle=followed_handles(),
        **overview_context(),
    )


@bp.get("/fediverse/servers")
@staff_required
def fediverse_servers():
    """Servers this site knows, blocked and failing ones first, with their deliveries."""
    query = select(RemoteServer).order_by(
        RemoteServer.blocked.desc(), RemoteServer.failures.desc(), RemoteServer.host
    )
    page = Page.of(query, page_number(), PER_PAGE)
    hosts = [server.host for server in page.items]
    return render_template(
        "admin/fediverse_servers.html",
        page=page,
        followers=fedi.follower_counts(hosts),
        deliveries=fedi.delivery_counts(hosts),
        **overview_context(),
    )


def activity_type(delivery: FederationDelivery) -> str:
    """`Create Article`, `Delete`...: what the stored activity is, for people."""
    try:
        activity = json.loads(delivery.activity_json)
    except ValueError:
        return "?"
    if not isinstance(activity, dict):
        return "?"
    kind = str(activity.get("type", "?"))[:40]
    inner = activity.get("object")
    if isinstance(inner, dict) and inner.get("type"):
        kind += " " + str(inner["type"])[:40]
    return kind


@bp.get("/fediverse/deliveries")
@staff_required
def fediverse_deliveries():
    """What this site sent, newest first, optionally in one state."""
    state = request.args.get("state", "")
    query = select(FederationDelivery).order_by(
        FederationDelivery.created_at.desc(), FederationDelivery.id.desc()
    )
    if state:
        if state not in DeliveryState.__members__.values():
            abort(404)
        query = query.where(FederationDelivery.state == state)
    page = Page.of(query, page_number(), PER_PAGE)
    return render_template(
        "admin/fediverse_deliveries.html",
        page=page,
        state=state,
        states=list(DeliveryState),
        activity_type=activity_type,
        **overview_context(),
    )


@bp.post("/fediverse/followers/<int:follower_id>/remove")
@admin_required
def remove_follower(follower_id: int):
    follower = db.session.get(Follower, follower_id) or abort(404)
    who = follower.remote_actor.handle
    fedi.remove_follower(follower)
    db.session.commit()
    current_app.logger.info("%s removed the follower %s", current_user.email, who)
    flash(
        f"{who} no longer follows the blog and gets nothing more from it. They can follow "
        "again; block their server to prevent that.",
        "success",
    )
    return redirect(url_for("admin.fediverse", server=request.form.get("server") or None), 303)


def host_from_form(target: str):
    """The host the form names, or a redirect back with why it is refused."""
    host = fedi.normalise_host(request.form.get("host", ""))
    if host is None:
        flash("Enter a server's address, such as mastodon.example.", "error")
        return None, redirect(url_for(target), 303)
    return host, None


@bp.post("/fediverse/servers/block")
@admin_required
def block_server():
    host, refusal = host_from_form("admin.fediverse_servers")
    if refusal is not None:
        return refusal
    if request.form.get("confirm") != "yes":
        flash(f"Nothing was blocked: tick the box to confirm blocking {host}.", "error")
        return redirect(url_for("admin.fediverse_servers"), 303)
    if host == fedi.site_host():
        flash("This is the blog's own address: it cannot block itself.", "error")
        return redirect(url_for("admin.fediverse_servers"), 303)
    removed = fedi.block_server(host)
    db.session.commit()
    current_app.logger.info("%s blocked the server %s: %s", current_user.email, host, removed)
    flash(
        f"{host} is blocked: {removed['followers']} followers, {removed['reactions']} likes and "
        f"boosts and {removed['comments']} waiting replies removed; nothing more is taken from "
        "it or sent to it.",
        "success",
    )
    return redirect(url_for("admin.fediverse_servers"), 303)


@bp.post("/fediverse/servers/unblock")
@admin_required
def unblock_server():
    host, refusal = host_from_form("admin.fediverse_servers")
    if refusal is not None:
        return refusal
    if fedi.unblock_server(host):
        db.session.commit()
        current_app.logger.info("%s unblocked the server %s", current_user.email, host)
        flash(f"{host} is no longer blocked. Its people can follow the blog again.", "success")
    else:
        flash(f"{host} was not blocked.", "error")
    return redirect(url_for("admin.fediverse_servers"), 303)
