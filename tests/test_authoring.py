"""Authoring details: search and social fields, preview links, pins, a category made from the
editor, one alt text per image shared with the library, and what each action says."""

import json
import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from blog.concurrent_edits import fingerprint
from blog.extensions import db
from blog.models import Category, Media, Post, PostStatus, utcnow


def add_image(app, name: str = "a" * 32, alt: str = "", uploader: int | None = None) -> int:
    with app.app_context():
        media = Media(
            filename=f"{name}.jpg",
            original_name="boat.jpg",
            content_type="image/jpeg",
            width=1600,
            height=900,
            size_bytes=1000,
            variants=[],
            alt_text=alt,
            uploader_id=uploader,
        )
        db.session.add(media)
        db.session.commit()
        return media.id


def write(client, **fields):
    data = {"title": "Harbour opens", "body": "The harbour opens today.", "action": "save"}
    return client.post("/admin/posts/new", data={**data, **fields})


def post_row(app, title: str = "Harbour opens") -> Post:
    with app.app_context():
        post = db.session.scalar(select(Post).filter_by(title=title))
        db.session.expunge_all()
        return post


def edit(client, post: Post, **fields):
    data = {"title": post.title, "body": post.body_md, "version": str(post.version)}
    return client.post(f"/admin/posts/{post.id}/edit", data={**data, "action": "save", **fields})


# Search and social fields --------------------------------------------------------------------


def test_search_fields_are_used_in_meta_tags_json_ld_and_feeds(app, client, auth):
    auth.login("author")
    image = add_image(app, alt="The harbour at dawn")
    write(
        client,
        action="publish",
        meta_title="Harbour reopens after storm",
        meta_description="  The old harbour is open again,\nthree weeks after the storm. ",
        canonical_url="https://news.example.org/harbour",
        featured_media_id=str(image),
    )
    reader = app.test_client()
    html = reader.get("/harbour-opens/").get_data(as_text=True)
    assert "<title>Harbour reopens after storm · " in html
    assert '<meta property="og:title" content="Harbour reopens after storm">' in html
    description = "The old harbour is open again, three weeks after the storm."
    assert f'<meta name="description" content="{description}">' in html
    assert '<link rel="canonical" href="https://news.example.org/harbour">' in html
    assert '<meta property="og:image" content="http://blog.test/media/' + "a" * 32 in html
    ld = json.loads(re.search(r'ld\+json">(.*?)</script>', html).group(1))
    assert ld["url"] == "https://news.example.org/harbour"
    assert ld["description"] == description
    assert ld["image"].endswith("a" * 32 + ".jpg")
    assert ld["headline"] == "Harbour opens"
    feed = reader.get("/feed.xml").get_data(as_text=True)
    assert description in feed
    item_description = feed.split("<item>")[1].split("<description>")[1].split("</description>")[0]
    assert item_description == description


def test_a_chosen_social_image_replaces_the_featured_one(app, client, auth):
    auth.login("author")
    featured = add_image(app, "f" * 32)
    social = add_image(app, "5" * 32, alt="A map of the harbour")
    write(client, action="publish", featured_media_id=str(featured), social_media_id=str(social))
    html = app.test_client().get("/harbour-opens/").get_data(as_text=True)
    assert f'<meta property="og:image" content="http://blog.test/media/{"5" * 32}.jpg">' in html
    assert '<meta property="og:image:alt" content="A map of the harbour">' in html
    assert "f" * 32 + '.jpg"' in html  # the article still shows its featured image
    enclosure = re.search(r"<enclosure url=\"([^\"]+)\"", app.test_client().get("/feed.xml").text)
    assert enclosure.group(1).endswith("5" * 32 + ".jpg")


def test_without_search_fields_the_page_describes_itself_as_before(app, client, auth):
    auth.login("author")
    write(client, action="publish")
    html = app.test_client().get("/harbour-opens/").get_data(as_text=True)
    assert '<meta property="og:title" content="Harbour opens">' in html
    assert '<link rel="canonical" href="http://blog.test/harbour-opens/">' in html
    assert '<meta name="description" content="The harbour opens today.">' in html


