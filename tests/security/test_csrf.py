"""CSRF: every state-changing route refuses a signed-in admin's request that carries no token.

The routes are read from `app.url_map`, so a route added later is checked without anyone
remembering to list it here.
"""

import pytest

from tests.conftest import csrf_token_from
from tests.security._support import (
    COUNTS,
    build_world,
    changed_tables,
    sign_in_with_form,
    snapshot,
)

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_MESSAGE = "did not come from this site"

# What a real form would send: enough for most views to change something if the token check
# were missing (ids are filled in per request).
FORM_DATA = {
    "title": "Forged",
    "body": "Forged text",
    "action": "publish",
    "name": "Forged name",
    "description": "Forged",
    "slug": "forged",
    "display_name": "Forged Name",
    "bio": "Forged bio",
    "email": "forged@example.com",
    "password": "a forged password",
    "new_password": "a forged password",
    "current_password": "a forged password",
    "confirm": "a forged password",
    "role": "admin",
    "alt_text": "Forged alt",
    "site_title": "Forged site",
    "posts_per_page": "5",
    "timezone": "UTC",
    "comment_moderation": "first_time",
    "comments_close_days": "60",
    "comment_max_links": "2",
    "kind": "post",
}


# Routes other servers call, which no session's cookie can speak for: an HTTP Signature is the
# proof (tests/test_federation_signatures.py); without one they refuse and change nothing.
SIGNED_REQUEST_ENDPOINTS = frozenset({"federation.inbox"})

# Routes whose signed link is the proof instead of a session's token (an email's one-click stop
# must work from a mail client, with no session): a forged link is refused all the same.
SIGNED_LINK_ENDPOINTS = frozenset(
    {
        "public.stop_reply_emails",
        "public.restart_reply_emails",
        "public.unsubscribe",
        "public.resubscribe",
        "public.change_address",
    }
)


@pytest.fixture
def csrf_app(make_app, users):
    return make_app(WTF_CSRF_ENABLED=True)


def state_changing_rules(app) -> list[tuple]:
    """(rule, method) for every rule that accepts a state-changing method."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            found.append((rule, method))
    return sorted(found, key=lambda item: (item[0].rule, item[1]))


def url_for_rule(rule, values: dict) -> str:
    """Build the rule's path with the world's ids; an unknown variable fails the test loudly."""
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.rule}: add a value for {sorted(unknown)} to World.url_values()"
    built = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)
    assert built is not None, f"could not build {rule.rule}"
    return built[1]


def forged_form(world) -> dict:
    return {
        **FORM_DATA,
        "post_id": str(world.post_id),
        "target": str(world.other_tag_id),
        "category_id": str(world.category_id),
    }


def test_every_state_changing_route_refuses_a_request_without_token(csrf_app, users, caplog):
    client = csrf_app.test_client()
    sign_in_with_form(client, users["admin"]["email"])
    world = build_world(csrf_app, users["author"]["id"])
    routes = state_changing_rules(csrf_app)
    failures = []
    for rule, method in routes:
        path = url_for_rule(rule, world.url_values())
        for body in ({"data": forged_form(world)}, {"json": forged_form(world)}):
            before = snapshot(csrf_app)
            response = client.open(path, method=method, **body)
            after = snapshot(csrf_app)
            kind = "form" if "data" in body else "json"
            if rule.endpoint in SIGNED_REQUEST_ENDPOINTS:
                if response.status_code < 400:
                    failures.append(f"{method} {path} ({kind}): {response.status_code}")
            elif rule.endpoint in SIGNED_LINK_ENDPOINTS:
                if response.status_code != 400 or "This link" not in response.text:
                    failures.append(f"{method} {path} ({kind}): {response.status_code}")
            elif response.status_code != 400 or CSRF_MESSAGE not in response.text:
                failures.append(f"{method} {path} ({kind}): {response.status_code}")
            if changed_tables(before, after):
                failures.append(f"{method} {path} ({kind}) changed {changed_tables(before, after)}")
    # Still signed in: even the forged sign-out did nothing.
    assert client.get("/admin/").status_code == 200
    assert failures == []
    unchecked = SIGNED_LINK_ENDPOINTS | SIGNED_REQUEST_ENDPOINTS
    checked = [rule for rule, _ in routes if rule.endpoint not in unchecked]
    assert sum("CSRF check failed" in record.getMessage() for record in caplog.records) == 2 * len(
        checked
    )
    COUNTS["CSRF: state-changing routes checked"] = len(routes)
    print(f"CSRF: {len(routes)} state-changing routes checked")
    assert len(routes) >= 30  # the app had 30 when this was written; fewer means a blind spot


def test_enumeration_covers_every_blueprint(csrf_app):
    endpoints = {rule.endpoint for rule, _ in state_changing_rules(csrf_app)}
    assert {"auth.login", "auth.logout", "auth.setup_site"} <= endpoints
    assert {"admin.delete_media", "admin.set_user_role", "admin.site_settings"} <= endpoints


def test_a_wrong_or_foreign_token_is_refused_and_a_right_one_accepted(csrf_app, users):
    admin = csrf_app.test_client()
    sign_in_with_form(admin, users["admin"]["email"])
    stranger = csrf_app.test_client()
    foreign_token = csrf_token_from(stranger.get("/login").text)  # valid, for another session
    own_token = csrf_token_from(admin.get("/admin/categories/").text)
    before = snapshot(csrf_app)
    for token in ("", "forged", foreign_token, own_token[:-2] + "xx"):
        response = admin.post("/admin/categories/", data={"name": "Forged", "csrf_token": token})
        assert response.status_code == 400 and CSRF_MESSAGE in response.text, token
        response = admin.post(
            "/admin/posts/autosave", json={"title": "Forged"}, headers={"X-CSRFToken": token}
        )
        assert response.status_code == 400, token
    assert changed_tables(before, snapshot(csrf_app)) == []
    # The control: the same requests with the session's own token go through.
    response = admin.post("/admin/categories/", data={"name": "Real", "csrf_token": own_token})
    assert response.status_code == 303
    response = admin.post(
        "/admin/posts/autosave", json={"title": "Real"}, headers={"X-CSRFToken": own_token}
    )
    assert response.status_code == 200
    assert set(changed_tables(before, snapshot(csrf_app))) >= {"category", "post", "revision"}
