"""Accepting an invitation: choose a name and a password, and the account exists, signed in.

A GET shows the form and changes nothing (mail scanners open links); the POST creates the
account with the role the admin chose, signs the person in, and tells the admins who asked to
hear of it (notification kind "invitation_accepted").
"""

from flask import current_app, flash, redirect, render_template, request, url_for

from .. import invitations, notifications
from ..accounts import AccountError
from ..extensions import db
from ..models import Role
from ..user_sessions import sign_in
from . import bp
from .forms import AcceptInvitationForm


@bp.route("/join/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    try:
        invitation = invitations.find(token)
    except invitations.InvitationRefused as error:
        current_app.logger.warning(
            "Invitation link refused from %s: %s", request.remote_addr, error
        )
        return render_template("auth/link_refused.html", message=str(error), what="invitation"), 400
    form = AcceptInvitationForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("auth/join.html", form=form, invitation=invitation), status
    try:
        user = invitations.accept(invitation, form.display_name.data, form.password.data)
    except AccountError as error:
        db.session.rollback()
        flash(str(error), "error")
        return render_template("auth/join.html", form=form, invitation=invitation), 400
    notifications.notify(
        [Role.ADMIN],
        f"{user.display_name} accepted an invitation to join",
        "invitation_accepted",
        kind="invitation_accepted",
        exclude=[user],
        person=user.display_name,
        email=user.email,
        role=user.role.value,
    )
    db.session.commit()
    current_app.logger.info(
        "Invitation %s accepted: user %s (%s) created", invitation.id, user.email, user.role
    )
    sign_in(user)
    flash(f"Welcome, {user.display_name}! Your account is ready.", "success")
    return redirect(url_for("admin.dashboard"))
