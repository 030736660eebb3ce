"""The inbox takes only what the claimed actor signed: HTTP Signatures checked against the key
fetched from the actor's own server (a real one on 127.0.0.1, signing with its own code, see
tests/fediverse.py). Whatever is refused leaves every table it could have touched as it was.
Remote fetches go to public addresses only."""

import base64
import json
import socket
import time
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Flask
from sqlalchemy import func, select

from blog.extensions import db
from blog.federation import remote
from blog.models import (
    Comment,
    FederationDelivery,
    Follower,
    InboxReceipt,
    Reaction,
    RemoteActor,
    RemoteServer,
)
from tests.fediverse import (
    FEDERATED,
    SITE,
    FakeServer,
    new_key,
    public_pem,
    sign,
    signature_holds,
)

STORED = (RemoteActor, RemoteServer, Follower, Reaction, InboxReceipt, FederationDelivery, Comment)


@pytest.fixture
def fediverse():
    with FakeServer() as server:
        yield server


@pytest.fixture
def blog(make_app, users):
    app = make_app(**FEDERATED)
    app.test_client().get("/", headers={"Accept": "application/activity+json"})  # site actor
    return app


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in STORED
        }


def follow(actor) -> dict:
    return actor.activity("Follow", f"{SITE}/")


def post(client, body: bytes, headers: dict):
    headers = {"Content-Type": "application/activity+json", **headers}
    return client.post("/inbox", data=body, headers=headers, base_url=SITE)


def signed(actor, activity: dict, **options) -> tuple[bytes, dict]:
    body = json.dumps(activity).encode()
    return body, sign(actor.key, actor.key_id, body, **options)


def test_a_correctly_signed_follow_is_accepted(blog, fediverse):
    alice = fediverse.add_actor("alice")
    response = post(blog.test_client(), *signed(alice, follow(alice)))
    assert response.status_code == 202, response.get_data(as_text=True)
    stored = counts(blog)
    assert stored["Follower"] == 1 and stored["RemoteActor"] == 1 and stored["InboxReceipt"] == 1
    with blog.app_context():
        remote_actor = db.session.scalar(select(RemoteActor))
        assert remote_actor.uri == alice.id
        assert remote_actor.public_key_pem == public_pem(alice.key)
        assert remote_actor.shared_inbox == fediverse.base + "/inbox"
        assert db.session.scalar(select(RemoteServer.host)) == "127.0.0.1"


def test_the_key_is_fetched_with_a_request_signed_by_the_site(blog, fediverse):
    """Servers in "authorized fetch" mode answer only signed requests: the fetch of the key is
    signed by the site's actor, and that signature holds for the remote's own check."""
    alice = fediverse.add_actor("alice")
    assert post(blog.test_client(), *signed(alice, follow(alice))).status_code == 202
    [headers] = fediverse.headers
    assert 'keyId="http://blog.test/#main-key"' in headers["Signature"]
    assert headers["Host"] == urlsplit(fediverse.base).netloc
    site_actor = json.loads(
        blog.test_client().get("/", headers={"Accept": "application/activity+json"}).text
    )
    pem = site_actor["publicKey"]["publicKeyPem"]
    assert signature_holds(headers, "GET", "/users/alice", pem)
    assert not signature_holds(headers, "GET", "/users/bob", pem)


def test_an_unsigned_request_is_refused_and_changes_nothing(blog, fediverse):
    alice = fediverse.add_actor("alice")
    before = counts(blog)
    body = json.dumps(follow(alice)).encode()
    response = post(blog.test_client(), body, {"Date": formatdate(usegmt=True)})
    assert response.status_code == 401
    assert counts(blog) == before


def test_a_signature_by_another_key_is_refused(blog, fediverse):
    alice = fediverse.add_actor("alice")
    before = counts(blog)
    body = json.dumps(follow(alice)).encode()
    forged = sign(new_key(), alice.key_id, body)
    assert post(blog.test_client(), body, forged).status_code == 401
    assert counts(blog) == before
    assert fediverse.requests == ["/users/alice"]  # the key was fetched, then not trusted


def test_an_altered_body_is_refused(blog, fediverse):
    alice = fediverse.add_actor("alice")
    before = counts(blog)
    body, headers = signed(alice, follow(alice))
    altered = body.replace(b"Follow", b"Folloq")
    assert post(blog.test_client(), altered, headers).status_code == 401
    # The same body with a Digest made for it, but the signature over the old one.
    headers_for_altered = dict(headers, Digest=sign(alice.key, alice.key_id, altered)["Digest"])
    assert post(blog.test_client(), altered, headers_for_altered).status_code == 401
    assert counts(blog) == before


