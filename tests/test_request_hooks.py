"""The app-wide request hooks are registered in one place, in the order blog.request_hooks lists."""

from blog import create_app, errors
from blog.federation import views as federation_views
from blog.request_hooks import AFTER_REQUEST, BEFORE_REQUEST


def _blog_hooks(hooks) -> list:
    """The app's own hooks among the extensions' (Flask-WTF's CSRF check, Flask-Login's cookie)."""
    return [hook for hook in hooks if hook.__module__.startswith("blog.")]


def _app(tmp_path, **config):
    return create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "test", **config})


def test_every_app_wide_hook_runs_in_the_listed_order(tmp_path):
    app = _app(tmp_path)
    before = app.before_request_funcs[None]
    # Even ahead of the CSRF check: the inbox's body limit, then the unreadable-input check.
    assert before[0] is federation_views.limit_inbox_body
    assert before[1] is errors.refuse_unreadable_input
    assert _blog_hooks(before) == list(BEFORE_REQUEST)
    # Flask runs after-request hooks from the last registered to the first.
    assert _blog_hooks(reversed(app.after_request_funcs[None])) == list(AFTER_REQUEST)


def test_without_the_page_cache_its_hooks_are_left_out(tmp_path):
    app = _app(tmp_path, PAGE_CACHE_BYTES=0)
    names = {
        hook.__name__ for hook in [*app.before_request_funcs[None], *app.after_request_funcs[None]]
    }
    assert not names & {"serve_from_cache", "keep_response"}
    assert "set_security_headers" in names and "refuse_unreadable_input" in names


def test_blueprints_keep_only_their_own_hooks(tmp_path):
    app = _app(tmp_path)
    own = {
        blueprint: [hook.__qualname__ for hook in hooks]
        for kind in (app.before_request_funcs, app.after_request_funcs)
        for blueprint, hooks in kind.items()
        if blueprint is not None
    }
    assert own == {
        "admin": ["require_login", "keep_scheduled_status_current"],
        "public": ["add_validators"],
        "federation": ["only_when_enabled"],
    }
