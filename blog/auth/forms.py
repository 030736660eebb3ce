from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


def new_password_validators() -> list:
    """The same rules as blog.accounts, checked early so the form can say what is wrong."""
    message = (
        f"The password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long."
    )
    return [DataRequired(), Length(MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH, message=message)]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in on this device")


class SetupForm(FlaskForm):
    token = StringField("Setup token", validators=[DataRequired(), Length(max=200)])
    display_name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=new_password_validators())
    confirm = PasswordField(
        "Password again", validators=[DataRequired(), EqualTo("password", "The passwords differ.")]
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter the email address of your account."), Length(max=254)],
    )


class NewPasswordForm(FlaskForm):
    """Choosing a password from an emailed link (a reset, or accepting an invitation)."""

    password = PasswordField("New password", validators=new_password_validators())
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


class AcceptInvitationForm(NewPasswordForm):
    display_name = StringField(
        "Your name", validators=[DataRequired("Enter your name."), Length(max=120)]
    )