def test_a_canonical_address_must_be_http_or_https(app, client, auth):
    auth.login("author")
    for bad in (
        "javascript:alert(1)",
        "ftp://example.org/x",
        "/relative",
        "https://",
        "http://a b",
    ):
        response = write(client, canonical_url=bad)
        assert response.status_code == 400, bad
        assert "starting with http:// or https://" in response.get_data(as_text=True)
    assert post_row(app) is None


def test_the_editor_shows_character_counts(app, client, auth):
    auth.login("author")
    write(client, meta_title="Harbour reopens")
    post = post_row(app)
    html = client.get(f"/admin/posts/{post.id}/edit").get_data(as_text=True)
    assert "15 characters; about 60 show in search results." in html
    assert "0 characters; about 160 show in search results." in html


# Preview links -------------------------------------------------------------------------------


def make_link(app, client, post: Post) -> str:
    response = client.post(f"/admin/posts/{post.id}/preview-links")
    assert response.status_code == 303
    page = client.get(f"/admin/posts/{post.id}/edit").get_data(as_text=True)
    assert "Preview link made: anyone with it can read this post" in page
    return re.findall(r'class="preview-link-address" value="([^"]+)"', page)[0]


def test_a_preview_link_shows_a_draft_to_anyone_without_caching_or_indexing(app, client, auth):
    auth.login("author")
    write(client, body="A secret draft about the harbour.")
    post = post_row(app)
    address = make_link(app, client, post)
    assert address.startswith("http://blog.test/preview/")
    path = address.removeprefix("http://blog.test")
    stranger = app.test_client()
    for _ in range(2):  # the second request must not come from the page cache either
        response = stranger.get(path)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "BYPASS"
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        html = response.get_data(as_text=True)
        assert "A secret draft about the harbour." in html
        assert '<meta name="robots" content="noindex">' in html
        assert "is a draft. Readers cannot see it yet." in html
        assert "Back to the editor" not in html
    assert stranger.get("/harbour-opens/").status_code == 404  # the post itself stays private


def test_a_revoked_link_stops_working_at_once(app, client, auth):
    auth.login("author")
    write(client)
    post = post_row(app)
    path = make_link(app, client, post).removeprefix("http://blog.test")
    stranger = app.test_client()
    assert stranger.get(path).status_code == 200
    link_id = re.search(
        r"preview-links/(\d+)/revoke", client.get(f"/admin/posts/{post.id}/edit").text
    )
    response = client.post(f"/admin/posts/{post.id}/preview-links/{link_id.group(1)}/revoke")
    assert response.status_code == 303
    assert "Preview link revoked" in client.get(f"/admin/posts/{post.id}/edit").text
    assert stranger.get(path).status_code == 404


def test_a_link_expires_after_seven_days_and_cannot_be_forged(app, client, auth):
    auth.login("author")
    write(client)
    post = post_row(app)
    path = make_link(app, client, post).removeprefix("http://blog.test")
    stranger = app.test_client()
    token = path.split("/")[2]
    payload, signature = token.rsplit(".", 1)
    assert stranger.get(f"/preview/{payload}.{signature[::-1]}/").status_code in (404, 308)
    assert stranger.get(f"/preview/{payload}x.{signature}").status_code == 404
    with time_machine.travel(utcnow() + timedelta(days=6, hours=23), tick=False):
        assert stranger.get(path).status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=False):
        assert stranger.get(path).status_code == 404


def test_only_people_who_may_edit_the_post_make_links_and_only_for_unpublished_posts(
    app, client, auth
):
    auth.login("author")
    write(client)
    post = post_row(app)
    other = app.test_client()
    other.post("/login", data={"email": "other@example.com", "password": "correct horse battery"})
    assert other.post(f"/admin/posts/{post.id}/preview-links").status_code in (302, 403)
    edit(client, post, action="publish")
    client.post(f"/admin/posts/{post.id}/preview-links")
    page = client.get(f"/admin/posts/{post.id}/edit").get_data(as_text=True)
    assert "Only a draft or a scheduled post needs a preview link." in page
    assert "Make a preview link" not in page


def test_a_link_to_a_post_published_since_leads_to_the_public_page(app, client, auth):
    auth.login("author")
    write(client)
    post = post_row(app)
    path = make_link(app, client, post).removeprefix("http://blog.test")
    edit(client, post_row(app), action="publish")
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/harbour-opens/")


