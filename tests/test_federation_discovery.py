"""Discovery: how a fediverse server finds the blog (WebFinger, NodeInfo, host-meta), the
actor and article documents on the addresses a browser sees, the outbox and collections, and
the page cache keeping the JSON and the HTML of one address apart."""

import io
import json
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from PIL import Image
from sqlalchemy import event
from werkzeug.datastructures import FileStorage

from blog import media as media_service
from blog.extensions import db
from blog.models import Follower, LocalActor, Post, RemoteActor, User, utcnow
from blog.posts import Action, PostInput, save_post
from blog.settings import set_settings
from tests.fediverse import FEDERATED, SITE, publish

JSON = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


def federated(make_app, **options):
    return make_app(**FEDERATED, **options)


def as_json(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.loads(response.get_data(as_text=True))


def settings(app, **values):
    with app.app_context():
        set_settings(values)
        db.session.commit()


# Off -----------------------------------------------------------------------------------------


def test_everything_is_404_and_pages_stay_html_while_federation_is_off(app, users):
    publish(app, users)
    client = app.test_client()
    for path in (
        "/.well-known/webfinger?resource=acct:blog@blog.test",
        "/.well-known/nodeinfo",
        "/nodeinfo/2.0",
        "/.well-known/host-meta",
        "/outbox",
        "/followers",
        "/following",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post("/inbox", data=b"{}", content_type=JSON).status_code == 404
    home = client.get("/", headers={"Accept": JSON})
    assert home.mimetype == "text/html"
    assert "application/activity+json" not in home.get_data(as_text=True)


def test_the_setting_alone_does_not_turn_it_on_for_a_plain_http_site(app, users):
    settings(app, federation_enabled=True)
    assert app.test_client().get("/.well-known/nodeinfo").status_code == 404


def test_the_setting_turns_it_on_for_an_https_site(make_app, users):
    app = make_app(SITE_URL="https://blog.example")
    settings(app, federation_enabled=True)
    client = app.test_client()
    found = as_json(client.get("/.well-known/webfinger?resource=acct:blog@blog.example"))
    assert found["links"][0]["href"] == "https://blog.example/"


# WebFinger, NodeInfo, host-meta --------------------------------------------------------------


def test_webfinger_finds_the_site_actor_by_name_and_by_address(make_app, users):
    app = federated(make_app)
    client = app.test_client()
    for resource in ("acct:blog@blog.test", "acct:BLOG@Blog.Test", f"{SITE}/"):
        response = client.get("/.well-known/webfinger", query_string={"resource": resource})
        assert response.mimetype == "application/jrd+json"
        found = as_json(response)
        assert found["subject"] == "acct:blog@blog.test"
        self_link = next(link for link in found["links"] if link["rel"] == "self")
        assert self_link == {"rel": "self", "type": JSON, "href": f"{SITE}/"}
        profile = [link for link in found["links"] if link["rel"].endswith("profile-page")]
        assert profile[0]["href"] == f"{SITE}/"


def test_webfinger_uses_the_name_from_settings(make_app, users):
    app = federated(make_app)
    settings(app, federation_actor_name="harbour")
    client = app.test_client()
    assert client.get("/.well-known/webfinger?resource=acct:blog@blog.test").status_code == 404
    found = as_json(client.get("/.well-known/webfinger?resource=acct:harbour@blog.test"))
    assert found["subject"] == "acct:harbour@blog.test"


def test_webfinger_refuses_malformed_and_answers_404_for_unknown(make_app, users):
    client = federated(make_app).test_client()
    for resource in ("", "blog", "acct:", "acct:blog", "acct:@blog.test", "mailto:x@y"):
        response = client.get("/.well-known/webfinger", query_string={"resource": resource})
        assert response.status_code == 400, resource
    for resource in (
        "acct:nobody@blog.test",
        "acct:blog@elsewhere.example",
        f"{SITE}/harbour-opens/",
        "https://elsewhere.example/",
        "acct:ann-author@blog.test",  # author actors are off
    ):
        response = client.get("/.well-known/webfinger", query_string={"resource": resource})
        assert response.status_code == 404, resource


def test_authors_are_found_only_when_they_have_actors(make_app, users):
    app = federated(make_app)
    client = app.test_client()
    query = {"resource": "acct:ann-author@blog.test"}
    assert client.get("/.well-known/webfinger", query_string=query).status_code == 404
    assert client.get("/author/ann-author/", headers={"Accept": JSON}).mimetype == "text/html"
    settings(app, federation_author_actors=True)
    found = as_json(client.get("/.well-known/webfinger", query_string=query))
    assert found["links"][0]["href"] == f"{SITE}/author/ann-author/"
    by_address = {"resource": f"{SITE}/author/ann-author/"}
    assert as_json(client.get("/.well-known/webfinger", query_string=by_address))["subject"] == (
        "acct:ann-author@blog.test"
    )
    publish(app, users, "Ann writes")
    publish(app, users, "Otto writes", who="other_author")
    article = as_json(client.get("/ann-writes/", headers={"Accept": JSON}))
    assert article["attributedTo"] == f"{SITE}/author/ann-author/"
    assert article["cc"] == [f"{SITE}/author/ann-author/followers"]
    outbox = as_json(client.get("/author/ann-author/outbox?page=1"))
    assert [item["object"]["name"] for item in outbox["orderedItems"]] == ["Ann writes"]
    assert as_json(client.get("/outbox"))["totalItems"] == 2  # the site's lists them all
    actor = as_json(client.get("/author/ann-author/", headers={"Accept": JSON}))
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "ann-author"
    assert actor["name"] == "Ann Author"
    assert actor["outbox"] == f"{SITE}/author/ann-author/outbox"
    assert actor["inbox"] == f"{SITE}/inbox"
    assert actor["publicKey"]["id"] == f"{SITE}/author/ann-author/#main-key"
    assert client.get("/author/nobody/outbox").status_code == 404


def test_nodeinfo_describes_the_software_and_counts_public_articles(make_app, users):
    app = federated(make_app)
    publish(app, users, "One")
    publish(app, users, "Two")
    with app.app_context():
        draft = save_post(
            None, PostInput(title="Draft", body_md="x"), db.session.get(User, users["author"]["id"])
        )
        db.session.commit()
        assert draft.id
    client = app.test_client()
    links = as_json(client.get("/.well-known/nodeinfo"))["links"]
    assert [link["href"] for link in links] == [f"{SITE}/nodeinfo/2.0", f"{SITE}/nodeinfo/2.1"]
    for version in ("2.0", "2.1"):
        info = as_json(client.get(f"/nodeinfo/{version}"))
        assert info["version"] == version
        assert info["software"]["name"] == "blog"
        assert info["protocols"] == ["activitypub"]
        assert info["usage"] == {"users": {"total": 1}, "localPosts": 2}
        assert info["openRegistrations"] is False
    assert client.get("/nodeinfo/1.0").status_code == 404


def test_host_meta_points_at_webfinger(make_app, users):
    response = federated(make_app).test_client().get("/.well-known/host-meta")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'template="{SITE}/.well-known/webfinger?resource={{uri}}"' in body


# Actor and article documents -----------------------------------------------------------------


def test_the_home_page_answers_the_site_actor_to_activity_json(make_app, users):
    app = federated(make_app)
    settings(app, site_title="Harbour <News>", tagline="Boats & tides")
    client = app.test_client()
    for accept in (JSON, LD, "application/activity+json, application/ld+json"):
        response = client.get("/", headers={"Accept": accept})
        assert response.mimetype == JSON
        assert "Accept" in response.headers["Vary"]
        actor = as_json(response)
        assert actor["id"] == f"{SITE}/"
        assert actor["type"] == "Service"
        assert actor["preferredUsername"] == "blog"
        assert actor["name"] == "Harbour <News>"
        assert actor["summary"] == "<p>Boats &amp; tides</p>"
        assert actor["inbox"] == f"{SITE}/inbox"
        assert actor["endpoints"]["sharedInbox"] == f"{SITE}/inbox"
        assert actor["outbox"] == f"{SITE}/outbox"
        assert actor["followers"] == f"{SITE}/followers"
        assert actor["following"] == f"{SITE}/following"
        assert actor["manuallyApprovesFollowers"] is False
        assert actor["discoverable"] is True
        assert actor["publicKey"]["id"] == f"{SITE}/#main-key"
        assert actor["publicKey"]["owner"] == f"{SITE}/"
        serialization.load_pem_public_key(actor["publicKey"]["publicKeyPem"].encode())
    again = as_json(client.get("/", headers={"Accept": JSON}))
    assert again["publicKey"] == actor["publicKey"]  # made once, kept
    with app.app_context():
        assert db.session.query(LocalActor).count() == 1
    assert "icon" not in actor
    settings(app, touch_icon_file="icon-180.png")
    icon = as_json(client.get("/", headers={"Accept": JSON}))["icon"]
    assert icon == {"type": "Image", "mediaType": "image/png", "url": f"{SITE}/media/icon-180.png"}
    settings(app, federation_actor_summary="Follow <us>")
    assert (
        as_json(client.get("/", headers={"Accept": JSON}))["summary"] == "<p>Follow &lt;us&gt;</p>"
    )


def _png() -> FileStorage:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), (20, 120, 200)).save(buffer, "PNG")
    buffer.seek(0)
    return FileStorage(buffer, filename="harbour.png")


