"""Creating and changing user accounts: one place for the rules the CLI, setup and admin share."""

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update

from .extensions import db
from .models import Role, User
from .slugs import unique_slug
from .user_sessions import end_sessions

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # scrypt on megabytes of input would be a cheap denial of service


class AccountError(ValueError):
    """A rule was broken; the message is meant for the person who asked."""


def normalize_email(email: str) -> str:
    """A syntactically valid address, lower-cased; no DNS look-up (the server may be offline)."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(f"That email address is not valid: {error}") from None
    return result.normalized.lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise AccountError(f"Unknown role {value!r}; choose one of {choices}.") from None


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def unique_user_slug(display_name: str, exclude_id: int | None = None) -> str:
    """A slug for the author page, numbered when another user already has it."""
    return unique_slug(User, display_name, exclude_id=exclude_id, max_length=100, fallback="author")


def create_user(email: str, display_name: str, role: Role | str, password: str) -> User:
    """Validate and add a user to the session (the caller commits)."""
    email = normalize_email(email)
    display_name = clean_display_name(display_name)
    role = parse_role(role) if isinstance(role, str) else role
    check_password_rules(password)
    if find_user(email) is not None:
        raise AccountError(f"A user with the email {email} already exists.")
    user = User(
        email=email, display_name=display_name, role=role, slug=unique_user_slug(display_name)
    )
    user.set_password(password)
    db.session.add(user)
    return user


def clean_display_name(display_name: str) -> str:
    display_name = " ".join(display_name.split())
    if not display_name:
        raise AccountError("A display name is required.")
    if len(display_name) > 120:
        raise AccountError("The display name must be at most 120 characters long.")
    return display_name


def count_active_admins() -> int:
    query = select(func.count(User.id)).where(User.role == Role.ADMIN, User.active.is_(True))
    return db.session.scalar(query) or 0


def _ensure_an_admin_remains(user: User) -> None:
    """Refuse to demote or deactivate the last active admin.

    The active admins' rows are locked first (an UPDATE that changes nothing: row locks on
    PostgreSQL, the write lock on SQLite), and the count is read after it, so two admins
    demoting each other at the same instant cannot both see the other still there.
    """
    table = User.__table__
    db.session.connection().execute(
        update(table)
        .where(table.c.role == Role.ADMIN, table.c.active.is_(True))
        .values(role=table.c.role)
    )
    db.session.refresh(user, attribute_names=["role", "active"])
    if user.role == Role.ADMIN and user.active and count_active_admins() <= 1:
        raise AccountError("This is the last active admin; make another admin first.")


def change_role(user: User, role: Role | str) -> None:
    role = parse_role(role) if isinstance(role, str) else role
    if role != Role.ADMIN:
        _ensure_an_admin_remains(user)
    user.role = role


def set_active(user: User, active: bool) -> None:
    """Deactivating also ends the user's sessions; their posts stay."""
    if not active:
        _ensure_an_admin_remains(user)
        end_sessions(user)
    user.active = active


def change_password(user: User, password: str, keep_token: str | None = None) -> None:
    """Set a new password and end every session but the one with `keep_token` (if given)."""
    check_password_rules(password)
    user.set_password(password)
    end_sessions(user, except_token=keep_token)