def test_previewing_a_published_post_says_readers_see_it(app, client, auth):
    auth.login("author")
    write(client, action="publish")
    post = post_row(app)
    html = client.get(f"/admin/posts/{post.id}/preview").get_data(as_text=True)
    assert "is published. Readers see it at" in html
    assert "Readers cannot see it yet" not in html


# Pinning -------------------------------------------------------------------------------------


def test_an_editor_pins_a_post_to_the_top_of_the_home_page(app, client, auth):
    auth.login("editor")
    write(client, title="Older story", action="publish")
    write(client, title="Newer story", action="publish")
    reader = app.test_client()
    home = reader.get("/").get_data(as_text=True)
    assert home.index("Newer story") < home.index("Older story")
    response = edit(client, post_row(app, "Older story"), pinned="y")
    assert "Pinned to the top of the home page." in client.get(response.headers["Location"]).text
    home = reader.get("/").get_data(as_text=True)
    assert home.index("Older story") < home.index("Newer story")
    assert home.count(">Older story</a>") == 1  # not shown twice
    response = edit(client, post_row(app, "Older story"))  # the box left unticked: unpinned
    assert "No longer pinned" in client.get(response.headers["Location"]).text
    home = reader.get("/").get_data(as_text=True)
    assert home.index("Newer story") < home.index("Older story")


def test_an_author_cannot_pin(app, client, auth):
    auth.login("author")
    write(client, action="publish", pinned="y")
    assert post_row(app).pinned is False
    assert 'name="pinned"' not in client.get(f"/admin/posts/{post_row(app).id}/edit").text


def test_a_pin_needs_the_version_the_editor_showed(app, client, auth):
    auth.login("editor")
    write(client, action="publish")
    post = post_row(app)
    stale = {"title": post.title, "body": post.body_md, "version": str(post.version - 1)}
    response = client.post(f"/admin/posts/{post.id}/edit", data={**stale, "pinned": "y"})
    assert response.status_code == 409
    assert post_row(app).pinned is False


# Messages ------------------------------------------------------------------------------------


def test_every_action_says_what_readers_now_see(app, client, auth):
    auth.login("author")
    response = write(client)
    assert (
        "Draft saved: only people who can edit it see it."
        in client.get(response.headers["Location"]).text
    )
    post = post_row(app)
    response = edit(client, post, action="publish")
    assert (
        "Published: readers see it at /harbour-opens/"
        in client.get(response.headers["Location"]).text
    )
    response = edit(client, post_row(app))
    assert "Updated: readers see the changes at" in client.get(response.headers["Location"]).text
    post = post_row(app)
    response = client.post(f"/admin/posts/{post.id}/unpublish", data={"version": str(post.version)})
    assert "Unpublished: readers no longer see it." in client.get(response.headers["Location"]).text
    assert post_row(app).status == PostStatus.DRAFT


# A category made from the editor -------------------------------------------------------------


def test_an_editor_adds_a_category_from_the_editor(app, client, auth):
    auth.login("editor")
    response = client.post("/admin/categories/new.json", json={"name": "  Harbour  news "})
    assert response.status_code == 201
    assert response.json["name"] == "Harbour news"
    assert "chosen for this post" in response.json["message"]
    with app.app_context():
        assert db.session.get(Category, response.json["id"]).slug == "harbour-news"
    again = client.post("/admin/categories/new.json", json={"name": "harbour news"})
    assert again.status_code == 400 and again.json["error"]
    assert client.post("/admin/categories/new.json", json={"name": 3}).status_code == 400


def test_an_author_cannot_add_categories(app, client, auth):
    auth.login("author")
    assert client.post("/admin/categories/new.json", json={"name": "Mine"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Category)) is None


# One alt text per image ----------------------------------------------------------------------


def alt_shown(text: str) -> str:
    return fingerprint({"alt_text": text})


def test_the_editor_saves_the_alt_text_in_the_library(app, client, auth, users):
    auth.login("author")
    image = add_image(app, uploader=users["author"]["id"])
    response = client.post(
        f"/admin/media/{image}/alt.json", json={"alt_text": "A red boat", "shown": alt_shown("")}
    )
    assert response.status_code == 200
    assert response.json["alt_shown"] == alt_shown("A red boat")
    with app.app_context():
        assert db.session.get(Media, image).alt_text == "A red boat"
    library = client.get("/admin/media/").get_data(as_text=True)
    assert 'value="A red boat"' in library