def test_an_article_address_answers_its_article_object(make_app, users):
    app = federated(make_app)
    with app.test_request_context():
        author = db.session.get(User, users["author"]["id"])
        image = media_service.save_upload(_png(), author)
        db.session.flush()
        data = PostInput(
            title="Harbour opens",
            body_md="See [the map](/map/) and ![a boat](/media/boat.png).",
            excerpt="The new harbour.",
            tags="boats, Sea Life",
            featured_media_id=image.id,
            featured_alt="The quay at dawn",
        )
        post = save_post(None, data, author, Action.PUBLISH)
        db.session.commit()
        slug = post.slug
    client = app.test_client()
    response = client.get(f"/{slug}/", headers={"Accept": JSON})
    assert response.mimetype == JSON
    article = as_json(response)
    address = f"{SITE}/{slug}/"
    assert article["id"] == address
    assert article["type"] == "Article"
    assert article["url"] == address
    assert article["name"] == "Harbour opens"
    assert article["summary"] == "<p>The new harbour.</p>"
    assert article["attributedTo"] == f"{SITE}/"
    assert f'href="{SITE}/map/"' in article["content"]
    assert f'src="{SITE}/media/boat.png"' in article["content"]
    assert article["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
    assert article["cc"] == [f"{SITE}/followers"]
    assert article["published"].endswith("Z")
    [attachment] = article["attachment"]
    assert attachment["type"] == "Image"
    assert attachment["name"] == "The quay at dawn"
    assert attachment["url"].startswith(f"{SITE}/media/")
    assert attachment["mediaType"] == "image/png"
    assert sorted(tag["name"] for tag in article["tag"]) == ["#SeaLife", "#boats"]
    assert all(
        tag["type"] == "Hashtag" and tag["href"].startswith(f"{SITE}/tag/")
        for tag in article["tag"]
    )
    html = client.get(f"/{slug}/")
    assert html.mimetype == "text/html"
    assert "Accept" in html.headers["Vary"]
    assert f'<link rel="alternate" type="application/activity+json" href="{address}">' in (
        html.get_data(as_text=True)
    )


def test_drafts_and_pages_have_no_article_object(make_app, users):
    app = federated(make_app)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        save_post(None, PostInput(title="Secret", body_md="x"), author)
        page = save_post(
            None, PostInput(title="About", body_md="x", kind="page"), author, Action.PUBLISH
        )
        db.session.commit()
        assert page.kind.value == "page"
    client = app.test_client()
    assert client.get("/secret/", headers={"Accept": JSON}).status_code == 404
    about = client.get("/about/", headers={"Accept": JSON})
    assert about.mimetype == "text/html"
    assert "application/activity+json" not in about.get_data(as_text=True)


def test_the_page_cache_never_mixes_json_and_html(make_app, users):
    """With the page cached (HIT), a JSON request gets JSON; the browser still gets HTML."""
    app = federated(make_app)
    publish(app, users)
    client = app.test_client()
    for path in ("/", "/harbour-opens/"):
        client.get(path)
        warm = client.get(path)
        assert warm.headers["X-Cache"] == "HIT"
        for _ in range(2):
            response = client.get(path, headers={"Accept": JSON})
            assert response.mimetype == JSON, path
            assert "X-Cache" not in response.headers or response.headers["X-Cache"] != "HIT"
            assert json.loads(response.get_data(as_text=True))["id"].startswith(SITE)
        browser = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
        assert browser.mimetype == "text/html"
        assert browser.headers["X-Cache"] == "HIT"
        assert "Accept" in browser.headers["Vary"]


def test_json_asked_first_is_not_stored_for_browsers(make_app, users):
    app = federated(make_app)
    publish(app, users)
    client = app.test_client()
    assert client.get("/harbour-opens/", headers={"Accept": JSON}).mimetype == JSON
    first = client.get("/harbour-opens/")
    assert first.mimetype == "text/html" and first.headers["X-Cache"] == "MISS"
    assert client.get("/harbour-opens/").headers["X-Cache"] == "HIT"


# Collections ---------------------------------------------------------------------------------


def _count_queries(app, client, url: str) -> tuple[int, dict]:
    statements = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        document = as_json(client.get(url))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements), document


