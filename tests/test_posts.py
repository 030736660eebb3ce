"""Writing posts: drafts, publishing, scheduling, conflicts, autosave, history, trash, rights."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from sqlalchemy import select

from blog import rendering
from blog.extensions import db
from blog.models import Post, PostStatus, Revision, RevisionKind, utcnow


def new_post(client, **fields):
    data = {"title": "A day at the sea", "body": "It was *sunny*.", "action": "save", **fields}
    return client.post("/admin/posts/new", data=data)


def the_post(app, **criteria) -> Post:
    with app.app_context():
        post = db.session.scalar(select(Post).filter_by(**criteria))
        db.session.expunge_all()
        return post


def test_a_draft_is_saved_rendered_and_kept_as_a_revision(app, client, auth):
    auth.login("author")
    response = new_post(client)
    assert response.status_code == 302
    post = the_post(app, title="A day at the sea")
    assert post.status == PostStatus.DRAFT
    assert post.slug == "a-day-at-the-sea"
    assert post.body_html == "<p>It was <em>sunny</em>.</p>"
    assert post.summary == "It was sunny."
    with app.app_context():
        revisions = db.session.scalars(select(Revision).filter_by(post_id=post.id)).all()
        assert [(r.kind, r.body_md) for r in revisions] == [(RevisionKind.SAVE, "It was *sunny*.")]
    assert client.get("/a-day-at-the-sea/").status_code == 404  # drafts are not public


def test_publish_now_makes_the_post_public(app, client, auth):
    auth.login("author")
    new_post(client, action="publish", body="# Heading\n\n> A quote\n\n- one\n- two")
    page = client.get("/a-day-at-the-sea/")
    assert page.status_code == 200
    html = page.data.decode()
    assert '<h1 id="heading">Heading</h1>' in html
    assert "<blockquote>" in html and "<li>two</li>" in html
    assert "Ann Author" in html


def test_a_page_view_never_renders_markdown(app, client, auth, monkeypatch):
    auth.login("author")
    new_post(client, action="publish")

    def refuse(*args, **kwargs):
        raise AssertionError("Markdown rendered while reading")

    monkeypatch.setattr(rendering, "render_markdown", refuse)
    monkeypatch.setattr(rendering, "render_post", refuse)
    assert client.get("/a-day-at-the-sea/").status_code == 200
    assert client.get("/").status_code == 200


def test_a_scheduled_post_appears_only_when_its_time_comes(app, client, auth):
    auth.login("author")
    when = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = new_post(client, action="schedule", publish_at=when)
    assert response.status_code == 302
    assert the_post(app).status == PostStatus.SCHEDULED
    auth.logout()
    assert client.get("/a-day-at-the-sea/").status_code == 404
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2, minutes=1), tick=False):
        assert client.get("/a-day-at-the-sea/").status_code == 200
        assert b"A day at the sea" in client.get("/").data
        auth.login("author")
        client.get("/admin/")  # an author's request brings the stored status up to date
        assert the_post(app).status == PostStatus.PUBLISHED


def test_scheduling_in_the_past_is_refused_and_the_text_kept(app, client, auth):
    auth.login("author")
    when = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = new_post(client, action="schedule", publish_at=when, body="Precious words.")
    assert response.status_code == 400
    assert b"Choose a time in the future" in response.data
    assert b"Precious words." in response.data
    assert the_post(app) is None


def test_unpublish_takes_the_post_back_to_draft(app, client, auth):
    auth.login("author")
    new_post(client, action="publish")
    post = the_post(app)
    client.post(f"/admin/posts/{post.id}/unpublish", data={"version": post.version})
    assert the_post(app).status == PostStatus.DRAFT
    assert client.get("/a-day-at-the-sea/").status_code == 404


def test_a_save_based_on_an_older_version_is_refused_and_the_text_kept(app, client, auth):
    auth.login("author")
    new_post(client)
    post = the_post(app)
    first_tab = {"title": post.title, "body": "Tab one text.", "version": post.version}
    second_tab = {"title": post.title, "body": "Tab two text.", "version": post.version}
    assert client.post(f"/admin/posts/{post.id}/edit", data=first_tab).status_code == 302
    response = client.post(f"/admin/posts/{post.id}/edit", data=second_tab)
    assert response.status_code == 409
    assert b"changed elsewhere" in response.data
    assert b"Tab two text." in response.data  # still in the editor
    assert the_post(app).body_md == "Tab one text."


def test_autosave_keeps_text_without_touching_the_published_post(app, client, auth):
    auth.login("author")
    new_post(client, action="publish", body="Published words.")
    post = the_post(app)
    response = client.post(
        f"/admin/posts/{post.id}/autosave",
        json={
            "title": post.title,
            "body": "Work in progress.",
            "excerpt": "",
            "version": post.version,
            "autosave_id": 0,
        },  # fmt: skip
    )
    assert response.status_code == 200
    assert the_post(app).body_md == "Published words."
    assert b"Published words." in client.get("/a-day-at-the-sea/").data
    editor = client.get(f"/admin/posts/{post.id}/edit").data.decode()
    assert "Work in progress." in editor and "Restored your unsaved text" in editor


def test_autosave_of_a_new_post_creates_a_draft(app, client, auth):
    auth.login("author")
    response = client.post(
        "/admin/posts/autosave", json={"title": "", "body": "First thoughts", "excerpt": ""}
    )
    assert response.status_code == 200
    post = the_post(app, id=response.json["id"])
    assert (post.title, post.status, post.body_md) == (
        "Untitled draft",
        PostStatus.DRAFT,
        "First thoughts",
    )
    assert response.json["edit_url"] == f"/admin/posts/{post.id}/edit"


def test_bad_autosave_payload_is_a_clear_400(client, auth):
    auth.login("author")
    response = client.post("/admin/posts/autosave", json={"title": ["x"], "body": 3})
    assert response.status_code == 400
    assert "not understood" in response.json["error"]


def test_history_shows_a_diff_and_restores_an_earlier_text(app, client, auth):
    auth.login("author")
    new_post(client, body="Line one.\nLine two.")
    post = the_post(app)
    edit = {"title": post.title, "body": "Line one.\nLine 2!", "version": post.version}
    client.post(f"/admin/posts/{post.id}/edit", data=edit)
    page = client.get(f"/admin/posts/{post.id}/history").data.decode()
    assert '<span class="diff-remove">− Line two.</span>' in page
    assert '<span class="diff-add">+ Line 2!</span>' in page
    with app.app_context():
        first = db.session.scalar(select(Revision).filter_by(post_id=post.id, post_version=1))
        first_id = first.id
    restore = f"/admin/posts/{post.id}/history/{first_id}/restore"
    client.post(restore, data={"version": the_post(app).version})
    restored = the_post(app)
    assert restored.body_md == "Line one.\nLine two."
    assert restored.version == 3


def test_trash_and_restore(app, client, auth):
    auth.login("author")
    new_post(client, action="publish")
    post = the_post(app)
    confirm = client.get(f"/admin/posts/{post.id}/delete")
    assert b"Move" in confirm.data and b"to the trash?" in confirm.data
    client.post(f"/admin/posts/{post.id}/delete", data={"version": post.version})
    assert client.get("/a-day-at-the-sea/").status_code == 404
    assert client.get("/admin/posts/trash").status_code == 403  # authors cannot restore
    auth.logout()
    auth.login("editor")
    assert b"A day at the sea" in client.get("/admin/posts/trash").data
    client.post(f"/admin/posts/{post.id}/restore", data={"version": the_post(app).version})
    assert client.get("/a-day-at-the-sea/").status_code == 200


def test_trash_is_emptied_after_thirty_days(app, client, auth):
    auth.login("editor")
    new_post(client)
    post = the_post(app)
    client.post(f"/admin/posts/{post.id}/delete", data={"version": post.version})
    with time_machine.travel(datetime.now(UTC) + timedelta(days=31), tick=False):
        auth.login("editor")  # the session itself has expired by now
        assert b"The trash is empty." in client.get("/admin/posts/trash").data
    assert the_post(app) is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/posts/{id}/edit"),
        ("POST", "/admin/posts/{id}/edit"),
        ("POST", "/admin/posts/{id}/autosave"),
        ("POST", "/admin/posts/{id}/unpublish"),
        ("GET", "/admin/posts/{id}/delete"),
        ("POST", "/admin/posts/{id}/delete"),
        ("GET", "/admin/posts/{id}/history"),
        ("GET", "/admin/posts/{id}/preview"),
    ],
)
def test_an_author_cannot_touch_another_authors_post_but_an_editor_can(
    app, client, auth, method, path
):
    auth.login("other_author")
    new_post(client, body="Otto's secret draft.")
    post = the_post(app)
    auth.logout()
    auth.login("author")
    data = {"title": "Hijacked", "body": "x", "version": post.version}
    response = client.open(path.format(id=post.id), method=method, data=data, json=None)
    assert response.status_code == 403
    assert the_post(app).title == "A day at the sea"
    assert the_post(app).deleted_at is None
    assert b"secret draft" not in client.get("/admin/posts/").data
    auth.logout()
    auth.login("editor")
    if method == "GET":
        assert client.get(path.format(id=post.id)).status_code == 200


def test_post_list_filters_and_editor_bulk_publish(app, client, auth):
    auth.login("author")
    new_post(client, title="Draft one")
    new_post(client, title="Draft two")
    new_post(client, title="Live one", action="publish")
    drafts = client.get("/admin/posts/?status=draft").data.decode()
    assert "Draft one" in drafts and "Live one" not in drafts
    assert "Draft two" in client.get("/admin/posts/?q=two").data.decode()
    assert "Draft one" not in client.get("/admin/posts/?q=two").data.decode()
    assert client.post("/admin/posts/bulk", data={"action": "publish"}).status_code == 403
    auth.logout()
    auth.login("editor")
    with app.app_context():
        drafts = db.session.scalars(select(Post).filter_by(status=PostStatus.DRAFT)).all()
        form = {"action": "publish", "post_id": [p.id for p in drafts]}
        form.update({f"version-{p.id}": p.version for p in drafts})
    client.post("/admin/posts/bulk", data=form)
    assert client.get("/draft-one/").status_code == 200
    assert client.get("/admin/posts/?page=0").status_code == 404
    assert client.get("/admin/posts/?page=abc").status_code == 404
    assert client.get("/admin/posts/?page=99").status_code == 404


def test_slugs_are_unique_readable_and_old_addresses_redirect(app, client, auth):
    auth.login("author")
    new_post(client, title="Café au lait à Köln", action="publish")
    assert the_post(app, title="Café au lait à Köln").slug == "cafe-au-lait-a-koln"
    suggestion = client.get("/admin/posts/slug.json?title=Café au lait à Köln").json
    assert suggestion == {"slug": "cafe-au-lait-a-koln-2"}
    response = new_post(client, title="Another", slug="cafe-au-lait-a-koln")
    assert response.status_code == 400
    assert "Another post already uses the address" in response.data.decode()
    post = the_post(app, title="Café au lait à Köln")
    edit = {"title": post.title, "slug": "cologne", "body": "x", "version": post.version}
    client.post(f"/admin/posts/{post.id}/edit", data=edit)
    moved = client.get("/cafe-au-lait-a-koln/")
    assert (moved.status_code, moved.headers["Location"]) == (301, "/cologne/")


def test_preview_endpoint_uses_the_sanitising_pipeline(client, auth):
    auth.login("author")
    response = client.post(
        "/admin/posts/preview", json={"body": "**hi** <script>alert(1)</script> [x](javascript:1)"}
    )
    assert response.status_code == 200
    assert "<strong>hi</strong>" in response.json["html"]
    assert "script" not in response.json["html"] and "javascript" not in response.json["html"]
    assert response.json["words"] >= 1


def test_rerender_command_updates_posts_from_an_older_pipeline(app, client, auth, runner):
    auth.login("author")
    new_post(client)
    with app.app_context():
        post = db.session.scalar(select(Post))
        post.body_html, post.render_version = "<p>stale</p>", 0
        db.session.commit()
    result = runner.invoke(args=["posts", "rerender"])
    assert result.exit_code == 0, result.output
    assert "Rendered 1 posts" in result.output and "1 changed" in result.output
    assert the_post(app).body_html == "<p>It was <em>sunny</em>.</p>"


UNREADABLE = {
    "NUL (encoded)": b"%00",
    "NUL (raw byte)": b"\x00",
    "invalid UTF-8 (encoded)": b"%FF%FE",
    "invalid UTF-8 (raw bytes)": b"\xff\xfe",
}


@pytest.mark.parametrize("bad", UNREADABLE.values(), ids=UNREADABLE.keys())
@pytest.mark.parametrize("editing", [False, True], ids=["new post", "edit"])
def test_a_save_with_unreadable_text_shows_the_editor_again_with_the_text(
    app, client, auth, bad, editing
):
    auth.login("author")
    path = "/admin/posts/new"
    fields = {"title": "Unsendable", "action": "save", "kind": "post"}
    if editing:
        new_post(client)
        post = the_post(app)
        path, fields["version"] = f"/admin/posts/{post.id}/edit", str(post.version)
    body = urlencode(fields).encode() + b"&body=Precious+words" + bad + b"+and+more."
    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="post-form"' in page, "the editor is gone"
    assert "Precious words\ufffd" in page and "and more." in page
    assert "cannot be stored" in page
    assert the_post(app, title="Unsendable") is None
    if editing:
        assert the_post(app).version == post.version


def preview_notice(client, post_id: int) -> str:
    html = client.get(f"/admin/posts/{post_id}/preview").data.decode()
    start = html.index('class="flash flash-info preview-notice"')
    return " ".join(html[start : html.index("</p>", start)].split())


def test_the_preview_says_truly_whether_readers_see_the_post(app, client, auth):
    auth.login("author")
    new_post(client)
    post = the_post(app)
    assert "is a draft. Readers cannot see it yet." in preview_notice(client, post.id)
    when = utcnow() + timedelta(hours=2)
    client.post(
        f"/admin/posts/{post.id}/edit",
        data={"title": post.title, "body": "x", "action": "schedule",
              "publish_at": when.strftime("%Y-%m-%dT%H:%M"), "version": post.version},
    )  # fmt: skip
    notice = preview_notice(client, post.id)
    assert "is scheduled" in notice and "Readers will see it from" in notice
    with time_machine.travel(when + timedelta(minutes=1), tick=False):
        auth.login("author")
        notice = preview_notice(client, post.id)
        assert "is published. Readers see it at" in notice and "cannot" not in notice
        assert 'href="/a-day-at-the-sea/"' in notice
    auth.login("author")  # back in the present: a cookie signed two hours ahead is not valid yet
    new_post(client, title="Out now", action="publish")
    post = the_post(app, title="Out now")
    notice = preview_notice(client, post.id)
    assert "is published. Readers see it at" in notice and "cannot" not in notice
    client.post(f"/admin/posts/{post.id}/delete", data={"version": post.version})
    notice = preview_notice(client, post.id)
    assert "is in the trash. Readers cannot see it." in notice