def test_an_alt_text_changed_elsewhere_is_not_overwritten(app, client, auth, users):
    auth.login("author")
    image = add_image(app, alt="Theirs", uploader=users["author"]["id"])
    response = client.post(
        f"/admin/media/{image}/alt.json", json={"alt_text": "Mine", "shown": alt_shown("")}
    )
    assert response.status_code == 409
    assert "Theirs" in response.json["error"]
    missing = client.post(f"/admin/media/{image}/alt.json", json={"alt_text": "Mine"})
    assert missing.status_code == 400
    with app.app_context():
        assert db.session.get(Media, image).alt_text == "Theirs"


def test_the_library_alt_text_is_the_one_readers_get(app, client, auth, users):
    auth.login("author")
    image = add_image(app, uploader=users["author"]["id"], alt="Old words")
    body = f"Before.\n\n![](/media/{'a' * 32}.jpg)\n\nAfter."  # as the editor inserts it
    write(client, action="publish", body=body)
    reader = app.test_client()
    assert 'alt="Old words"' in reader.get("/harbour-opens/").text
    page = client.get("/admin/media/").get_data(as_text=True)
    shown = re.search(r'name="shown" value="([0-9a-f]+)"', page).group(1)
    response = client.post(f"/admin/media/{image}", data={"alt_text": "A red boat", "shown": shown})
    assert response.status_code == 303
    html = reader.get("/harbour-opens/").get_data(as_text=True)
    assert 'alt="A red boat"' in html and "Old words" not in html
    assert post_row(app).body_md == body  # the author's text is untouched


def test_alt_text_written_in_the_markdown_is_that_spot_s_own(app, client, auth):
    auth.login("author")
    add_image(app, alt="From the library")
    write(client, action="publish", body=f"![From the text](/media/{'a' * 32}.jpg)")
    assert 'alt="From the text"' in app.test_client().get("/harbour-opens/").text


def test_making_and_revoking_links_leaves_the_readers_cache_alone(app, client, auth):
    from blog import generation

    auth.login("author")
    write(client)
    post = post_row(app)
    with app.app_context():
        before = generation.current()
    make_link(app, client, post)
    link_id = re.search(
        r"preview-links/(\d+)/revoke", client.get(f"/admin/posts/{post.id}/edit").text
    )
    client.post(f"/admin/posts/{post.id}/preview-links/{link_id.group(1)}/revoke")
    with app.app_context():
        assert generation.current() == before


def test_a_scheduled_post_can_be_previewed_through_a_link_until_it_is_trashed(app, client, auth):
    auth.login("author")
    when = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    write(client, action="schedule", publish_at=when)
    post = post_row(app)
    assert post.status == PostStatus.SCHEDULED
    path = make_link(app, client, post).removeprefix("http://blog.test")
    stranger = app.test_client()
    assert "is scheduled for" in stranger.get(path).get_data(as_text=True)
    client.post(f"/admin/posts/{post.id}/delete", data={"version": str(post.version)})
    assert stranger.get(path).status_code == 404


def test_bulk_actions_say_what_readers_now_see(app, client, auth):
    auth.login("editor")
    write(client, title="One", action="publish")
    write(client, title="Two", action="publish")
    one, two = post_row(app, "One"), post_row(app, "Two")
    data = {
        "action": "unpublish",
        "post_id": [str(one.id), str(two.id)],
        f"version-{one.id}": str(one.version),
        f"version-{two.id}": str(two.version),
    }
    response = client.post("/admin/posts/bulk", data=data, follow_redirects=True)
    assert "2 posts unpublished: readers no longer see them." in response.get_data(as_text=True)


def test_the_sitemap_leaves_out_a_post_whose_canonical_address_is_elsewhere(app, client, auth):
    auth.login("author")
    write(client, title="Ours", action="publish")
    write(client, title="Reprinted", action="publish", canonical_url="https://elsewhere.example/r")
    write(client, title="Self", action="publish", canonical_url="http://blog.test/self/")
    sitemap = app.test_client().get("/sitemap.xml").get_data(as_text=True)
    assert "http://blog.test/ours/" in sitemap
    assert "http://blog.test/self/" in sitemap
    assert "reprinted" not in sitemap
