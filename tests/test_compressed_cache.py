"""Compressed pages from the page cache: gzip for the clients that take it, plain for the others.

A reader's browser asks with `Accept-Encoding`; what it gets back, once decompressed, must be
the very page a client without compression gets, on the first request (the miss, through
Flask) as on every hit after it (the fast path), and revalidation must keep working for both.
"""

import gzip
import re
import time

import pytest

from blog import comment_guard
from blog.extensions import db
from blog.models import User
from blog.posts import Action, PostInput, save_post
from tests.conftest import PASSWORD

BROWSER = "gzip, deflate, br, zstd"  # what current browsers send
ARTICLE = "/harbour-opens/"


@pytest.fixture
def article(app, users):
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        body = "The harbour opens on Monday. " * 200  # long enough for gzip to matter
        save_post(None, PostInput(title="Harbour opens", body_md=body), author, Action.PUBLISH)
        db.session.commit()
    return ARTICLE


def tokens(page: bytes) -> list[str]:
    return re.findall(r'name="form_token" value="([^"]+)"', page.decode())


def without_tokens(page: bytes) -> bytes:
    """Each reader gets a comment form token of their own; the rest is the same for all."""
    return re.sub(rb'name="form_token" value="[^"]+"', b'name="form_token"', page)


def assert_varies_on_encoding(response) -> None:
    """One Vary header naming Accept-Encoding and Cookie (and Accept on the pages that also
    answer ActivityStreams JSON: the home page, articles, authors' pages)."""
    [vary] = response.headers.getlist("Vary")
    names = [name.strip() for name in vary.split(",")]
    assert {"Accept-Encoding", "Cookie"} <= set(names) <= {"Accept", "Accept-Encoding", "Cookie"}
    assert len(names) == len(set(names))


def hit(client, url: str, encoding: str | None = BROWSER, method: str = "GET"):
    """The page's second answer, which must come from the cache."""
    headers = {"Accept-Encoding": encoding} if encoding is not None else {}
    client.open(url, method=method, headers=headers)
    response = client.open(url, method=method, headers=headers)
    assert response.status_code == 200 and response.headers["X-Cache"] == "HIT"
    return response


@pytest.mark.parametrize("url", [ARTICLE, "/", "/feed.xml"])
def test_a_compressed_hit_is_the_plain_page_once_decompressed(app, article, url):
    plain = hit(app.test_client(), url, encoding=None)
    packed = hit(app.test_client(), url)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
    assert without_tokens(gzip.decompress(packed.data)) == without_tokens(plain.data)
    assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
    assert packed.headers["ETag"] != plain.headers["ETag"]  # one validator per representation
    for response in (plain, packed):
        assert_varies_on_encoding(response)


@pytest.mark.parametrize(
    "encoding",
    [None, "", "identity", "deflate, br", "gzip;q=0", "GZIP; Q=0.000", "*;q=0", "gzip;q=0, *"],
)
def test_a_client_that_does_not_take_gzip_gets_the_plain_bytes(app, article, encoding):
    response = hit(app.test_client(), ARTICLE, encoding)
    assert "Content-Encoding" not in response.headers
    assert b"The harbour opens on Monday." in response.data
    assert int(response.headers["Content-Length"]) == len(response.data)


@pytest.mark.parametrize("encoding", ["gzip", "GZip", "x-gzip", "br;q=1, gzip;q=0.5", "*"])
def test_any_way_of_accepting_gzip_gets_it(app, article, encoding):
    response = hit(app.test_client(), ARTICLE, encoding)
    assert response.headers["Content-Encoding"] == "gzip"
    assert b"The harbour opens on Monday." in gzip.decompress(response.data)


def test_the_first_request_is_answered_as_the_hits_after_it(app, article):
    reader = app.test_client()
    missed = reader.get(ARTICLE, headers={"Accept-Encoding": BROWSER})
    hits = [reader.get(ARTICLE, headers={"Accept-Encoding": BROWSER}) for _ in range(2)]
    assert missed.headers["X-Cache"] == "MISS"
    assert [response.headers["X-Cache"] for response in hits] == ["HIT", "HIT"]
    for response in hits:
        assert without_tokens(gzip.decompress(response.data)) == without_tokens(
            gzip.decompress(missed.data)
        )
        assert len(response.data) == len(missed.data)
        kept = {"Set-Cookie", "X-Cache", "Date"}
        assert sorted(h for h in response.headers if h[0] not in kept) == sorted(
            h for h in missed.headers if h[0] not in kept
        )
    assert missed.headers["Content-Encoding"] == "gzip"
    plain = app.test_client().get(ARTICLE)  # a hit now, for a client without gzip
    assert plain.headers["X-Cache"] == "HIT"
    assert without_tokens(gzip.decompress(missed.data)) == without_tokens(plain.data)


