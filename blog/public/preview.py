"""The page a shared preview link opens: a draft or scheduled post, for anyone with the link.

See `blog.preview_links` for why it is safe to share and why no cache keeps it.
"""

from flask import abort, make_response, redirect, render_template, url_for

from .. import preview_links
from . import bp

# The address is the key: it must not leak to sites the post links to, nor be kept.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


@bp.get("/preview/<token>")
def shared_preview(token: str):
    link = preview_links.link_for_token(token)
    if link is None or link.post.deleted_at is not None:
        abort(404)
    post = link.post
    if post.is_public:
        return redirect(url_for("public.post", slug=post.slug))
    page = render_template("public/post.html", post=post, preview="link", link=link)
    response = make_response(page)
    response.headers.update(PRIVATE_HEADERS)
    return response
