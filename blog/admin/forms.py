from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from ..auth.forms import new_password_validators
from ..models import Role

ROLE_CHOICES = [
    SelectChoice(Role.AUTHOR.value, "Author: writes and publishes their own posts"),
    SelectChoice(Role.EDITOR.value, "Editor: handles every post, categories and tags"),
    SelectChoice(Role.ADMIN.value, "Admin: everything, including users and settings"),
]


class NewUserForm(FlaskForm):
    display_name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.AUTHOR.value)
    password = PasswordField("Initial password", validators=new_password_validators())


class UserRoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that change state."""


class ProfileForm(FlaskForm):
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=120)])
    bio = TextAreaField("Bio", validators=[Length(max=2000)])


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=new_password_validators())
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")],
    )
