"""What every request passes through: the app-wide hooks, registered here in the order they run.

The functions live with their topic; only their registration is here, so the whole path of a
request reads top to bottom in the two lists below. A blueprint's own hooks stay in its package
(the admin's sign-in requirement and its promotion of due posts, the reader pages' validators):
Flask runs them after the app's before-request hooks, and before its after-request hooks.

Decisions:
- `refuse_unreadable_input` goes ahead of everything (but the inbox's smaller body limit), even
  of Flask-WTF's CSRF check, which the extension registered earlier: that check parses the
  form, and then the raw body is gone.
  The extensions' own hooks keep their places: the CSRF check runs third, and Flask-Login's
  remember-me cookie is set after all of the app's after-request hooks.
- Flask runs after-request hooks in the reverse order of registration; `AFTER_REQUEST` is in the
  order they run and is registered reversed. The page cache's `keep_response` runs last of the
  app's, so it stores the headers exactly as they are sent (security headers included; never
  Set-Cookie); the redirect from an old address turns a 404 into a 301 just before it (a 301
  is never stored).
- The page cache's two hooks are left out when the cache is off (PAGE_CACHE_BYTES = 0).
- The old-address redirect of `/?p=12` looks at `/` only, so it runs for the whole app rather
  than as the public blueprint's hook; it still runs after every other before-request hook.
"""

from flask import Flask

from . import comment_guard, errors, first_run, http_caching, page_cache, security
from .auth import two_factor
from .federation import views as federation
from .public import old_addresses

BEFORE_REQUEST = (
    federation.limit_inbox_body,  # the inbox's own body limit, before anything reads the body
    errors.refuse_unreadable_input,  # 400 for NUL or malformed UTF-8, before anything reads it
    first_run.send_unclaimed_site_to_setup,  # until the first admin exists: the setup page
    two_factor.require_admin_two_factor,  # an admin who must enrol sees only the enrolment
    federation.answer_activity_json,  # ActivityStreams JSON for a client that asks: never cached
    page_cache.serve_from_cache,  # a stored page for an anonymous reader (or a 304)
    old_addresses.legacy_query_redirect,  # WordPress's `/?p=12`: 301 to the new address
)

AFTER_REQUEST = (  # in the order they run
    security.set_security_headers,  # CSP and its companions on every response
    http_caching.cache_static_files,  # a year for fingerprinted static files
    old_addresses.redirect_instead_of_not_found,  # a 404 for a moved address becomes a 301
    comment_guard.mark_form_pages,  # pages with a comment form get a fresh token per reader
    federation.vary_on_accept,  # pages that also answer JSON say so to caches
    page_cache.keep_response,  # last: store the page exactly as it is sent
)

_PAGE_CACHE_HOOKS = {page_cache.serve_from_cache, page_cache.keep_response}


def init_app(app: Flask) -> None:
    """Register the hooks above; call once, after the extensions and `page_cache.init_app`."""
    skipped = _PAGE_CACHE_HOOKS if page_cache.cache_for(app) is None else set()
    hooks = [hook for hook in BEFORE_REQUEST if hook not in skipped]
    registered = app.before_request_funcs.setdefault(None, [])
    # The two body checks go ahead of the extensions' hooks (CSRF), which come third.
    registered[:] = [*hooks[:2], *registered, *hooks[2:]]
    for hook in reversed(AFTER_REQUEST):
        if hook not in skipped:
            app.after_request(hook)