def test_each_reader_of_a_compressed_article_gets_a_fresh_valid_form_token(app, article):
    secret = str(app.config["SECRET_KEY"]).encode()
    reader = app.test_client()
    seen = []
    for _ in range(3):  # the miss, then two hits
        page = gzip.decompress(reader.get(ARTICLE, headers={"Accept-Encoding": "gzip"}).data)
        assert comment_guard.PLACEHOLDER.encode() not in page
        (token,) = tokens(page)
        comment_guard.read_token(secret, token, now=time.time() + comment_guard.MIN_SECONDS)
        seen.append(token)
    assert len(set(seen)) == 3


@pytest.mark.parametrize("encoding", [None, BROWSER])
def test_a_current_etag_is_answered_304_for_each_representation(app, make_app, article, encoding):
    headers = {"Accept-Encoding": encoding} if encoding else {}
    first = hit(app.test_client(), ARTICLE, encoding)
    tag = first.headers["ETag"]
    asked = dict(headers, **{"If-None-Match": tag})
    # the fast path (this process stored the page) and Flask's path (another process has not)
    for reader in (app.test_client(), make_app().test_client()):
        response = reader.get(ARTICLE, headers=asked)
        assert response.status_code == 304 and response.data == b""
        assert response.headers["ETag"] == tag
        assert_varies_on_encoding(response)


def test_the_other_representations_etag_gets_the_page_not_a_304(app, article):
    plain_tag = hit(app.test_client(), ARTICLE, None).headers["ETag"]
    packed_tag = hit(app.test_client(), ARTICLE).headers["ETag"]
    reader = app.test_client()
    packed = reader.get(ARTICLE, headers={"Accept-Encoding": "gzip", "If-None-Match": plain_tag})
    assert packed.status_code == 200 and packed.headers["Content-Encoding"] == "gzip"
    plain = reader.get(ARTICLE, headers={"If-None-Match": packed_tag})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    both = reader.get(ARTICLE, headers={"If-None-Match": f"{plain_tag}, {packed_tag}"})
    assert both.status_code == 304 and both.headers["ETag"] == plain_tag


def test_head_says_the_length_of_the_representation_it_would_send(app, article):
    packed = hit(app.test_client(), ARTICLE)
    head = hit(app.test_client(), ARTICLE, method="HEAD")
    assert head.data == b"" and head.headers["Content-Encoding"] == "gzip"
    assert head.headers["Content-Length"] == str(len(packed.data))
    assert head.headers["ETag"] == packed.headers["ETag"]


def test_compressed_copies_count_against_the_cache_size(app, article):
    from blog.page_cache import cache_for

    plain = hit(app.test_client(), ARTICLE, None)
    packed = hit(app.test_client(), ARTICLE)
    assert cache_for(app).size >= len(plain.data) + len(packed.data)


def test_signed_in_pages_are_left_plain(app, article, users):
    editor = app.test_client()
    editor.post("/login", data={"email": users["editor"]["email"], "password": PASSWORD})
    response = editor.get(ARTICLE, headers={"Accept-Encoding": BROWSER})
    assert response.headers["X-Cache"] == "BYPASS"
    assert "Content-Encoding" not in response.headers  # nginx compresses those (deploy/)


@pytest.mark.parametrize("where", ["middle", "ends", "twice, side by side"])
def test_a_packed_page_decompresses_to_the_page_with_the_token(where):
    from blog import gzip_pages

    slot, token = b"#" * 8, b"A1b2C3d4"
    text = b"<p>Words, words and more words.</p>" * 50
    body = {
        "middle": text + slot + text,
        "ends": slot + text + slot,
        "twice, side by side": text + slot + slot + text,
    }[where]
    packed = gzip_pages.pack(body, slot)
    assert gzip.decompress(packed.filled(slot)) == body
    assert gzip.decompress(packed.filled(token)) == body.replace(slot, token)
    assert len(packed.filled(token)) == packed.length < len(body) / 4
    plain = gzip_pages.pack(text)
    assert plain.slots == 0 and gzip.decompress(plain.filled(token)) == text
