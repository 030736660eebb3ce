"""User management, for admins only.

Decisions:
- Role changes and (de)activation are last-writer-wins: each is a single-field command that
  overwrites nothing else. The last-admin rule counts under a lock (blog.accounts), so two
  admins demoting each other at the same instant cannot leave the site without one.
"""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import invitations, mail
from ..accounts import AccountError, change_role, create_user, set_active
from ..extensions import db
from ..models import Invitation, User
from ..permissions import admin_required
from ..user_sessions import current_token, end_sessions
from . import bp
from .forms import ActionForm, InviteForm, NewUserForm, UserRoleForm


def get_user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.route("/users/")
@admin_required
def users():
    return users_page()


def users_page(invite_form: InviteForm | None = None, status: int = 200):
    everyone = db.session.scalars(select(User).order_by(User.display_name)).all()
    page = render_template(
        "admin/users.html",
        users=everyone,
        role_form=UserRoleForm(),
        action_form=ActionForm(),
        invite_form=invite_form or InviteForm(),
        invitations=invitations.pending(),
        can_email=mail.is_configured(),
    )
    return page, status


# Invitations ---------------------------------------------------------------------------------
@bp.post("/users/invite")
@admin_required
def invite_user():
    form = InviteForm()
    if not form.validate_on_submit():
        return users_page(form, 400)
    try:
        invitation, link = invitations.invite(form.email.data, form.role.data, current_user)
    except AccountError as error:
        form.email.errors.append(str(error))
        return users_page(form, 400)
    return _deliver(invitation, link, "invited")


def _deliver(invitation: Invitation, link: str, done: str):
    """Email the invitation's new link, or, with no email, show it once to copy."""
    if mail.is_configured():
        invitations.send(invitation, link, sender=current_user)
    db.session.commit()
    current_app.logger.info(
        "%s %s %s as %s", current_user.email, done, invitation.email, invitation.role
    )
    if not mail.is_configured():
        page = render_template("admin/invitation_link.html", invitation=invitation, link=link)
        return page, 200, {"Cache-Control": "no-store"}
    flash(f"Invitation sent to {invitation.email}; it expires in seven days.", "success")
    return redirect(url_for("admin.users")), 303


def get_invitation_or_404(invitation_id: int) -> Invitation:
    return db.session.get(Invitation, invitation_id) or abort(404)


@bp.post("/users/invitations/<int:invitation_id>/resend")
@admin_required
def resend_invitation(invitation_id: int):
    invitation = get_invitation_or_404(invitation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        link = invitations.renew(invitation)
    except AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("admin.users")), 303
    return _deliver(invitation, link, "re-invited")


@bp.post("/users/invitations/<int:invitation_id>/revoke")
@admin_required
def revoke_invitation(invitation_id: int):
    invitation = get_invitation_or_404(invitation_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        invitations.revoke(invitation)
    except AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("admin.users")), 303
    db.session.commit()
    current_app.logger.info("%s revoked the invitation of %s", current_user.email, invitation.email)
    flash(f"The invitation of {invitation.email} is revoked; its link no longer works.", "success")
    return redirect(url_for("admin.users")), 303


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