def test_the_outbox_lists_public_articles_newest_first_in_pages(make_app, users):
    app = federated(make_app)
    start = utcnow() - timedelta(days=30)
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        for number in range(25):
            post = save_post(
                None,
                PostInput(title=f"Story {number}", body_md="Text.", tags=f"t{number % 3}"),
                author,
                Action.PUBLISH,
            )
            post.published_at = start + timedelta(hours=number)
        save_post(None, PostInput(title="Draft", body_md="x"), author)
        db.session.commit()
    client = app.test_client()
    collection = as_json(client.get("/outbox"))
    assert collection["type"] == "OrderedCollection"
    assert collection["totalItems"] == 25
    assert collection["first"] == f"{SITE}/outbox?page=1"
    assert collection["last"] == f"{SITE}/outbox?page=2"
    full_queries, first = _count_queries(app, client, "/outbox?page=1")
    assert first["type"] == "OrderedCollectionPage"
    assert first["next"] == f"{SITE}/outbox?page=2" and "prev" not in first
    titles = [item["object"]["name"] for item in first["orderedItems"]]
    assert titles == [f"Story {number}" for number in range(24, 4, -1)]
    assert all(item["type"] == "Create" for item in first["orderedItems"])
    assert first["orderedItems"][0]["object"]["tag"][0]["type"] == "Hashtag"
    short_queries, second = _count_queries(app, client, "/outbox?page=2")
    assert [item["object"]["name"] for item in second["orderedItems"]] == [
        f"Story {number}" for number in range(4, -1, -1)
    ]
    assert second["prev"] == f"{SITE}/outbox?page=1" and "next" not in second
    assert full_queries == short_queries <= 8  # 20 articles cost no more than 5
    assert client.get("/outbox?page=0").status_code == 404
    assert client.get("/outbox?page=x").status_code == 404


