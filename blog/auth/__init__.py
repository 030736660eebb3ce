from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import two_factor, views  # noqa: E402,F401  (registers the routes on bp)
