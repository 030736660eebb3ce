"""Readers' comments under an article: the section the article page shows, and the form's POST.

Decisions:
- The form works without JavaScript and has no Flask-WTF CSRF token for anonymous readers:
  such a token lives in the session, which would make the article page personal and end its
  caching. The signed form token (blog.comment_guard) is filled in per reader on the way out;
  cross-site posts carry no session cookie (SameSite=Lax), and signed-in readers, whose pages
  are never cached, also send the usual CSRF token, which is checked.
- After a comment is taken, the reader is sent back to the article (303): to the comment when
  it is shown, or with `?held=…`, a signed, day-long reference that lets the page show the
  held comment to its writer as "awaiting moderation" (that address is never cached). Nothing
  goes into a cookie.
- A refusal answers the article page itself, with the message and the form filled in.
- The reply-email links (confirm, stop, start again) carry their own signed reference, so they
  need no session or CSRF token; they are never stored by the page cache. The stop link works
  with one GET (a person's click) and with one POST (RFC 8058, a mail client's button).
"""

from flask import abort, current_app, g, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Email, Length, Optional, ValidationError

from .. import comment_guard, comment_replies, comments
from ..extensions import csrf, db
from ..models import Comment, CommentStatus
from ..rendering import is_safe_url
from ..settings import site_settings_for_templates
from . import bp, queries

HELD_SALT = "held-comment"
# The reply-email pages: their address is the key, so neither kept nor passed on.
KEYED_PAGE_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
HELD_MAX_AGE = 24 * 60 * 60


class CommentForm(FlaskForm):
    class Meta:
        csrf = False  # see the module's docstring

    text = TextAreaField(
        "Your comment",
        validators=[Length(max=comments.MAX_LENGTH, message="Keep it under %(max)d characters.")],
    )
    name = StringField("Name", validators=[Length(max=100)])
    email = EmailField(
        "Email (never shown)",
        validators=[
            Optional(),
            Email("That does not look like an email address."),
            Length(max=254),
        ],  # fmt: skip
    )
    url = StringField("Website (optional)", validators=[Optional(), Length(max=300)])
    reply_to = IntegerField(validators=[Optional()])
    form_token = HiddenField()
    reply_emails = BooleanField("Email me when someone replies")
    website_confirm = StringField("Leave this empty")

    def validate_text(self, field):
        if not (field.data or "").strip():
            raise ValidationError("Write your comment first.")

    def validate_url(self, field):
        if field.data and not (is_safe_url(field.data) and field.data.startswith("http")):
            raise ValidationError("Use an address starting with http:// or https://.")

    def check_writer(self) -> bool:
        """Name and email are needed unless the reader is signed in."""
        if current_user.is_authenticated:
            return True
        ok = True
        if not (self.name.data or "").strip():
            self.name.errors.append("Say what name to show with your comment.")
            ok = False
        if not (self.email.data or "").strip():
            self.email.errors.append("Give your email (only moderators see it).")
            ok = False
        return ok


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=HELD_SALT)


def held_comment(post_id: int) -> Comment | None:
    """The writer's own held comment named by `?held=`, if the reference is good."""
    reference = request.args.get("held")
    if not reference:
        return None
    try:
        comment_id = _serializer().loads(reference, max_age=HELD_MAX_AGE)
    except BadSignature:
        return None
    comment = db.session.get(Comment, comment_id) if isinstance(comment_id, int) else None
    if comment is None or comment.post_id != post_id or comment.status == CommentStatus.APPROVED:
        return None
    return comment


def section(post, form: CommentForm | None = None, error: str | None = None):
    """What the article's comments section shows (a template global)."""
    if not comments.shown_on(post):
        return None
    form = form or CommentForm(formdata=None)
    form.form_token.data = comment_guard.PLACEHOLDER
    g.form_token_placeholder = True  # blog.comment_guard.mark_form_pages marks the response
    return {
        "threads": comments.threads(post),
        "closed": comments.closed_reason(post, vars(site_settings_for_templates())),
        "form": form,
        "error": error,
        "held": held_comment(post.id) if request.args.get("held") else None,
        "honeypot": comment_guard.HONEYPOT_FIELD,
        "reply_emails": comment_replies.offered(),
    }


