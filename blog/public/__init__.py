from flask import Blueprint

bp = Blueprint("public", __name__)

from . import media, views  # noqa: E402,F401  (registers the routes on bp)
