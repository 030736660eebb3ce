"""The reader's search page: GET /search?q=...&page=N."""

from flask import abort, render_template, request

from ..pagination import page_number
from ..search import search as run_search
from . import bp


@bp.route("/search")
def search():
    """Public posts matching the query, best first; no query shows just the form."""
    results = run_search(request.args.get("q", ""), page_number())
    if results.is_past_the_end:
        abort(404)
    return render_template("public/search.html", results=results)