@bp.post("/<slug>/comments")
@csrf.exempt  # checked below for signed-in readers; see the module's docstring
def add_comment(slug: str):
    post = queries.article(slug) or abort(404)
    if not comments.shown_on(post):
        abort(404)
    if current_user.is_authenticated:
        csrf.protect()  # a signed-in reader's page carries the usual token (never cached)
    form = CommentForm()
    valid = form.validate()
    if not form.check_writer() or not valid:
        return _refused(post, form, "Your comment was not sent: see the notes below.", 400)
    submission = comments.Submission(
        text=form.text.data.strip(), name=(form.name.data or "").strip(),
        email=(form.email.data or "").strip(), url=(form.url.data or "").strip(),
        reply_to_id=form.reply_to.data, token=form.form_token.data or "",
        honeypot=request.form.get(comment_guard.HONEYPOT_FIELD, ""),
        reply_emails=bool(form.reply_emails.data),
    )  # fmt: skip
    try:
        outcome = comments.submit(post, submission, user=current_user, address=_address())
        if outcome.comment.status == CommentStatus.PENDING:
            comments.tell_moderators(post, outcome.comment)
        db.session.commit()
    except comment_guard.Refused as refusal:
        db.session.rollback()
        current_app.logger.info("Comment on post %s refused (%s): %s", post.id, _address(),
                                refusal)  # fmt: skip
        return _refused(post, form, str(refusal), 429 if "several" in str(refusal) else 400)
    if outcome.shown:
        target = url_for("public.post", slug=post.slug, _anchor=f"comment-{outcome.comment.id}")
    else:
        held = _serializer().dumps(outcome.comment.id)
        target = url_for("public.post", slug=post.slug, held=held, _anchor="comment-held")
    return current_app.redirect(target, 303)


def _refused(post, form: CommentForm, message: str, status: int):
    page = render_template("public/post.html", post=post, comment_form=form,
                           comment_error=message)  # fmt: skip
    return page, status


# Reply emails ---------------------------------------------------------------------------------


@bp.get("/comments/replies/confirm/<token>")
def confirm_reply_emails(token: str):
    comment = comment_replies.comment_for(token, confirming=True)
    if comment is None:
        return _reply_link_refused(
            "This confirmation link is too old or was changed. Tick the box again with your "
            "next comment to get a new one."
        )
    comment_replies.confirm(comment)
    db.session.commit()
    current_app.logger.info("Comment %s: reply emails confirmed", comment.id)
    return _reply_emails_page(comment, "on")


@bp.route("/comments/replies/stop/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed link is the proof; a mail client's one-click POST has no session
def stop_reply_emails(token: str):
    comment = comment_replies.comment_for(token, confirming=False)
    if comment is None:
        return _reply_link_refused(
            "This link was changed or its comment is gone, so there is nothing left to stop."
        )
    everywhere = request.method == "POST" and request.form.get("everywhere") == "1"
    comment_replies.stop(comment, everywhere=everywhere)
    db.session.commit()
    current_app.logger.info(
        "Comment %s: reply emails stopped%s", comment.id, " for its address" if everywhere else ""
    )
    return _reply_emails_page(comment, "everywhere" if everywhere else "off", token=token)


@bp.post("/comments/replies/start/<token>")
@csrf.exempt  # as above
def restart_reply_emails(token: str):
    comment = comment_replies.comment_for(token, confirming=False)
    if comment is None:
        return _reply_link_refused("This link was changed or its comment is gone.")
    comment_replies.confirm(comment)
    db.session.commit()
    return _reply_emails_page(comment, "on")


def _reply_emails_page(comment: Comment, state: str, token: str | None = None):
    page = render_template(
        "public/reply_emails.html", comment=comment, post=comment.post, state=state,
        stop_token=token or comment_replies.stop_token(comment),
    )  # fmt: skip
    return page, 200, KEYED_PAGE_HEADERS


def _reply_link_refused(message: str):
    page = render_template("auth/link_refused.html", message=message, what="reply_emails")
    return page, 400, KEYED_PAGE_HEADERS


def _address() -> str:
    return (request.remote_addr or "")[:64]
