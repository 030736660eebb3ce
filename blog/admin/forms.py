from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from ..auth.forms import new_password_validators
from ..design.menus import MAX_ITEMS
from ..models import Role
from ..posts import MAX_SLUG

MENU_ROWS_MAX = MAX_ITEMS + 20  # a few blank rows to add items; more is refused unread

ROLE_CHOICES = [
    SelectChoice(Role.AUTHOR.value, "Author: writes and publishes their own posts"),
    SelectChoice(Role.EDITOR.value, "Editor: handles every post, categories and tags"),
    SelectChoice(Role.ADMIN.value, "Admin: everything, including users and settings"),
]


def _optional_int(value):
    """'' and None mean "none chosen"; anything else must be a whole number."""
    if value in ("", None):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("Not a valid choice.") from None


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
    photo = FileField("Photo")
    remove_photo = BooleanField("Remove the photo")


class EmailChangeForm(FlaskForm):
    new_email = EmailField(
        "New email address",
        validators=[DataRequired("Enter the new address."), Length(max=254)],
    )
    password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password."), Length(max=200)]
    )


class NotificationsForm(FlaskForm):
    """One checkbox per kind in blog.notifications.KINDS, named `kind`; read with getlist."""


class InviteForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired("Enter the address to invite."), Length(max=254)]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.AUTHOR.value)


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=new_password_validators())
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")],
    )


class PostForm(FlaskForm):
    """The editor. Choices for category are filled per request from the database."""

    title = StringField("Title", validators=[DataRequired("A title is needed."), Length(max=300)])
    slug = StringField("Address (slug)", validators=[Length(max=MAX_SLUG)])
    body = TextAreaField("Text", validators=[Length(max=1_000_000)])
    excerpt = TextAreaField("Excerpt", validators=[Length(max=2000)])
    kind = SelectField(
        "Type",
        choices=[SelectChoice("post", "Post"), SelectChoice("page", "Page (no date, own address)")],
        default="post",
    )
    category_id = SelectField("Category", coerce=_optional_int, validate_choice=False)
    # Further categories, checked against the database by the service (blog.posts).
    secondary_category_ids = SelectMultipleField("Also in", coerce=int, validate_choice=False)
    tags = StringField("Tags", validators=[Length(max=2000)])
    featured_media_id = HiddenField(filters=[_optional_int])
    featured_alt = StringField("Alt text", validators=[Length(max=500)])
    featured_caption = StringField("Caption", validators=[Length(max=500)])
    pinned = BooleanField("Pin to the top of the home page")
    comments_mode = SelectField(
        "Comments",
        choices=[
            SelectChoice("default", "As Settings say (a page: none)"),
            SelectChoice("open", "Open (a page too)"),
            SelectChoice("closed", "Closed: the approved ones stay, no new ones"),
            SelectChoice("hidden", "Hidden: none shown, none taken"),
        ],
        default="default",
    )
    newsletter = SelectField(
        "Email to subscribers",
        choices=[
            SelectChoice("full", "Yes, the whole post"),
            SelectChoice("excerpt", "Yes, the excerpt and a link"),
            SelectChoice("off", "No"),
        ],
        default="full",
    )
    meta_title = StringField("Search headline", validators=[Length(max=300)])
    meta_description = TextAreaField("Search description", validators=[Length(max=500)])
    social_media_id = HiddenField(filters=[_optional_int])
    canonical_url = StringField("Canonical address", validators=[Length(max=2000)])
    publish_at = DateTimeLocalField(
        "Publish at", format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], validators=[Optional()]
    )
    version = HiddenField()  # read by the view: a missing or unreadable one is refused there


class BulkPostsForm(FlaskForm):
    action = SelectField(
        "With the selected posts",
        choices=[
            SelectChoice("publish", "Publish"),
            SelectChoice("unpublish", "Unpublish (back to draft)"),
            SelectChoice("trash", "Move to trash"),
        ],
    )


class SettingsForm(FlaskForm):
    site_title = StringField("Site title", validators=[DataRequired(), Length(max=120)])
    tagline = StringField("Tagline", validators=[Length(max=200)])
    banner_media_id = SelectField(
        "Banner image", coerce=_optional_int, validate_choice=False, choices=[]
    )
    banner_link = StringField("Banner link", validators=[Length(max=500)])
    banner_alt = StringField("Banner alt text", validators=[Length(max=300)])
    posts_per_page = IntegerField(
        "Posts per page", validators=[DataRequired(), NumberRange(1, 50, "Choose 1 to 50.")]
    )
    footer_text = StringField("Footer text", validators=[Length(max=300)])
    feed_full_text = BooleanField("Feeds carry the full text (otherwise the excerpt)")
    require_admin_2fa = BooleanField("Admins must use two-factor authentication")
    timezone = SelectField("Time zone", validate_choice=True, choices=[])
    comment_moderation = SelectField(
        "Comments",
        choices=[
            SelectChoice("first_time", "Held until the writer has one approved comment"),
            SelectChoice("all", "Every comment held for approval"),
            SelectChoice("open", "Shown at once (spam checks still apply)"),
            SelectChoice("closed", "Closed everywhere"),
        ],
    )
    comments_close_days = IntegerField(
        "Close comments after (days)",
        validators=[InputRequired(), NumberRange(0, 3650, "Choose 0 (never) to 3650.")],
    )
    comment_max_links = IntegerField(
        "Hold comments with more links than",
        validators=[InputRequired(), NumberRange(0, 50, "Choose 0 to 50.")],
    )
    comment_blocklist = TextAreaField(
        "Comment blocklist",
        validators=[Length(max=20_000, message="Keep it under 20,000 characters.")],
    )


class DesignForm(FlaskForm):
    """Settings → Design. Uploads are checked by the media pipeline, colours by blog.design."""

    logo = FileField("Logo")
    remove_logo = BooleanField("Remove the logo (show the site title instead)")
    logo_dark = FileField("Logo for dark mode")
    remove_logo_dark = BooleanField("Remove the dark-mode logo")
    icon = FileField("Site icon")
    remove_icon = BooleanField("Remove the site icon")
    accent_light = StringField("Accent colour, light theme", validators=[Length(max=7)])
    accent_dark = StringField("Accent colour, dark theme", validators=[Length(max=7)])
    heading_typeface = SelectField("Headings", validate_choice=True, choices=[])
    body_typeface = SelectField("Text of posts and pages", validate_choice=True, choices=[])


class MenuRowForm(Form):
    """One row of a menu editor (a subform: the page's form carries the CSRF token)."""

    label = StringField("Label")
    url = StringField("Address")
    position = IntegerField("Position", validators=[Optional()])
    sub = BooleanField("Sub-item")


class MenusForm(FlaskForm):
    header = FieldList(FormField(MenuRowForm), max_entries=MENU_ROWS_MAX)
    footer = FieldList(FormField(MenuRowForm), max_entries=MENU_ROWS_MAX)
