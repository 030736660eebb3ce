"""The newsletter's reader pages: subscribe, confirm, unsubscribe (one click), change address.

Decisions:
- The subscribe form sits on cached pages (article ends, the footer), so it carries no
  session CSRF token: a forged subscription can only send a confirmation email, which nobody
  has to follow (double opt-in), and the form is rate limited per client address and email,
  with a honeypot field. The answer is the same whether or not the address was subscribed.
- The links' pages are keyed by their address: never stored by the page cache or browsers,
  and no referrer leaves them. Unsubscribing takes one GET (a person's click) or one POST
  (RFC 8058, a mail client's button), and the page offers to subscribe again.
"""

from datetime import timedelta

from flask import current_app, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import Email, InputRequired, Length

from .. import rate_limits
from ..extensions import csrf, db
from ..models import SubscriberStatus
from ..newsletter import sending, subscribers
from ..newsletter.subscribers import SubscribeError
from ..settings import get_setting
from . import bp

KEYED_PAGE_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
HONEYPOT_FIELD = "nickname_confirm"
RATE_WINDOW = timedelta(hours=1)


class SubscribeForm(FlaskForm):
    class Meta:
        csrf = False  # see the module's docstring

    email = EmailField(
        "Email",
        validators=[
            InputRequired("Give the address the posts should go to."),
            Email("That does not look like an email address."),
            Length(max=254),
        ],  # fmt: skip
    )
    name = StringField("Name (optional)", validators=[Length(max=100)])


class ChangeAddressForm(FlaskForm):
    class Meta:
        csrf = False  # the signed link in the address is the proof

    email = EmailField(
        "New address",
        validators=[InputRequired(), Email("That does not look like an email address."),
                    Length(max=254)],
    )  # fmt: skip


@bp.route("/subscribe", methods=["GET", "POST"])
@csrf.exempt  # checked below for signed-in readers; see the module's docstring
def subscribe():
    if request.method == "POST" and current_user.is_authenticated:
        csrf.protect()  # a signed-in reader's page carries the usual token (never cached)
    form = SubscribeForm()
    if not sending.offered():
        return _page("unavailable", status=503)
    if request.method == "GET" or not form.validate():
        return _form_page(form, 400 if request.method == "POST" else 200)
    if request.form.get(HONEYPOT_FIELD):
        current_app.logger.info("Subscription refused: the hidden field was filled")
        return _form_page(form, 400, "A field meant to stay empty was filled in (some browsers "
                          "fill forms by themselves). Empty it and send again.")  # fmt: skip
    email = subscribers.normalise(form.email.data)
    if _rate_limited(email):
        return _form_page(form, 429, "Several subscriptions were asked for from here within the "
                          "hour. Your address is below: try again in an hour.")  # fmt: skip
    try:
        # The consent record names the form, not the client address: the privacy note promises
        # that only the email and name are kept; the confirmation click is the proof.
        subscribers.subscribe(email, form.name.data or "",
                              consent=f"subscribe form at {request.url_root}")  # fmt: skip
    except SubscribeError as error:
        db.session.rollback()
        return _form_page(form, 503, str(error))
    db.session.commit()
    return _page("check_email", email=email)


@bp.get("/subscribe/confirm/<token>")
def confirm_subscription(token: str):
    subscriber = subscribers.subscriber_for(token, confirming=True)
    if subscriber is None:
        return _refused("This confirmation link is too old or was changed. Subscribe again "
                        "to get a new one.")  # fmt: skip
    subscribers.confirm(subscriber)
    db.session.commit()
    current_app.logger.info("Subscriber %s confirmed", subscriber.id)
    return _page("subscribed", subscriber=subscriber, token=subscribers.link_token(subscriber))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed link is the proof; a mail client's one-click POST has no session
def unsubscribe(token: str):
    """POST unsubscribes (a mail client's one-click button, or this page's). GET only asks:
    mail filters fetch links by themselves (RFC 8058 section 1), and must not unsubscribe."""
    subscriber = subscribers.subscriber_for(token)
    if subscriber is None:
        return _refused("This link was changed, or its subscription is gone: there is nothing "
                        "left to stop.")  # fmt: skip
    if request.method == "GET" and subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        return _page("confirm_unsubscribe", subscriber=subscriber, token=token)
    if subscribers.unsubscribe(subscriber):
        current_app.logger.info("Subscriber %s unsubscribed (%s)", subscriber.id, request.method)
    db.session.commit()
    return _page("unsubscribed", subscriber=subscriber, token=token)


@bp.post("/unsubscribe/<token>/undo")
@csrf.exempt  # as above
def resubscribe(token: str):
    subscriber = subscribers.subscriber_for(token)
    if subscriber is None:
        return _refused("This link was changed, or its subscription is gone.")
    subscribers.resubscribe(subscriber)
    db.session.commit()
    return _page("subscribed", subscriber=subscriber, token=token)


@bp.post("/newsletter/<token>/address")
@csrf.exempt  # as above
def change_address(token: str):
    subscriber = subscribers.subscriber_for(token)
    if subscriber is None:
        return _refused("This link was changed, or its subscription is gone.")
    form = ChangeAddressForm()
    if not form.validate():
        return _page("subscribed", subscriber=subscriber, token=token, form=form, status=400)
    if _rate_limited(subscribers.normalise(form.email.data)):
        form.email.errors = ["Several changes were asked for within the hour: try again later."]
        return _page("subscribed", subscriber=subscriber, token=token, form=form, status=429)
    subscribers.ask_to_change_address(subscriber, form.email.data.strip())
    db.session.commit()
    return _page("check_email", email=form.email.data.strip(), changing=True)


@bp.get("/newsletter/address/<token>")
def confirm_new_address(token: str):
    found = subscribers.change_for(token)
    if found is None:
        return _refused("This link is too old or was changed. Ask for the change again from "
                        "a newsletter email's link.")  # fmt: skip
    subscriber, new_email = found
    try:
        subscribers.change_address(subscriber, new_email)
    except SubscribeError as error:
        db.session.rollback()
        return _refused(str(error))
    db.session.commit()
    return _page("address_changed", subscriber=subscriber,
                 token=subscribers.link_token(subscriber))  # fmt: skip


def _rate_limited(email: str) -> bool:
    """Counts this request against the limits (per client address and per email) unless
    they are reached; each request here may send an email to `email`."""
    keys = {"address": request.remote_addr or "", "email": email}
    config = current_app.config
    limits = {"address": int(config["NEWSLETTER_RATE_PER_ADDRESS"]),
              "email": int(config["NEWSLETTER_RATE_PER_EMAIL"])}  # fmt: skip
    if rate_limits.exceeded("subscribe", keys, limits, RATE_WINDOW):
        return True
    rate_limits.record("subscribe", keys)
    return False


def _form_page(form: SubscribeForm, status: int, error: str | None = None):
    return _page("form", form=form, error=error, status=status)


def _page(state: str, status: int = 200, **context):
    page = render_template(
        "public/newsletter.html", state=state, honeypot=HONEYPOT_FIELD,
        privacy_note=get_setting("newsletter_privacy_note"), subscribe_page=True, **context,
    )  # fmt: skip
    return page, status, KEYED_PAGE_HEADERS


def _refused(message: str):
    page = render_template("auth/link_refused.html", message=message, what="newsletter")
    return page, 400, KEYED_PAGE_HEADERS
