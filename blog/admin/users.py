"""User management, for admins only.

Decisions:
- Role changes and (de)activation are last-writer-wins: each is a single-field command that
  overwrites nothing else. The last-admin rule counts under a lock (blog.accounts), so two
  admins demoting each other at the same instant cannot leave the site without one.
"""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts import AccountError, change_role, create_user, set_active
from ..extensions import db
from ..models import User
from ..permissions import admin_required
from ..user_sessions import current_token, end_sessions
from . import bp
from .forms import ActionForm, NewUserForm, UserRoleForm


def get_user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.route("/users/")
@admin_required
def users():
    everyone = db.session.scalars(select(User).order_by(User.display_name)).all()
    return render_template(
        "admin/users.html", users=everyone, role_form=UserRoleForm(), action_form=ActionForm()
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                form.email.data, form.display_name.data, form.role.data, form.password.data
            )
        except AccountError as error:
            flash(str(error), "error")
            return render_template("admin/user_new.html", form=form), 400
        db.session.commit()
        current_app.logger.info("%s added user %s (%s)", current_user.email, user.email, user.role)
        flash(f"{user.display_name} can now sign in as {user.email}.", "success")
        return redirect(url_for("admin.users"))
    status = 400 if form.is_submitted() else 200
    return render_template("admin/user_new.html", form=form), status


@bp.post("/users/<int:user_id>/role")
@admin_required
def set_user_role(user_id: int):
    user = get_user_or_404(user_id)
    form = UserRoleForm()
    if not form.validate_on_submit():
        abort(400)
    return _apply(
        user,
        lambda: change_role(user, form.role.data),
        f"{user.display_name} is now {form.role.data}.",
    )


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate_user(user_id: int):
    user = get_user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _apply(user, lambda: set_active(user, False), f"{user.display_name} is deactivated.")


@bp.post("/users/<int:user_id>/activate")
@admin_required
def activate_user(user_id: int):
    user = get_user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _apply(user, lambda: set_active(user, True), f"{user.display_name} is active again.")


@bp.post("/users/<int:user_id>/sessions/end")
@admin_required
def end_user_sessions(user_id: int):
    """Sign a user out everywhere (an admin's own current session stays)."""
    user = get_user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    keep = current_token() if user.id == current_user.id else None
    return _apply(
        user,
        lambda: end_sessions(user, except_token=keep),
        f"{user.display_name} is signed out everywhere" + (" but here." if keep else "."),
    )


def _apply(user: User, change, success_message: str):
    """Run an account change, commit it, and say what happened either way."""
    try:
        change()
    except AccountError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("admin.users")), 303
    db.session.commit()
    current_app.logger.info(
        "%s changed user %s: %s", current_user.email, user.email, success_message
    )
    flash(success_message, "success")
    return redirect(url_for("admin.users")), 303