def test_followers_are_counted_not_listed_and_following_is_empty(make_app, users):
    app = federated(make_app)
    client = app.test_client()
    client.get("/", headers={"Accept": JSON})  # makes the site's actor
    with app.app_context():
        site_actor = db.session.query(LocalActor).one()
        for number in range(3):
            remote = RemoteActor(
                uri=f"https://m{number}.example/users/x", host=f"m{number}.example",
                inbox=f"https://m{number}.example/inbox",
            )  # fmt: skip
            db.session.add(Follower(local_actor=site_actor, remote_actor=remote))
        db.session.commit()
    followers = as_json(client.get("/followers"))
    assert followers["totalItems"] == 3
    assert "orderedItems" not in followers and "items" not in followers
    assert "m0.example" not in json.dumps(followers)
    following = as_json(client.get("/following"))
    assert following["totalItems"] == 0 and following["orderedItems"] == []
    assert client.get("/author/ann-author/followers").status_code == 404


def test_every_published_post_counts_in_the_outbox_only_while_public(make_app, users):
    app = federated(make_app)
    post_id = publish(app, users)
    client = app.test_client()
    assert as_json(client.get("/outbox"))["totalItems"] == 1
    with app.app_context():
        db.session.get(Post, post_id).deleted_at = utcnow()
        db.session.commit()
    assert as_json(client.get("/outbox"))["totalItems"] == 0
