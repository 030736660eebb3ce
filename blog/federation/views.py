"""The fediverse's addresses on this site: WebFinger, NodeInfo, host-meta, outboxes and follower
collections, the inbox, and the ActivityStreams answer of the pages a browser sees.

Machine-to-machine: nothing here is a page, so the page cache never stores it (the cache
keeps the reader blueprint's pages only) and the inbox is exempt from CSRF (it is signed
instead). Everything answers 404 while federation is off.

Decisions:
- Content negotiation happens before the page cache is asked (`answer_activity_json`, one of
  the app's before-request hooks): the home page, an article and an author's page answer
  their JSON to a client that asks for `application/activity+json` (or ld+json with the
  ActivityStreams profile). The cache's fast path and its key skip such requests, and the
  HTML of those pages says `Vary: Accept`, so neither answer is ever served for the other.
- The inbox's order of checks costs an attacker the most and this site the least: type and
  size, then the Signature header's shape, a blocked server (403), the per-server rate limit
  (429), and only then the key fetch and the signature (401 for anything wrong).
- An inbox request counts towards its server's limit even when its signature fails (each
  may cost a key fetch); that count is the only row a refused request leaves.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, has_request_context, request
from jinja2 import pass_context
from sqlalchemy import select

from .. import rate_limits
from ..extensions import csrf, db
from ..models import Post, PostKind, User
from ..urls import absolute_url, post_url
from ..visibility import public_clause
from . import ACTIVITY_JSON, documents, enabled, setting, wants_activity_json

bp = Blueprint("federation", __name__)
csrf.exempt(bp)

NEGOTIATED_ENDPOINTS = frozenset({"public.index", "public.post", "public.author"})
JRD_JSON = "application/jrd+json"
INBOX_TYPES = frozenset({"application/activity+json", "application/ld+json", "application/json"})
RATE_ACTION = "federation_inbox"


def register(app) -> None:
    app.register_blueprint(bp)


@bp.before_request
def only_when_enabled():
    if not enabled():
        abort(404)


def activity_response(document: dict, content_type: str = ACTIVITY_JSON, status=200) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    response = current_app.response_class(body, status=status, content_type=content_type)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Accept")
    return response


# Discovery -----------------------------------------------------------------------------------


@bp.get("/.well-known/webfinger")
def webfinger():
    """RFC 7033: `acct:name@host` or an actor's address; 400 for a malformed resource."""
    resource = request.args.get("resource", "").strip()
    if not resource or len(resource) > 500:
        return _bad_request("Ask for ?resource=acct:name@host")
    found, user = _webfinger_subject(resource)
    if found is None:
        return _bad_request("The resource must be acct:name@host or an address on this site")
    if not found:
        abort(404)
    return activity_response(documents.webfinger(user), JRD_JSON)


def _webfinger_subject(resource: str) -> tuple[bool | None, User | None]:
    """(True, the user or None for the site) when known, (False, None) when well-formed but
    unknown here, (None, None) when malformed."""
    if resource.lower().startswith("acct:"):
        name, at, host = resource[5:].lstrip("@").rpartition("@")
        if not at or not name or not host:
            return None, None
        if host.lower() != documents.site_host():
            return False, None
        return _actor_named(name)
    if resource.startswith(("https://", "http://")):
        return _actor_at(resource)
    return None, None


def _actor_named(name: str) -> tuple[bool, User | None]:
    site_name = str(setting("federation_actor_name") or "")
    if name.lower() == site_name.lower():
        return True, None
    if documents.author_actors_on():
        user = db.session.scalar(select(User).where(User.slug == name.lower()))
        if user is not None and documents.has_actor(user):
            return True, user
    return False, None


def _actor_at(address: str) -> tuple[bool, User | None]:
    from .actors import local_target

    endpoint, values = local_target(address)
    if endpoint == "public.index":
        return True, None
    if endpoint == "public.author":
        user = db.session.scalar(select(User).where(User.slug == values["slug"]))
        if user is not None and documents.has_actor(user):
            return True, user
    return False, None


def _bad_request(message: str) -> Response:
    return activity_response({"error": message}, "application/json", 400)


@bp.get("/.well-known/nodeinfo")
def nodeinfo_links():
    return activity_response(
        documents.nodeinfo_links(lambda version: absolute_url(f"/nodeinfo/{version}")),
        "application/json",
    )


@bp.get("/nodeinfo/<version>")
def nodeinfo(version: str):
    if version not in documents.NODEINFO_VERSIONS:
        abort(404)
    profile = documents.NODEINFO_SCHEMA.format(version=version)
    return activity_response(documents.nodeinfo(version), f'application/json; profile="{profile}#"')


@bp.get("/.well-known/host-meta")
def host_meta():
    """The XRD older servers read to find WebFinger."""
    template = absolute_url("/.well-known/webfinger") + "?resource={uri}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/xrd+xml" template="{template}"/>\n'
        "</XRD>\n"
    )
    return current_app.response_class(body, content_type="application/xrd+xml; charset=utf-8")


# Collections ---------------------------------------------------------------------------------


def _author_with_actor(slug: str) -> User:
    user = db.session.scalar(select(User).where(User.slug == slug))
    if user is None or not documents.has_actor(user):
        abort(404)
    return user


def _page_argument() -> int | None:
    if "page" not in request.args:
        return None
    page = request.args.get("page", type=int)
    if page is None or not 1 <= page <= 100_000:
        abort(404)
    return page


@bp.get("/outbox", defaults={"slug": None})
@bp.get("/author/<slug>/outbox")
def outbox(slug: str | None):
    user = _author_with_actor(slug) if slug is not None else None
    return activity_response(documents.outbox(user, _page_argument()))


