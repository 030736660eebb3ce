"""Two-factor authentication with time-based one-time codes (TOTP, RFC 6238) and recovery codes.

The secret lives in `User.totp_secret` from the start of enrolment; it only counts once the
user has confirmed a code from their app (`User.totp_enabled`). A code is accepted for the
current 30-second step or one step either side (phone clocks drift), and never twice: the
last step used is remembered, and codes of that step or an earlier one are refused.
Recovery codes are random, shown once, stored hashed like passwords, and each works once.
Callers commit.
"""

import base64
import hmac
import io
import re
import secrets
import time

import pyotp
from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import RecoveryCode, User, utcnow
from .settings import site_settings_for_templates

STEP_WINDOW = 1  # steps accepted either side of the current one
CODE_PATTERN = re.compile(r"\d{6}")
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no i, l, o, 0, 1: easy to copy by hand
RECOVERY_CODE_LENGTH = 10  # 31**10, about 50 bits each


# Secrets and QR codes --------------------------------------------------------------------------
def new_secret() -> str:
    return pyotp.random_base32()


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[start : start + 4] for start in range(0, len(secret), 4))


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    issuer = str(site_settings_for_templates().site_title or "Blog")
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_code_data_uri(text: str, scale: int = 5) -> tuple[str, int]:
    """An SVG QR code as a data: URI (pages allow img-src data:), and its width in pixels."""
    # heavy; only needed while setting up two-factor sign-in
    import segno

    code = segno.make(text, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=scale, xmldecl=False, light="#fff", dark="#000")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}", code.symbol_size(scale=scale)[0]


# Codes from the app ----------------------------------------------------------------------------
def clean_code(text: str | None) -> str:
    """What the person typed, without spaces or dashes (apps show "123 456")."""
    return re.sub(r"[\s-]", "", text or "")


def looks_like_app_code(text: str | None) -> bool:
    return CODE_PATTERN.fullmatch(clean_code(text)) is not None


def verify_app_code(user: User, text: str | None, now: float | None = None) -> bool:
    """Whether `text` is a valid, unused code from the user's app; marks its step used."""
    code = clean_code(text)
    if not user.totp_secret or not CODE_PATTERN.fullmatch(code):
        return False
    totp = pyotp.TOTP(user.totp_secret)
    current = int(time.time() if now is None else now) // totp.interval
    for step in range(current - STEP_WINDOW, current + STEP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return _claim_step(user, step)
    return False


def _claim_step(user: User, step: int) -> bool:
    """Record `step` as used unless it or a later one already was (no replayed codes).

    One conditional UPDATE, so two requests racing with the same code cannot both win.
    """
    claimed = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    return claimed.rowcount == 1


# Enrolment -------------------------------------------------------------------------------------
def start_enrolment(user: User) -> str:
    """The secret being set up: kept across reloads of the page until it is confirmed."""
    if user.totp_enabled:
        raise ValueError("two-factor authentication is already on")
    if not user.totp_secret:
        user.totp_secret = new_secret()
    return user.totp_secret


def confirm_enrolment(user: User, text: str | None) -> list[str] | None:
    """Turn two-factor on if `text` is a current code; the new recovery codes, or None."""
    if user.totp_enabled or not verify_app_code(user, text):
        return None
    user.totp_enabled = True
    return new_recovery_codes(user)


def disable(user: User) -> None:
    """Turn two-factor off and forget the secret and every recovery code."""
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


# Recovery codes --------------------------------------------------------------------------------
def _normalize_recovery_code(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def _random_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with fresh ones, returned for showing once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    codes = [_random_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        hashed = generate_password_hash(code, method=method)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=hashed))
    half = RECOVERY_CODE_LENGTH // 2
    return [f"{code[:half]}-{code[half:]}" for code in codes]


def use_recovery_code(user: User, text: str | None) -> bool:
    """Whether `text` is one of the user's unused recovery codes; if so it is used up."""
    code = _normalize_recovery_code(text)
    if len(code) != RECOVERY_CODE_LENGTH or set(code) - set(RECOVERY_ALPHABET):
        return False
    unused = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    for candidate in unused:
        if check_password_hash(candidate.code_hash, code):
            # Conditional, so the same code sent twice at once is accepted only once.
            used = db.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == candidate.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
                .execution_options(synchronize_session="fetch")
            )
            return used.rowcount == 1
    return False


def recovery_codes_left(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


# The admin requirement -------------------------------------------------------------------------
def must_enrol(user: User) -> bool:
    """An admin without two-factor on a site whose settings require it for admins."""
    return (
        user.is_admin
        and not user.totp_enabled
        and bool(site_settings_for_templates().require_admin_2fa)
    )