@pytest.mark.parametrize("hours", [-13, 13])
def test_a_stale_or_future_date_is_refused(blog, fediverse, hours):
    alice = fediverse.add_actor("alice")
    before = counts(blog)
    date = formatdate(time.time() + hours * 3600, usegmt=True)
    assert post(blog.test_client(), *signed(alice, follow(alice), date=date)).status_code == 401
    assert counts(blog) == before


def test_an_hs2019_signature_with_created_is_accepted(blog, fediverse):
    """Newer servers sign `(created)` and give it unquoted, with the algorithm hs2019."""
    alice = fediverse.add_actor("alice")
    body = json.dumps(follow(alice)).encode()
    created = int(time.time())
    digest = sign(alice.key, alice.key_id, body)["Digest"]
    text = (
        f"(request-target): post /inbox\n(created): {created}\nhost: blog.test\n"
        f"date: {formatdate(usegmt=True)}\ndigest: {digest}"
    )
    date = text.split("date: ")[1].split("\n")[0]
    signature = base64.b64encode(
        alice.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    headers = {
        "Date": date,
        "Digest": digest,
        "Signature": (
            f'keyId="{alice.key_id}",algorithm="hs2019",created={created},'
            f'headers="(request-target) (created) host date digest",signature="{signature}"'
        ),
    }
    assert post(blog.test_client(), body, headers).status_code == 202
    assert counts(blog)["Follower"] == 1


def test_a_replayed_request_is_refused(blog, fediverse):
    alice = fediverse.add_actor("alice")
    body, headers = signed(alice, alice.activity("Like", f"{SITE}/harbour-opens/"))
    client = blog.test_client()
    assert post(client, body, headers).status_code == 202
    after_first = counts(blog)
    assert post(client, body, headers).status_code == 401
    assert counts(blog) == after_first


def test_the_signature_must_cover_the_digest_host_and_target(blog, fediverse):
    alice = fediverse.add_actor("alice")
    before = counts(blog)
    client = blog.test_client()
    for names in (
        ("(request-target)", "host", "date"),
        ("host", "date", "digest"),
        ("(request-target)", "date", "digest"),
    ):
        assert post(client, *signed(alice, follow(alice), names=names)).status_code == 401, names
    # Signed for another host or another path: the signature does not match this request.
    assert post(client, *signed(alice, follow(alice), host="other.example")).status_code == 401
    assert post(client, *signed(alice, follow(alice), path="/users/x/inbox")).status_code == 401
    assert counts(blog) == before


def test_an_actor_cannot_sign_for_another(blog, fediverse):
    alice = fediverse.add_actor("alice")
    mallory = fediverse.add_actor("mallory")
    before = counts(blog)
    activity = alice.activity("Follow", f"{SITE}/")
    response = post(blog.test_client(), *signed(mallory, activity))
    assert response.status_code == 401
    assert counts(blog) == before


def test_a_key_on_a_private_address_is_never_fetched(blog):
    before = counts(blog)
    key = new_key()
    for key_id in (
        "http://10.0.0.1/users/x#main-key",
        "http://169.254.169.254/latest/meta-data#main-key",
    ):
        activity = {"type": "Follow", "actor": key_id.split("#")[0], "object": f"{SITE}/"}
        body = json.dumps(activity).encode()
        started = time.monotonic()
        assert post(blog.test_client(), body, sign(key, key_id, body)).status_code == 401
        assert time.monotonic() - started < 2  # refused, not waiting for a connection
    assert counts(blog) == before


def test_a_rotated_key_is_fetched_again_once(blog, fediverse):
    alice = fediverse.add_actor("alice")
    client = blog.test_client()
    assert post(client, *signed(alice, follow(alice))).status_code == 202
    assert post(client, *signed(alice, alice.activity("Undo", follow(alice)))).status_code == 202
    assert fediverse.requests == ["/users/alice"]  # the cached key served the second request
    alice.key = new_key()  # the server rotates the key
    assert post(client, *signed(alice, follow(alice))).status_code == 202
    assert fediverse.requests == ["/users/alice", "/users/alice"]
    with blog.app_context():
        assert db.session.scalar(select(RemoteActor.public_key_pem)) == public_pem(alice.key)
        assert db.session.scalar(select(func.count(RemoteActor.id))) == 1
    # A signature that fails even with the fresh key: refused after one fetch, key kept.
    before = counts(blog)
    body = json.dumps(follow(alice)).encode()
    assert post(client, body, sign(new_key(), alice.key_id, body)).status_code == 401
    assert len(fediverse.requests) == 3
    assert counts(blog) == before


def test_a_blocked_server_is_refused_with_403(blog, fediverse):
    alice = fediverse.add_actor("alice")
    with blog.app_context():
        db.session.add(RemoteServer(host="127.0.0.1", blocked=True))
        db.session.commit()
    before = counts(blog)
    assert post(blog.test_client(), *signed(alice, follow(alice))).status_code == 403
    assert counts(blog) == before
    assert fediverse.requests == []


def test_each_server_is_rate_limited(make_app, users, fediverse):
    app = make_app(**FEDERATED, FEDERATION_INBOX_PER_SERVER=2)
    alice = fediverse.add_actor("alice")
    client = app.test_client()
    for _ in range(2):
        assert post(client, *signed(alice, follow(alice))).status_code == 202
    refused = post(client, *signed(alice, follow(alice)))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_a_large_body_or_another_type_is_refused(make_app, users, fediverse):
    app = make_app(**FEDERATED, FEDERATION_INBOX_MAX_BYTES=2000)
    alice = fediverse.add_actor("alice")
    client = app.test_client()
    big = follow(alice)
    big["padding"] = "x" * 5000
    assert post(client, *signed(alice, big)).status_code == 413
    body, headers = signed(alice, follow(alice))
    response = client.post(
        "/inbox", data=body, headers={**headers, "Content-Type": "text/plain"}, base_url=SITE
    )
    assert response.status_code == 415
    assert counts(app)["Follower"] == 0


def test_a_delete_of_an_unknown_account_that_is_gone_is_accepted_and_ignored(blog, fediverse):
    ghost = fediverse.add_actor("ghost")
    fediverse.documents["/users/ghost"] = (410, {"type": "Tombstone"})
    before = counts(blog)
    response = post(blog.test_client(), *signed(ghost, ghost.activity("Delete", ghost.id)))
    assert response.status_code == 202
    assert counts(blog) == before


def test_unknown_activities_are_accepted_and_ignored(blog, fediverse):
    alice = fediverse.add_actor("alice")
    response = post(blog.test_client(), *signed(alice, alice.activity("Flag", f"{SITE}/")))
    assert response.status_code == 202
    assert counts(blog)["Follower"] == 0


# Remote fetches ------------------------------------------------------------------------------


@pytest.fixture
def listening():
    """A TCP socket on 127.0.0.1 that would notice any connection."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.3)
        yield server


def connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except TimeoutError:
        return False
    connection.close()
    return True


@pytest.mark.parametrize("url", ["https://10.0.0.1/users/x", "https://169.254.169.254/latest"])
def test_private_addresses_are_refused_without_connecting(app, url):
    with app.app_context():
        started = time.monotonic()
        with pytest.raises(remote.ForbiddenAddress):
            remote.fetch_json(url)
        assert time.monotonic() - started < 1


def test_loopback_is_refused_unless_allowed(tmp_path, listening):
    port = listening.getsockname()[1]
    app = Flask(__name__)
    app.config.update(
        SITE_URL=SITE, FEDERATION_ALLOW_LOOPBACK=False, FEDERATION_MAX_REDIRECTS=3,
        FEDERATION_FETCH_TIMEOUT=2, FEDERATION_FETCH_MAX_BYTES=1000,
    )  # fmt: skip
    with app.app_context():
        for url in (f"https://localhost:{port}/users/x", f"https://127.0.0.1:{port}/users/x"):
            with pytest.raises(remote.ForbiddenAddress):
                remote.fetch_json(url)
        with pytest.raises(remote.ForbiddenAddress):  # plain http only with loopback allowed
            remote.fetch_json(f"http://localhost:{port}/users/x")
    assert not connected(listening)
    app.config["FEDERATION_ALLOW_LOOPBACK"] = True
    with app.app_context(), pytest.raises(remote.RemoteError):
        remote.fetch_json(f"http://localhost:{port}/users/x")  # allowed: it connects
    assert connected(listening)
