"""Outgoing email through any SMTP server: composed once, recorded, then sent by a job.

    mail.send("ann@example.org", "Reset your password", "password_reset",
              purpose="password_reset", user=ann, link=link)   # the caller commits

Settings (instance/config.py or BLOG_MAIL_* in the environment): MAIL_HOST (empty: the site
sends no email), MAIL_PORT (default from the security: 25, 587 or 465), MAIL_SECURITY
(`none`, `starttls` or `ssl`), MAIL_USERNAME, MAIL_PASSWORD, MAIL_FROM, MAIL_TIMEOUT, and
MAIL_CA_FILE for a server whose certificate a private authority signed.

Decisions:
- One template per email, plain text (`templates/email/NAME.txt`). The HTML part is made from
  that text (paragraphs, links) inside one layout, so the two parts always say the same thing
  and the text part reads well on its own.
- The message is written in full to `outgoing_email` in the caller's transaction, with its
  Message-ID, and a job sends it. Before handing it to the SMTP server the job marks it
  `sending`; once the server accepts it, `sent`. A job run again after that (a crash, a second
  worker) sends nothing. A crash between the server's acceptance and that mark is the one
  case that sends again, with the same Message-ID, which mail servers use to drop duplicates.
- Answers in the 400s, refused connections and timeouts are temporary (retried with backoff);
  answers in the 500s, a refused certificate and a missing STARTTLS are permanent.
- Flask-Mailman composes and talks SMTP. Its STARTTLS does not check the server's
  certificate, so the connection is opened here with a verifying TLS context.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.utils import formataddr, make_msgid
from urllib.parse import urlsplit

from flask import Flask, current_app, render_template
from flask_mailman import EmailMultiAlternatives, Mail
from flask_mailman.backends.smtp import EmailBackend
from markupsafe import Markup, escape

from . import jobs
from .extensions import db
from .models import EmailStatus, OutgoingEmail, utcnow

log = logging.getLogger(__name__)

SECURITY_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SETTINGS_HELP = "Set MAIL_HOST (and MAIL_FROM) in instance/config.py; see README, Email."


class MailConfigError(ValueError):
    pass


def init_app(app: Flask) -> None:
    """Check the mail settings and hand them to Flask-Mailman under its own names."""
    config = app.config
    security = str(config.get("MAIL_SECURITY") or "starttls").lower()
    if security not in SECURITY_PORTS:
        raise MailConfigError(
            f"MAIL_SECURITY must be one of none, starttls, ssl; not {config['MAIL_SECURITY']!r}"
        )
    config["MAIL_SECURITY"] = security
    config["MAIL_PORT"] = int(config.get("MAIL_PORT") or SECURITY_PORTS[security])
    config.update(
        MAIL_BACKEND="smtp",
        MAIL_SERVER=config.get("MAIL_HOST") or "",
        MAIL_USE_TLS=security == "starttls",
        MAIL_USE_SSL=security == "ssl",
        MAIL_DEFAULT_SENDER=sender_address(app),
    )
    Mail(app)


def is_configured(app: Flask | None = None) -> bool:
    return bool((app or current_app).config.get("MAIL_HOST"))


def sender_address(app: Flask | None = None) -> str:
    """MAIL_FROM, or no-reply at the site's own host name."""
    app = app or current_app
    host = urlsplit(app.config["SITE_URL"]).hostname or "localhost"
    return app.config.get("MAIL_FROM") or f"no-reply@{host}"


