"""The remote fediverse server the interoperability tests use (tests/fediverse_remote.py),
proven on its own: two of them follow each other and exchange a signed note, and its inbox
refuses what a real server refuses. No blog code is involved, so a failure here is the
harness's, not the blog's."""

import http.client
import json
import time
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest

from tests.fediverse_remote import AS, RemoteServer, expanded, values


@pytest.fixture
def servers():
    alice = RemoteServer("alice", "Alice Aardvark").start()
    bob = RemoteServer("bob", "Bob Badger").start()
    yield alice, bob
    alice.stop()
    bob.stop()


def raw_post(url: str, body: bytes, headers: dict) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_webfinger_and_actor_document_are_what_servers_look_up(servers):
    alice, bob = servers
    assert bob.lookup(alice.handle) == alice.actor_id
    inbox, document = bob.fetch_actor(alice.actor_id)
    node = expanded(document)
    assert node["@id"] == alice.actor_id
    assert values(node, "name") == ["Alice Aardvark"]
    assert inbox == alice.inbox
    [key] = node["https://w3id.org/security#publicKey"]
    assert key["@id"] == alice.key_id


def test_follow_is_verified_and_accepted_with_a_signature_the_follower_verifies(servers):
    alice, bob = servers
    follow = bob.follow(alice.handle)

    got = alice.wait_for("Follow", where=lambda a: a["id"] == follow["id"])
    assert got.key_id == bob.key_id
    assert bob.actor_id in alice.followers
    accept = bob.wait_for("Accept")
    assert accept.activity["actor"] == alice.actor_id
    assert accept.activity["object"]["id"] == follow["id"]
    assert accept.key_id == alice.key_id
    assert alice.refused() == [] and bob.refused() == []

    bob.unfollow(alice.actor_id)
    alice.wait_for("Undo")
    assert bob.actor_id not in alice.followers


def test_a_signed_reply_arrives_with_its_note_and_can_be_updated_and_deleted(servers):
    alice, bob = servers
    create = bob.reply(f"{alice.base}/objects/first", "<p>Well <b>said</b></p>", alice.actor_id)
    note_id = create["object"]["id"]

    got = alice.wait_for("Create")
    note = expanded(got.activity)[f"{AS}#object"][0]
    assert note["@id"] == note_id
    assert values(note, "content") == ["<p>Well <b>said</b></p>"]
    assert values(note, "inReplyTo") == [f"{alice.base}/objects/first"]
    assert alice.fetch(note_id)["content"] == "<p>Well <b>said</b></p>"

    bob.update_note(note_id, "<p>Well said indeed</p>", alice.actor_id)
    assert alice.wait_for("Update").activity["object"]["content"] == "<p>Well said indeed</p>"
    bob.delete_note(note_id, alice.actor_id)
    assert alice.wait_for("Delete").activity["object"]["id"] == note_id
    bob.like(f"{alice.base}/objects/first", alice.actor_id)
    bob.announce(f"{alice.base}/objects/first", alice.actor_id)
    alice.wait_for("Like")
    alice.wait_for("Announce")
    assert all(post.verified for post in alice.inbox_log)


def _signed_note(sender: RemoteServer, inbox: str, date: str | None = None):
    activity = {
        "@context": AS,
        "id": f"{sender.base}/activities/1",
        "type": "Create",
        "actor": sender.actor_id,
        "object": {"id": f"{sender.base}/objects/1", "type": "Note", "content": "<p>hi</p>"},
    }
    body = json.dumps(activity).encode()
    return activity, body, sender.signed_headers(inbox, body, date)


def test_the_inbox_refuses_tampered_unsigned_stale_and_forged_requests(servers):
    alice, bob = servers
    activity, body, headers = _signed_note(bob, alice.inbox)
    assert raw_post(alice.inbox, body, headers) == 202  # the untouched request passes

    altered = body.replace(b"<p>hi</p>", b"<p>HI</p>")
    assert raw_post(alice.inbox, altered, headers) == 401

    unsigned = {k: v for k, v in headers.items() if k not in ("signature", "authorization")}
    assert raw_post(alice.inbox, body, unsigned) == 401

    ten_minutes_ago = formatdate(time.time() - 600, usegmt=True)
    _, body_old, old = _signed_note(bob, alice.inbox, date=ten_minutes_ago)
    assert raw_post(alice.inbox, body_old, old) == 401

    # signed by alice's key, claiming to be bob: the key is not bob's
    forged = alice.signed_headers(alice.inbox, body)
    forged["signature"] = forged["signature"].replace(alice.key_id, bob.key_id)
    assert raw_post(alice.inbox, body, forged) == 401

    verified = alice.verified("Create")
    assert len(verified) == 1 and verified[0].activity == activity
    reasons = [post.reason for post in alice.refused()]
    assert "Digest mismatch" in reasons[0]
    assert reasons[1] == "no Signature header"
    assert "Date header is too far" in reasons[2]
    assert "Invalid signature" in reasons[3]
