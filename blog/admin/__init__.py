from flask import Blueprint
from flask_login import login_required

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_login():
    """Every admin page needs a signed-in user; finer roles are checked per view."""


from . import importer, media, posts, site_settings, taxonomy, users, views  # noqa: E402,F401  (registers the routes on bp)
