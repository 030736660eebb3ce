"""Other things two people can edit at once: settings, a category, alt text, admin roles.

Settings, categories and alt text carry a fingerprint of what their form showed (see
blog.concurrent_edits); a save from a form loaded before someone else's save is refused.
Roles are last-writer-wins, but two admins demoting each other at the same instant must not
leave the site without an admin. The races run against a live threaded server, released by a
barrier, on SQLite and PostgreSQL.
"""

import re

from sqlalchemy import func, select

from blog.accounts import create_user
from blog.extensions import db
from blog.models import Category, Media, Role, User
from blog.settings import get_setting
from blog.taxonomy import create_category
from tests.browser_fixtures import LiveServer
from tests.conftest import PASSWORD
from tests.live_servers import Browser
from tests.test_concurrent_saves import race

ROUNDS = 3


def shown_on(page: str) -> str:
    match = re.search(r'name="shown" value="([0-9a-f]+)"', page)
    assert match, "the form does not say what it showed"
    return match.group(1)


def signed_in(app, email: str):
    client = app.test_client()
    answer = client.post("/login", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302
    return client


SETTINGS_FORM = {
    "tagline": "",
    "banner_media_id": "",
    "banner_link": "",
    "banner_alt": "",
    "posts_per_page": "10",
    "footer_text": "",
    "feed_full_text": "y",
    "timezone": "UTC",
    "comment_moderation": "first_time",
    "comments_close_days": "60",
    "comment_max_links": "2",
}


def test_eight_admins_saving_the_settings_at_once_one_wins_seven_keep_their_input(make_app):
    app = make_app()
    with app.app_context():
        emails = [
            create_user(f"admin{n}@example.com", f"Admin {n}", Role.ADMIN, PASSWORD).email
            for n in range(8)
        ]
        db.session.commit()
    server = LiveServer(app).start()
    try:
        browsers = [Browser(server._server.server_port) for _ in emails]
        for browser, email in zip(browsers, emails, strict=True):
            browser.sign_in(email, PASSWORD)
        for round_number in range(ROUNDS):
            shown = [shown_on(b.request("GET", "/admin/settings").body) for b in browsers]
            titles = [f"Site of admin {n}, round {round_number}" for n in range(len(browsers))]
            forms = [
                {**SETTINGS_FORM, "site_title": title, "shown": fingerprint}
                for title, fingerprint in zip(titles, shown, strict=True)
            ]
            answers = race(browsers, [("POST", "/admin/settings", {"form": f}) for f in forms])
            statuses = sorted(answer.status for answer in answers)
            assert statuses == [302] + [409] * 7, statuses
            winner = next(n for n, answer in enumerate(answers) if answer.status == 302)
            for title, answer in zip(titles, answers, strict=True):
                if answer.status == 409:
                    assert "another admin changed the settings" in answer.body
                    assert f'value="{title}"' in answer.body  # their input is still there
            with app.app_context():
                assert get_setting("site_title") == titles[winner]
    finally:
        server.stop()


def test_two_admins_demoting_each_other_at_once_leave_one_admin(make_app):
    app = make_app()
    with app.app_context():
        first = create_user("first@example.com", "First Admin", Role.ADMIN, PASSWORD)
        second = create_user("second@example.com", "Second Admin", Role.ADMIN, PASSWORD)
        db.session.commit()
        ids = [first.id, second.id]
    server = LiveServer(app).start()
    try:
        for _ in range(ROUNDS):
            browsers = [Browser(server._server.server_port) for _ in ids]
            browsers[0].sign_in("first@example.com", PASSWORD)
            browsers[1].sign_in("second@example.com", PASSWORD)
            requests = [
                ("POST", f"/admin/users/{ids[1]}/role", {"form": {"role": "author"}}),
                ("POST", f"/admin/users/{ids[0]}/role", {"form": {"role": "author"}}),
            ]
            race(browsers, requests)
            with app.app_context():
                admins = select(func.count(User.id)).where(User.role == Role.ADMIN)
                assert db.session.scalar(admins) == 1
                for user in db.session.scalars(select(User)):
                    user.role = Role.ADMIN  # both admins again for the next round
                db.session.commit()
    finally:
        server.stop()


def test_a_category_form_loaded_before_another_save_is_refused_with_the_input_kept(app, users):
    with app.app_context():
        category_id = create_category("News", "What happened.").id
        db.session.commit()
    path = f"/admin/categories/{category_id}"
    late = signed_in(app, users["editor"]["email"])
    shown = shown_on(late.get(path).get_data(as_text=True))
    early = signed_in(app, users["admin"]["email"])
    early_shown = shown_on(early.get(path).get_data(as_text=True))
    form = {"name": "News", "slug": "news", "position": "0"}
    saved = early.post(path, data={**form, "description": "Theirs.", "shown": early_shown})
    assert saved.status_code == 303

    refused = late.post(path, data={**form, "description": "My long words.", "shown": shown})
    assert refused.status_code == 409
    assert "someone else changed this category" in refused.get_data(as_text=True)
    assert "My long words." in refused.get_data(as_text=True)
    without = late.post(path, data={**form, "description": "My long words."})
    assert without.status_code == 400
    with app.app_context():
        assert db.session.get(Category, category_id).description == "Theirs."


def test_alt_text_from_a_page_loaded_before_another_save_is_refused_and_quoted(app, users):
    with app.app_context():
        media = Media(filename="boat.png", original_name="boat.png", content_type="image/png",
                      width=10, height=10, size_bytes=100, variants=[], alt_text="A boat",
                      uploader_id=users["author"]["id"])  # fmt: skip
        db.session.add(media)
        db.session.commit()
        media_id = media.id
    client = signed_in(app, users["editor"]["email"])
    shown = shown_on(client.get("/admin/media/").get_data(as_text=True))
    path = f"/admin/media/{media_id}"
    assert client.post(path, data={"alt_text": "A red boat", "shown": shown}).status_code == 303
    refused = client.post(path, data={"alt_text": "A blue boat", "shown": shown})
    assert refused.status_code == 303
    library = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "was not saved: someone else changed it" in library and "A blue boat" in library
    assert client.post(path, data={"alt_text": "A green boat"}).status_code == 303
    with app.app_context():
        assert db.session.get(Media, media_id).alt_text == "A red boat"
