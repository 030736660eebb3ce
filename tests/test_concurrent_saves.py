"""Saves that cannot overwrite each other, raced for real.

The app runs behind werkzeug's threaded server on this test's database (a SQLite file, then
PostgreSQL). Eight signed-in sessions, each its own HTTP client, send a save from the same
base version; a `threading.Barrier` releases them at the same instant. Exactly one may win;
the seven others are told 409 and get their own text back. Each race runs several rounds, so a
lucky pass is unlikely. The routes that change a post without racing are checked too: without
the version the editor started from, or with an old one, they change nothing.
"""

import json
import re
import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text

from blog.accounts import create_user
from blog.extensions import db
from blog.models import Post, PostStatus, Revision, RevisionKind, Role, User
from blog.posts import Action, PostConflict, PostInput, save_post
from tests.browser_fixtures import LiveServer
from tests.conftest import PASSWORD
from tests.live_servers import Answer, Browser

WRITERS = 8
ROUNDS = 3


def race(browsers: list[Browser], requests: list[tuple[str, str, dict]]) -> list[Answer]:
    """Send each browser its (method, path, options) at the same instant; answers in order."""
    barrier = threading.Barrier(len(browsers))
    answers: list[Answer | BaseException | None] = [None] * len(browsers)

    def run(number: int) -> None:
        try:
            connection = browsers[number].connect()  # connected before the start signal
            method, path, options = requests[number]
            barrier.wait(timeout=30)
            answers[number] = browsers[number].request(
                method, path, connection=connection, **options
            )
        except BaseException as error:  # reported below, in the test's own thread
            answers[number] = error

    threads = [threading.Thread(target=run, args=(number,)) for number in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    failures = [answer for answer in answers if not isinstance(answer, Answer)]
    assert not failures, failures
    return answers


@pytest.fixture
def arena(make_app):
    """A live server, eight editors each signed in from their own browser, and a post."""
    app = make_app()
    with app.app_context():
        editors = [
            create_user(f"editor{n}@example.com", f"Editor {n}", Role.EDITOR, PASSWORD)
            for n in range(WRITERS)
        ]
        post = save_post(
            None, PostInput(title="Harbour log", body_md="The first text."), editors[0]
        )
        db.session.commit()
        post_id, emails = post.id, [editor.email for editor in editors]
    server = LiveServer(app).start()
    try:
        browsers = [Browser(server._server.server_port) for _ in range(WRITERS)]
        for browser, email in zip(browsers, emails, strict=True):
            browser.sign_in(email, PASSWORD)
        yield app, browsers, post_id, emails
    finally:
        server.stop()


def stored(app, post_id: int) -> tuple[Post, list[str]]:
    """The post as stored, and the texts of its history (saves), oldest first."""
    with app.app_context():
        post = db.session.get(Post, post_id)
        history = db.session.scalars(
            select(Revision.body_md)
            .where(Revision.post_id == post_id, Revision.kind != RevisionKind.AUTOSAVE)
            .order_by(Revision.id)
        ).all()
        db.session.expunge(post)
        return post, list(history)


def editor_form(text: str, version: int | None, action: str = "save") -> dict:
    form = {"title": "Harbour log", "body": text, "kind": "post", "action": action}
    if version is not None:
        form["version"] = str(version)
    return form


@pytest.mark.parametrize("action", [Action.SAVE, Action.PUBLISH])
def test_eight_saves_from_one_version_give_one_save_and_seven_conflicts(arena, action):
    app, browsers, post_id, _ = arena
    saved_texts = ["The first text."]
    for round_number in range(1, ROUNDS + 1):
        base = stored(app, post_id)[0].version
        texts = [f"Round {round_number}, words of writer {n}." for n in range(WRITERS)]
        path = f"/admin/posts/{post_id}/edit"
        forms = [{"form": editor_form(text, base, action)} for text in texts]
        answers = race(browsers, [("POST", path, form) for form in forms])

        statuses = sorted(answer.status for answer in answers)
        assert statuses == [302] + [409] * (WRITERS - 1), statuses
        winner = next(n for n, answer in enumerate(answers) if answer.status == 302)
        for n, answer in enumerate(answers):
            if answer.status == 409:
                assert "changed elsewhere" in answer.body
                assert texts[n] in answer.body, "a refused writer's text is not on screen"
        post, history = stored(app, post_id)
        saved_texts.append(texts[winner])
        assert post.version == base + 1
        assert post.body_md == texts[winner]
        assert history == saved_texts
        if action == Action.PUBLISH:
            assert post.status == PostStatus.PUBLISHED


def _autosave_id(page: str) -> int:
    match = re.search(r'data-autosave-id="(\d+)"', page)
    assert match, "the editor page does not carry its autosave id"
    return int(match.group(1))


def test_eight_tabs_autosaving_at_once_keep_one_autosave_and_refuse_seven(arena):
    app, browsers, post_id, emails = arena
    tabs = [Browser(browsers[0].port) for _ in range(WRITERS)]  # one person, eight tabs
    for tab in tabs:
        tab.sign_in(emails[0], PASSWORD)
    before = stored(app, post_id)[0]
    for round_number in range(1, ROUNDS + 1):
        pages = [tab.request("GET", f"/admin/posts/{post_id}/edit") for tab in tabs]
        seen = [_autosave_id(page.body) for page in pages]
        assert len(set(seen)) == 1
        texts = [f"Round {round_number}, unsaved words of tab {n}." for n in range(WRITERS)]
        path = f"/admin/posts/{post_id}/autosave"
        payloads = [
            {
                "title": "Harbour log",
                "body": text,
                "excerpt": "",
                "version": before.version,
                "autosave_id": autosave_id,
            }  # fmt: skip
            for text, autosave_id in zip(texts, seen, strict=True)
        ]
        answers = race(tabs, [("POST", path, {"payload": payload}) for payload in payloads])
        statuses = sorted(answer.status for answer in answers)
        assert statuses == [200] + [409] * (WRITERS - 1), statuses
        winner = next(n for n, answer in enumerate(answers) if answer.status == 200)
        for answer in answers:
            if answer.status == 409:
                assert "another window" in json.loads(answer.body)["error"]
        with app.app_context():
            autosaves = db.session.scalars(
                select(Revision.body_md).where(
                    Revision.post_id == post_id, Revision.kind == RevisionKind.AUTOSAVE
                )
            ).all()
        assert autosaves == [texts[winner]]
        assert json.loads(answers[winner].body)["autosave_id"] != seen[winner]
        after = stored(app, post_id)[0]
        assert (after.version, after.body_md) == (before.version, before.body_md)


def test_an_autosave_from_an_editor_behind_the_saved_version_is_refused(arena):
    app, browsers, post_id, _ = arena
    base = stored(app, post_id)[0].version
    saved = browsers[0].request(
        "POST", f"/admin/posts/{post_id}/edit", form=editor_form("New.", base)
    )
    assert saved.status == 302
    payload = {"title": "Harbour log", "body": "Old tab.", "excerpt": "", "version": base,
               "autosave_id": 0}  # fmt: skip
    answer = browsers[1].request("POST", f"/admin/posts/{post_id}/autosave", payload=payload)
    assert answer.status == 409
    assert "saved elsewhere" in json.loads(answer.body)["error"]
    with app.app_context():
        count = select(func.count(Revision.id)).where(Revision.kind == RevisionKind.AUTOSAVE)
        assert db.session.scalar(count) == 0


# Every route that changes a post needs the version the page showed ---------------------------


def _signed_in(app, users, who="editor"):
    client = app.test_client()
    answer = client.post("/login", data={"email": users[who]["email"], "password": PASSWORD})
    assert answer.status_code == 302
    return client


def _post_with_history(app, users) -> tuple[int, int, int]:
    """A published post saved twice; its id, version and first revision's id."""
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        post = save_post(None, PostInput(title="Tide table", body_md="High at noon."), author,
                         Action.PUBLISH)  # fmt: skip
        save_post(post, PostInput(title="Tide table", body_md="High at one."), author,
                  base_version=post.version)  # fmt: skip
        db.session.commit()
        first = db.session.scalar(select(func.min(Revision.id)).where(Revision.post_id == post.id))
        return post.id, post.version, first


def _trashed(app, post_id: int) -> int:
    with app.app_context():
        post = db.session.get(Post, post_id)
        post.deleted_at = post.updated_at
        db.session.commit()
        return post.version


# name: (method, path, data without version, how the version is sent, prepare)
ROUTES = {
    "save": ("/admin/posts/{id}/edit", editor_form("Mine.", None), "version"),
    "publish": ("/admin/posts/{id}/edit", editor_form("Mine.", None, "publish"), "version"),
    "schedule": (
        "/admin/posts/{id}/edit",
        {**editor_form("Mine.", None, "schedule"), "publish_at": "2099-01-01T10:00"},
        "version",
    ),
    "unpublish (editor)": (
        "/admin/posts/{id}/edit",
        editor_form("Mine.", None, "unpublish"),
        "version",
    ),  # fmt: skip
    "unpublish (button)": ("/admin/posts/{id}/unpublish", {}, "version"),
    "bulk unpublish": (
        "/admin/posts/bulk",
        {"action": "unpublish", "post_id": "{id}"},
        "version-{id}",
    ),  # fmt: skip
    "bulk trash": ("/admin/posts/bulk", {"action": "trash", "post_id": "{id}"}, "version-{id}"),
    "restore a revision": ("/admin/posts/{id}/history/{revision}/restore", {}, "version"),
    "move to the trash": ("/admin/posts/{id}/delete", {}, "version"),
    "restore from the trash": ("/admin/posts/{id}/restore", {}, "version"),
}


def _send(client, route: str, post_id: int, revision: int, version: str | None):
    path, data, version_field = ROUTES[route]
    form = {key: value.format(id=post_id) for key, value in data.items()}
    if version is not None:
        form[version_field.format(id=post_id)] = version
    return client.post(path.format(id=post_id, revision=revision), data=form)


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_change_needs_the_version_the_page_showed(app, users, route):
    """Missing or unreadable: 400. Older than the post: 409. Current: done, one version on."""
    post_id, version, revision = _post_with_history(app, users)
    if route == "restore from the trash":
        version = _trashed(app, post_id)
    client = _signed_in(app, users)
    before = stored(app, post_id)
    for unreadable in (None, "", "seven", "-1"):
        answer = _send(client, route, post_id, revision, unreadable)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400, unreadable
        assert "version" in page
        if ROUTES[route][0].endswith("/edit"):
            assert "Mine." in page  # the text stays on screen
    old = _send(client, route, post_id, revision, str(version - 1))
    assert old.status_code == 409
    assert "changed elsewhere" in old.get_data(as_text=True)
    after = stored(app, post_id)
    assert (after[0].version, after[0].status, after[0].deleted_at, after[1]) == (
        version, before[0].status, before[0].deleted_at, before[1]
    )  # fmt: skip
    current = _send(client, route, post_id, revision, str(version))
    assert current.status_code in (302, 303), current.status_code
    assert stored(app, post_id)[0].version == version + 1


def test_an_autosave_without_the_version_it_started_from_is_refused(app, users):
    post_id, version, _ = _post_with_history(app, users)
    client = _signed_in(app, users)
    path = f"/admin/posts/{post_id}/autosave"
    payloads = [
        {"title": "T", "body": "B", "excerpt": ""},
        {"title": "T", "body": "B", "excerpt": "", "version": "x", "autosave_id": 0},
        {"title": "T", "body": "B", "excerpt": "", "version": version},
    ]
    for payload in payloads:
        answer = client.post(path, json=payload)
        assert answer.status_code == 400, payload
        assert "version" in answer.json["error"] or "autosave" in answer.json["error"]
    with app.app_context():
        count = select(func.count(Revision.id)).where(Revision.kind == RevisionKind.AUTOSAVE)
        assert db.session.scalar(count) == 0


# SQLite: a read transaction that outlives another writer's commit --------------------------


def _commit_elsewhere(app, statement: str) -> None:
    """Another writer (its own connection to the same file) commits `statement`."""
    with app.app_context():
        path = db.engine.url.database
    other = sqlite3.connect(path)
    try:
        other.execute(statement)
        other.commit()
    finally:
        other.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_save_in_a_stale_sqlite_read_transaction_is_a_save_or_a_conflict(app, users):
    """SQLite refuses at once to turn a read transaction into a write once another writer has
    committed ("database is locked"); a save must then still end as saved or as a conflict."""
    post_id, version, _ = _post_with_history(app, users)
    edit = PostInput(title="Tide table", body_md="Saved all the same.")
    with app.app_context():
        db.session.execute(text("BEGIN"))  # a read transaction, as a driver in another mode
        post = db.session.get(Post, post_id)  # would leave open
        author = db.session.get(User, users["author"]["id"])
        _commit_elsewhere(app, "DELETE FROM login_attempt")  # a write to another table
        save_post(post, edit, author, base_version=version)
        db.session.commit()
    assert stored(app, post_id)[0].version == version + 1

    with app.app_context():
        db.session.execute(text("BEGIN"))
        post = db.session.get(Post, post_id)
        author = db.session.get(User, users["author"]["id"])
        _commit_elsewhere(app, "UPDATE post SET version = version + 1")  # a save elsewhere
        with pytest.raises(PostConflict) as conflict:
            save_post(post, edit, author, base_version=version + 1)
        db.session.rollback()
    assert conflict.value.current_version == version + 2
