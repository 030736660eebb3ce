"""Remote actors: who signed an inbox request, fetched from their server and kept.

    sender = actors.verified_sender(signature, request, body, activity)   # or SignatureRefused

Decisions:
- A request is judged before any key is fetched (signed headers, Date, Digest, a replay),
  and nothing is written until its signature checks out: a refused request leaves the
  remote actor tables as they were, even when a fresh copy of the actor was fetched, and
  no write lock is held while a key is fetched (SQLite has one for the whole database).
- The cached key is tried first; a signature it does not verify makes one fresh fetch of the
  actor (the key may have been rotated), and the actor is stored again from it.
- The key's owner must be the activity's actor, and the actor document must come from the
  host that its id and the key's id name: a server speaks only for its own accounts.
- No savepoints: on SQLite (pysqlite's transaction handling) a savepoint opened before the
  transaction's first write commits when released, which would keep a refused request's
  rows. Two first requests from one new actor at once: one fails on the unique address
  (500) and its server sends it again.
- Names and addresses from actor documents are plain text and checked URLs, cut to their
  columns' length; they are shown escaped.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urldefrag, urlsplit

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..models import InboxReceipt, RemoteActor, RemoteServer, utcnow
from ..urls import site_url
from .keys import local_actor
from .remote import RemoteError, fetch_json
from .signatures import Signature, SignatureRefused, checked_signing_string, verify

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})


class SenderGone(Exception):
    """A Delete of an account this site never knew, whose key cannot be fetched any more:
    nothing here to delete, and nothing to check it with (answered 202, ignored)."""


def host_of(url: str) -> str:
    """The host name of an address, lower case (ports are not part of a server's identity)."""
    try:
        return (urlsplit(url).hostname or "")[:253]
    except ValueError:
        return ""


def server_blocked(host: str) -> bool:
    return bool(db.session.scalar(select(RemoteServer.blocked).where(RemoteServer.host == host)))


def local_target(address: str) -> tuple[str | None, dict]:
    """The endpoint and values of an address on this site (no query or fragment); (None, {})
    for any other address."""
    base = site_url()
    address = urldefrag(address)[0].split("?", 1)[0]
    if address == base:
        return "public.index", {}
    if not address.startswith(base + "/"):
        return None, {}
    try:
        endpoint, values = current_app.url_map.bind("localhost").match(address[len(base) :])
    except HTTPException:
        return None, {}
    return endpoint, values


# The sender ----------------------------------------------------------------------------------


def verified_sender(signature: Signature, request, body: bytes, activity: dict) -> RemoteActor:
    """The remote actor that signed this inbox request, stored or refreshed; SignatureRefused
    for anything wrong, SenderGone for a Delete of an unknown account that is gone."""
    target = request.script_root + request.path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    text = checked_signing_string(
        signature,
        request.method,
        target,
        request.headers,
        body,
        current_app.config["FEDERATION_SIGNATURE_MAX_AGE"],
    )
    _check_not_replayed(signature)
    claimed = id_of(activity.get("actor"))
    cached = db.session.scalar(select(RemoteActor).where(RemoteActor.key_id == signature.key_id))
    if cached is not None and verify(cached.public_key_pem, text, signature.signature):
        sender = cached
    else:
        document = _fetch_key_owner(signature.key_id, activity, claimed, known=cached is not None)
        pem = _public_key(document, signature.key_id)
        if not verify(pem, text, signature.signature):
            raise SignatureRefused("the signature does not match the key")
        sender = store(document, signature.key_id, pem)
    if claimed != sender.uri:
        raise SignatureRefused("the activity's actor is not the key's owner")
    _keep_receipt(signature, sender.host)
    return sender


def _keep_receipt(signature: Signature, host: str) -> None:
    """Remember the request (replays are refused), forgetting receipts no Date can reach."""
    max_age = current_app.config["FEDERATION_SIGNATURE_MAX_AGE"]
    # A Date may be max_age in the future or the past: a receipt must outlive both.
    db.session.execute(
        delete(InboxReceipt).where(
            InboxReceipt.received_at < utcnow() - timedelta(seconds=2 * max_age)
        )
    )
    db.session.add(InboxReceipt(signature_hash=signature.receipt_hash, host=host))
    try:
        db.session.flush()
    except IntegrityError as error:  # the same request, sent twice at once
        raise SignatureRefused("this request was already received") from error


def _check_not_replayed(signature: Signature) -> None:
    seen = db.session.scalar(
        select(InboxReceipt.id).where(InboxReceipt.signature_hash == signature.receipt_hash)
    )
    if seen is not None:
        raise SignatureRefused("this request was already received")


def _fetch_key_owner(key_id: str, activity: dict, claimed: str, known: bool) -> dict:
    """The actor document that holds `key_id`, fetched as the site's actor."""
    try:
        document = fetch_json(urldefrag(key_id)[0], signed_by=local_actor())
        if "publicKeyPem" in document and "inbox" not in document:  # a key document
            owner = id_of(document.get("owner"))
            if host_of(owner) != host_of(key_id):
                raise SignatureRefused("the key's owner is on another server")
            document = fetch_json(owner, signed_by=local_actor())
    except RemoteError as error:
        gone = error.status in (404, 410)
        if gone and not known and activity.get("type") == "Delete" and claimed:
            if id_of(activity.get("object")) == claimed:
                raise SenderGone() from error
        raise SignatureRefused(f"the key could not be fetched: {error}") from error
    return document


def _public_key(document: dict, key_id: str) -> str:
    """The PEM of `key_id` in an actor document that owns it."""
    actor = id_of(document.get("id"))
    if host_of(actor) != host_of(key_id) or not actor:
        raise SignatureRefused("the key's actor is on another server")
    keys = document.get("publicKey")
    for key in keys if isinstance(keys, list) else [keys]:
        if not isinstance(key, dict) or key.get("id") != key_id:
            continue
        if id_of(key.get("owner")) != actor:
            raise SignatureRefused("the key belongs to another actor")
        pem = key.get("publicKeyPem")
        if isinstance(pem, str) and pem.strip():
            return pem
    raise SignatureRefused("the actor does not hold that key")


# Storing -------------------------------------------------------------------------------------


def store(document: dict, key_id: str, pem: str) -> RemoteActor:
    """Create or refresh the RemoteActor (and its server's row) from a verified document."""
    uri = id_of(document.get("id"))
    if document.get("type") not in ACTOR_TYPES:
        raise SignatureRefused("the key's owner is not an actor")
    inbox = _url(document.get("inbox"))
    if not inbox:
        raise SignatureRefused("the actor has no inbox")
    actor = db.session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
    if actor is None:
        actor = RemoteActor(uri=uri[:2000], host=host_of(uri))
        db.session.add(actor)
    endpoints = document.get("endpoints")
    shared = _url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else ""
    actor.inbox = inbox[:2000]
    actor.shared_inbox = shared[:2000]
    actor.key_id = key_id[:2000]
    actor.public_key_pem = pem
    refresh_profile(actor, document)
    ensure_server(actor.host)
    db.session.flush()
    return actor


def refresh_profile(actor: RemoteActor, document: dict) -> None:
    """Name, handle, profile page and avatar from the actor's own document (never its key)."""
    actor.username = plain_text(document.get("preferredUsername"), 255)
    actor.name = plain_text(document.get("name"), 255)
    actor.profile_url = _url(document.get("url"))[:2000] or actor.uri
    icon = document.get("icon")
    actor.icon_url = _url(icon.get("url") if isinstance(icon, dict) else icon)[:2000]
    actor.fetched_at = utcnow()


def ensure_server(host: str) -> RemoteServer:
    server = db.session.scalar(select(RemoteServer).where(RemoteServer.host == host))
    if server is None:
        server = RemoteServer(host=host)
        db.session.add(server)
    return server


def plain_text(value, limit: int) -> str:
    """A remote name as one line of text: no control characters, spaces collapsed."""
    if not isinstance(value, str):
        return ""
    text = "".join(char if char.isprintable() else " " for char in value)
    return " ".join(text.split())[:limit]


def id_of(value) -> str:
    """The id of an object given inline or by its address."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _url(value) -> str:
    """An http(s) address from a string, a Link object or a list of them; "" for anything else."""
    if isinstance(value, list):
        value = next((item for item in value if _url(item)), "")
    if isinstance(value, dict):
        value = value.get("href") or value.get("url")
        if isinstance(value, list | dict):
            return _url(value)
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value if host_of(value) else ""
    return ""
