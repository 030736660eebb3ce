from flask import Blueprint

bp = Blueprint("public", __name__)

from . import feeds, listings, media, search, seo, views  # noqa: E402,F401  (registers the routes on bp)
