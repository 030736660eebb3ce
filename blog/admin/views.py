"""The admin dashboard and each user's own profile, with the sessions signed in to it."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from .. import email_change, mail, notifications
from ..accounts import AccountError, change_password, clean_display_name, unique_user_slug
from ..extensions import db
from ..models import Post, PostStatus
from ..uploads import UploadError
from ..user_sessions import active_sessions, current_token, end_session, end_sessions, is_current
from . import bp
from .forms import ActionForm, EmailChangeForm, NotificationsForm, PasswordForm, ProfileForm
from .media import store_one


def post_counts(author_id: int | None) -> dict[str, int]:
    """Posts per status, for everyone or for one author, in one grouped query."""
    query = select(Post.status, func.count(Post.id)).where(Post.deleted_at.is_(None))
    if author_id is not None:
        query = query.where(Post.author_id == author_id)
    counts = dict(db.session.execute(query.group_by(Post.status)).all())
    return {status.value: counts.get(status, 0) for status in PostStatus}


@bp.route("/")
def dashboard():
    scope = None if current_user.is_editor else current_user.id
    return render_template("admin/dashboard.html", counts=post_counts(scope))


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            name = clean_display_name(form.display_name.data)
        except AccountError as error:
            form.display_name.errors.append(str(error))
            return profile_page(form=form), 400
        try:
            change_avatar(form)
        except UploadError as error:
            form.photo.errors.append(str(error))
            return profile_page(form=form), 400
        if name != current_user.display_name:
            current_user.slug = unique_user_slug(name, exclude_id=current_user.id)
        current_user.display_name = name
        current_user.bio = form.bio.data.strip()
        db.session.commit()
        flash("Your profile is saved.", "success")
        return redirect(url_for("admin.profile"))
    return profile_page(form=form), 400 if form.is_submitted() else 200


def change_avatar(form: ProfileForm) -> None:
    """A new photo goes through the media pipeline (checked, re-encoded, in the library)."""
    upload = form.photo.data
    if upload and upload.filename:  # Flask-WTF's FileField keeps files only, never text
        current_user.avatar_media_id = store_one(upload).id
    elif form.remove_photo.data:
        current_user.avatar_media_id = None


def profile_page(
    form: ProfileForm | None = None,
    password_form: PasswordForm | None = None,
    email_form: EmailChangeForm | None = None,
):
    return render_template(
        "admin/profile.html",
        form=form or ProfileForm(obj=current_user),
        password_form=password_form or PasswordForm(),
        email_form=email_form or EmailChangeForm(),
        can_email=mail.is_configured(),
        notification_kinds=notifications.KINDS,
        notifications_form=NotificationsForm(),
        sessions=active_sessions(current_user),
        is_current=is_current,
    )


@bp.post("/profile/password")
def password():
    """Change one's own password; every other session of the account ends."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return profile_page(password_form=form), 400
    if not current_user.check_password(form.current_password.data):
        form.current_password.errors.append("That is not your current password.")
        return profile_page(password_form=form), 400
    try:
        change_password(current_user, form.new_password.data, keep_token=current_token())
    except AccountError as error:
        form.new_password.errors.append(str(error))
        return profile_page(password_form=form), 400
    db.session.commit()
    current_app.logger.info("User %s changed their password", current_user.email)
    flash("Your password is changed. Other devices have been signed out.", "success")
    return redirect(url_for("admin.profile"))


@bp.post("/profile/sessions/<int:session_id>/end")
def end_own_session(session_id: int):
    """Sign out one of your other browsers; someone else's session is not found (404)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if not end_session(current_user, session_id):
        abort(404)
    db.session.commit()
    current_app.logger.info("User %s ended their session %s", current_user.email, session_id)
    flash("That session has ended; the browser is signed out.", "success")
    return redirect(url_for("admin.profile")), 303


@bp.post("/profile/sessions/end-others")
def end_other_sessions():
    """Sign out every browser but this one."""
    if not ActionForm().validate_on_submit():
        abort(400)
    ended = end_sessions(current_user, except_token=current_token())
    db.session.commit()
    current_app.logger.info("User %s ended %s other sessions", current_user.email, ended)
    flash("Every other session has ended.", "success")
    return redirect(url_for("admin.profile")), 303


@bp.post("/profile/email")
def change_email():
    """Ask to change one's address: a link goes to the new one, a notice to the old one."""
    form = EmailChangeForm()
    if not mail.is_configured():
        flash("This site cannot send email, so a new address cannot be confirmed.", "error")
        return redirect(url_for("admin.profile")), 303
    if not form.validate_on_submit():
        return profile_page(email_form=form), 400
    if not current_user.check_password(form.password.data):
        current_app.logger.warning(
            "Wrong password from %s to change their email", current_user.email
        )
        form.password.errors.append("That is not your password.")
        return profile_page(email_form=form), 400
    try:
        new_email = email_change.request(current_user, form.new_email.data)
    except AccountError as error:
        form.new_email.errors.append(str(error))
        return profile_page(email_form=form), 400
    db.session.commit()
    current_app.logger.info(
        "User %s asked to change their email to %s", current_user.email, new_email
    )
    flash(
        f"We sent a link to {new_email}. Your address changes when you follow it; "
        f"until then it stays {current_user.email}.",
        "success",
    )
    return redirect(url_for("admin.profile")), 303


@bp.post("/profile/notifications")
def notification_settings():
    """Switch notification emails on or off, one checkbox per kind."""
    if not NotificationsForm().validate_on_submit():
        abort(400)
    notifications.set_wanted(current_user, request.form.getlist("kind"))
    db.session.commit()
    flash("Your notification choices are saved.", "success")
    return redirect(url_for("admin.profile", _anchor="notifications")), 303