def describe() -> dict[str, object]:
    """What Settings shows: is email configured, and how did the last attempts go."""
    config = current_app.config
    last_sent = db.session.scalar(
        db.select(OutgoingEmail.sent_at)
        .where(OutgoingEmail.status == EmailStatus.SENT)
        .order_by(OutgoingEmail.sent_at.desc())
        .limit(1)
    )
    last_failure = db.session.scalars(
        db.select(OutgoingEmail)
        .where(OutgoingEmail.last_error != "")
        .order_by(OutgoingEmail.id.desc())
        .limit(1)
    ).first()
    return {
        "configured": is_configured(),
        "server": f"{config.get('MAIL_HOST')}:{config['MAIL_PORT']}",
        "security": config["MAIL_SECURITY"],
        "sender": sender_address(),
        "username": config.get("MAIL_USERNAME") or "",
        "last_sent": last_sent,
        "last_failure": last_failure,
    }


# Composing -------------------------------------------------------------------------------------


def send(
    to_address: str,
    subject: str,
    template: str,
    *,
    purpose: str,
    user=None,
    auto_submitted: bool = True,
    created_by=None,
    headers: dict[str, str] | None = None,
    **context,
) -> OutgoingEmail:
    """Write the email and the job that sends it into the session; the caller commits.

    Raises MailConfigError when the site has no MAIL_HOST: callers say so to the person
    instead (pages check `is_configured()` first).
    """
    text, html = render_bodies(template, subject, **context)
    return queue_message(
        to_address, subject, text, html, purpose=purpose, user=user,
        auto_submitted=auto_submitted, created_by=created_by, headers=headers,
    )  # fmt: skip


def queue_message(
    to_address: str,
    subject: str,
    text: str,
    html: str,
    *,
    purpose: str,
    user=None,
    auto_submitted: bool = True,
    created_by=None,
    headers: dict[str, str] | None = None,
) -> OutgoingEmail:
    """`send` for an email whose two parts are already made (the caller commits)."""
    if not is_configured():
        raise MailConfigError("This site cannot send email yet. " + SETTINGS_HELP)
    email = OutgoingEmail(
        message_id=make_msgid(domain=message_id_domain()),
        to_address=to_address,
        subject=subject,
        text_body=text,
        html_body=html,
        purpose=purpose,
        auto_submitted=auto_submitted,
        user_id=getattr(user, "id", None),
        headers=dict(headers or {}),
    )
    db.session.add(email)
    db.session.flush()  # the job names the email by id
    jobs.enqueue(
        "email",
        {"email_id": email.id},
        label=f"Email to {to_address}: {subject}",
        created_by=created_by,
    )
    return email


def render_bodies(template: str, subject: str, **context) -> tuple[str, str]:
    """The plain-text part from the template, and the HTML part made from that text."""
    context.setdefault("site_url", current_app.config["SITE_URL"])
    text = render_template(f"email/{template}.txt", **context).strip() + "\n"
    html = render_template("email/layout.html", subject=subject, body=text_to_html(text), **context)
    return text, html