@bp.get("/followers", defaults={"slug": None})
@bp.get("/author/<slug>/followers")
def followers(slug: str | None):
    from .keys import find_actor

    user = _author_with_actor(slug) if slug is not None else None
    return activity_response(documents.followers(find_actor(user), user))


@bp.get("/following", defaults={"slug": None})
@bp.get("/author/<slug>/following")
def following(slug: str | None):
    user = _author_with_actor(slug) if slug is not None else None
    return activity_response(documents.following(user))


# The inbox -----------------------------------------------------------------------------------


@bp.post("/inbox")
def inbox():
    """Other servers' activities: checked (see the module's decisions), applied, 202."""
    # Imported here: requests, urllib3 and cryptography load on the first inbox request, not
    # in every web worker at start.
    from . import inbox as inbox_processing
    from .actors import SenderGone, host_of, server_blocked, verified_sender
    from .keys import local_actor
    from .signatures import SignatureRefused, parse_signature_header

    if request.mimetype not in INBOX_TYPES:
        return _answer(415, "Send application/activity+json")
    body = request.get_data(cache=True)
    if len(body) > current_app.config["FEDERATION_INBOX_MAX_BYTES"]:
        return _answer(413, "The activity is too large")
    try:
        signature = parse_signature_header(request.headers.get("Signature"))
    except SignatureRefused as refused:
        return _answer(401, str(refused))
    host = host_of(signature.key_id)
    if server_blocked(host):
        return _answer(403, "This server does not take activities from yours")
    if (retry_after := _rate_limited(host)) is not None:
        response = _answer(429, "Too many activities from your server; try again later")
        response.headers["Retry-After"] = str(retry_after)
        return response
    local_actor()  # the site's key signs the key fetch: made once, on the very first request
    db.session.commit()  # that and the count stay; nothing more is written before the check
    try:
        activity = json.loads(body)
    except ValueError:
        activity = None
    if not isinstance(activity, dict):
        return _answer(400, "The body is not a JSON object")
    try:
        sender = verified_sender(signature, request, body, activity)
    except SenderGone:
        db.session.rollback()
        return _answer(202, "Accepted: nothing to do")
    except SignatureRefused as refused:
        db.session.rollback()
        current_app.logger.info("Inbox: refused a request from %s: %s", host, refused)
        return _answer(401, str(refused))
    inbox_processing.apply(activity, sender)
    db.session.commit()
    return _answer(202, "Accepted")


def _answer(status: int, message: str) -> Response:
    """The inbox's short JSON answer: what was accepted, or why not."""
    return activity_response({"status": message}, "application/json", status)


def _rate_limited(host: str) -> int | None:
    """Seconds to wait when `host` reached its limit; else count this request (the caller
    commits)."""
    config = current_app.config
    window = timedelta(seconds=config["FEDERATION_INBOX_WINDOW_SECONDS"])
    keys = {"server": host}
    if rate_limits.exceeded(
        RATE_ACTION, keys, {"server": config["FEDERATION_INBOX_PER_SERVER"]}, window
    ):
        return int(window.total_seconds())
    rate_limits.record(RATE_ACTION, keys)
    return None


def limit_inbox_body() -> None:
    """Before anything reads the body: the inbox takes far less than an upload form."""
    if request.endpoint == "federation.inbox":
        request.max_content_length = current_app.config["FEDERATION_INBOX_MAX_BYTES"]


# Content negotiation on the reader's pages ---------------------------------------------------


def answer_activity_json():
    """The ActivityStreams document of the home page, an article or an author's page, for a
    client that asks for it; None (the page as usual) for anyone else."""
    if request.endpoint not in NEGOTIATED_ENDPOINTS or request.method not in ("GET", "HEAD"):
        return None
    if not wants_activity_json(request.headers.get("Accept")) or not enabled():
        return None
    document = _negotiated_document(request.endpoint, request.view_args or {})
    if document is None:
        return None  # a static page, an unknown address: the view answers (404, a redirect)
    db.session.commit()  # an actor's keys, made on this first request
    return activity_response(document)


def _negotiated_document(endpoint: str, values: dict) -> dict | None:
    from .keys import local_actor  # cryptography: loaded on the first fediverse request

    if endpoint == "public.index":
        return documents.actor_document(local_actor())
    if endpoint == "public.author":
        user = db.session.scalar(select(User).where(User.slug == values.get("slug")))
        if user is None or not documents.has_actor(user):
            return None
        return documents.actor_document(local_actor(user))
    post = _public_article(values.get("slug", ""))
    return documents.article_object(post) if post is not None else None


def _public_article(slug: str) -> Post | None:
    return db.session.scalar(
        select(Post).where(Post.slug == slug, Post.kind == PostKind.POST, public_clause())
    )


def vary_on_accept(response: Response) -> Response:
    """The negotiated pages' HTML differs from their JSON by the Accept header alone."""
    if request.endpoint in NEGOTIATED_ENDPOINTS:
        response.vary.add("Accept")
    return response


@bp.app_template_global()
@pass_context
def activity_json_link(context) -> str | None:
    """For the page's <head>: the address of its ActivityStreams document, if it has one."""
    endpoint = request.endpoint if has_request_context() else None
    if endpoint not in NEGOTIATED_ENDPOINTS or not enabled():
        return None
    if endpoint == "public.index":
        return documents.actor_id_for(None)
    if endpoint == "public.author":
        author = context.get("author")
        return author_url_if_actor(author)
    post = context.get("post")
    if post is not None and post.kind == PostKind.POST and post.is_public:
        return post_url(post)
    return None


def author_url_if_actor(author) -> str | None:
    if isinstance(author, User) and documents.has_actor(author):
        return documents.actor_id_for(author)
    return None