ACTION_LINK = (
    '<p><a href="{0}" style="display:inline-block;padding:10px 18px;background:#1a56a8;'
    'color:#ffffff;border-radius:4px;text-decoration:none;word-break:break-all;">{0}</a></p>'
)
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def text_to_html(text: str) -> Markup:
    """Paragraphs from blank lines, line breaks kept, every address a link; all else escaped.

    A paragraph that is nothing but an address becomes a button, the link the email is for.
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        block = block.strip()
        if _URL.fullmatch(block):
            paragraphs.append(Markup(ACTION_LINK).format(block))
            continue
        lines = [_linkify(line) for line in block.splitlines()]
        paragraphs.append(Markup("<p>{}</p>").format(Markup("<br>\n").join(lines)))
    return Markup("\n").join(paragraphs)


def _linkify(line: str) -> Markup:
    parts, last = [], 0
    for match in _URL.finditer(line):
        parts.append(escape(line[last : match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(match.group()))
        last = match.end()
    parts.append(escape(line[last:]))
    return Markup("").join(parts)


def message_id_domain() -> str:
    return urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"


# Sending ---------------------------------------------------------------------------------------


@jobs.handler("email", max_attempts=8)
def deliver(payload: dict) -> None:
    """The job: send one recorded email, unless the server already accepted it."""
    email = db.session.get(OutgoingEmail, payload["email_id"])
    if email is None:
        raise jobs.PermanentFailure("The email was deleted before it was sent.")
    if email.status == EmailStatus.SENT:
        log.info("Email %s was already sent; nothing to do", email.message_id)
        return
    if not is_configured():
        raise jobs.TemporaryFailure("Email is not configured (MAIL_HOST is empty).")
    if email.status == EmailStatus.SENDING:
        log.warning("Email %s: an earlier attempt stopped mid-send; sending again", email.id)
    email.status = EmailStatus.SENDING
    email.attempts += 1
    db.session.commit()
    try:
        _send_over_smtp(email)
    except (smtplib.SMTPException, OSError) as error:
        temporary, reason = classify(error)
        email.status = EmailStatus.QUEUED if temporary else EmailStatus.FAILED
        email.last_error = reason[:2000]
        db.session.commit()
        log.warning("Email %s to %s not sent: %s", email.id, email.to_address, reason)
        raise (jobs.TemporaryFailure if temporary else jobs.PermanentFailure)(reason) from error
    email.status = EmailStatus.SENT
    email.sent_at = utcnow()
    email.last_error = ""
    db.session.commit()
    log.info("Email %s (%s) sent to %s", email.id, email.purpose, email.to_address)


def _send_over_smtp(email: OutgoingEmail) -> None:
    from .settings import get_setting

    headers = {**(email.headers or {}), "Message-ID": email.message_id}
    if email.auto_submitted:
        headers["Auto-Submitted"] = "auto-generated"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=formataddr((str(get_setting("site_title")), sender_address())),
        to=[email.to_address],
        headers=headers,
    )
    message.attach_alternative(email.html_body, "text/html")
    backend = VerifiedSMTPBackend(fail_silently=False)
    try:
        backend.open()
        backend.send_messages([message])
    finally:
        close_quietly(backend)


def close_quietly(backend: EmailBackend) -> None:
    """End the SMTP session, whatever state a failure left it in; never hide that failure."""
    connection = backend.connection
    try:
        backend.close()
    except (smtplib.SMTPException, OSError):
        if connection is not None:
            connection.close()


def classify(error: Exception) -> tuple[bool, str]:
    """Is this failure worth retrying, and what to tell the admin."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = list(error.recipients.values())
        temporary = all(400 <= code < 500 for code, _ in answers)
        return temporary, "Recipient refused: " + "; ".join(
            f"{code} {_text(reply)}" for code, reply in answers
        )
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return 400 <= code < 500 or code == -1, f"The SMTP server answered {code} " + _text(
            error.smtp_error
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return False, f"The SMTP server does not support this: {error}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return False, f"The SMTP server's certificate was refused: {error.verify_message}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True, f"The SMTP server closed the connection: {error}"
    return True, f"Could not reach the SMTP server: {error}"


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _verifying_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=current_app.config.get("MAIL_CA_FILE") or None)


class VerifiedSMTPBackend(EmailBackend):
    """Flask-Mailman's SMTP backend, opening STARTTLS and SSL connections that check the
    server's certificate against the system's authorities (or MAIL_CA_FILE)."""

    def open(self) -> bool:
        if self.connection:
            return False
        options = {"timeout": float(current_app.config["MAIL_TIMEOUT"])}
        if self.use_ssl:
            options["context"] = _verifying_context()
        self.connection = self.connection_class(self.host, self.port, **options)
        if self.use_tls:
            self.connection.starttls(context=_verifying_context())
        if self.username and self.password:
            self.connection.login(self.username, self.password)
        return True


def send_test_message(user) -> OutgoingEmail:
    """The Settings button: a short email to the admin who pressed it."""
    return send(
        user.email,
        "Test message from your blog",
        "test_message",
        purpose="test",
        user=user,
        created_by=user,
        name=user.display_name,
    )
