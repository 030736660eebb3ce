"""A fediverse server this project did not write, run on 127.0.0.1 for interoperability tests.

Built from fedi-libs' apkit toolkit: its `ActivityPubServer` (FastAPI, served by uvicorn in a
thread) with its WebFinger route, apmodel's actor model, apsig's draft-cavage HTTP Signatures
(what Mastodon speaks) for signing everything sent and checking everything received, and pyld
for reading documents as JSON-LD (with the ActivityStreams and security contexts apmodel ships,
so nothing is fetched from the internet). Nothing here imports the blog: the blog is only ever
talked to over HTTP.

    remote = RemoteServer("rita", "Rita Remote").start()
    remote.follow("acct:blog@127.0.0.1:5000")          # WebFinger, then a signed Follow
    remote.wait_for("Accept")                          # verified, or the wait fails
    create = remote.reply(article_id, "<p>Nice</p>", blog_actor_id)   # a signed Create
    remote.stop()

Decisions:
- The inbox checks what Mastodon checks: the signature covers `(request-target)`, `host`,
  `date` and `digest`; its `keyId` is a key that the document of the activity's actor (fetched
  now) names and that this actor owns; apsig finds the Digest matching the body, the
  signature good and the Date within five minutes. Anything else is answered 401 and logged
  in `inbox_log` with the reason; what passes is in `received`.
- apkit's own inbox route is not used: it reads each activity through apmodel first, which
  refuses a Note whose `inReplyTo` is a plain address (apmodel 0.5.4), so an ordinary reply
  would be answered 400 before any signature check. The check above is the one apkit's
  route makes (apsig's `Verifier` with the actor's key), without that gate.
- WebFinger is looked up over http for 127.0.0.1 (apkit's resolver only speaks https; the
  blog under test is plain http on 127.0.0.1).
- A Follow is accepted at once, with a signed Accept, as servers whose users do not approve
  followers do (two of these servers can then follow each other).
"""

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote

import aiohttp
import uvicorn
from apkit.client import WebfingerLink, WebfingerResource, WebfingerResult
from apkit.client.asyncio.client import ActivityPubClient as AsyncClient
from apkit.client.sync.client import ActivityPubClient
from apkit.models import CryptographicKey, Person
from apkit.server.app import ActivityPubServer
from apkit.server.responses import ActivityResponse
from apkit.server.types import ActorKey
from apmodel.vocab.actor import ActorEndpoints
from apsig.draft.sign import Signer
from apsig.draft.verify import Verifier
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pyld import jsonld

AS = "https://www.w3.org/ns/activitystreams"
AS_PUBLIC = AS + "#Public"
ACTIVITY_JSON = "application/activity+json"
JSON_TYPES = (ACTIVITY_JSON, "application/ld+json")
SECURITY = "https://w3id.org/security#"
LDP_INBOX = "http://www.w3.org/ns/ldp#inbox"
REQUIRED_SIGNED = ("(request-target)", "host", "date", "digest")


class Refused(Exception):
    """Why the inbox turned a request down (answered 401)."""


@dataclass
class Received:
    """An activity the inbox took: its signature checked out (apsig, the actor's own key)."""

    type: str
    activity: dict  # the JSON as sent
    node: dict  # its JSON-LD expansion (pyld)
    key_id: str
    headers: dict[str, str]


@dataclass
class InboxPost:
    """One POST to the inbox and how the server answered it."""

    path: str
    status: int
    body: bytes
    headers: dict[str, str]
    verified: bool = False
    reason: str = ""


@dataclass
class Followed:
    actor_id: str
    inbox: str
    follow: dict
    document: dict = field(default_factory=dict)


def _signature_fields(header: str) -> dict[str, str]:
    fields = {}
    for part in header.split(","):
        name, _, value = part.partition("=")
        fields[name.strip()] = value.strip().strip('"')
    return fields


class RemoteServer:
    """One account (`@username@127.0.0.1:PORT`) on an apkit server of its own."""

    def __init__(self, username: str = "rita", display_name: str = "Rita Remote"):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"
        self.username = username
        self.handle = f"acct:{username}@{self.host}"
        self.actor_id = f"{self.base}/users/{username}"
        self.key_id = self.actor_id + "#main-key"
        self.inbox = self.actor_id + "/inbox"
        self.shared_inbox = self.base + "/inbox"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self.actor = Person(
            id=self.actor_id,
            name=display_name,
            preferred_username=username,
            summary="A reader on a server the blog did not write.",
            url=f"{self.base}/@{username}",
            inbox=self.inbox,
            outbox=self.actor_id + "/outbox",
            followers=self.actor_id + "/followers",
            following=self.actor_id + "/following",
            endpoints=ActorEndpoints(shared_inbox=self.shared_inbox),
            public_key=CryptographicKey(
                id=self.key_id, owner=self.actor_id, public_key_pem=public_pem
            ),
        )
        self.received: list[Received] = []
        self.inbox_log: list[InboxPost] = []
        self.followers: dict[str, dict] = {}  # actor id: the Follow we accepted
        self.following: dict[str, Followed] = {}  # actor id: our Follow
        self.objects: dict[str, dict] = {}  # what this server serves at its ids
        self._lock = threading.Condition()
        self.app = self._build_app()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    # -- running ---------------------------------------------------------------------------

    def start(self) -> "RemoteServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError("the remote fediverse server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    # -- the server ------------------------------------------------------------------------

    def _build_app(self) -> ActivityPubServer:
        app = ActivityPubServer(docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/users/{identifier}")
        async def actor_document(identifier: str):
            if identifier != self.username:
                return JSONResponse({"error": "Not Found"}, status_code=404)
            return ActivityResponse(self.actor)

        @app.get("/objects/{identifier}")
        async def object_document(identifier: str):
            document = self.objects.get(f"{self.base}/objects/{identifier}")
            if document is None:
                return JSONResponse({"error": "Not Found"}, status_code=404)
            if document.get("type") == "Tombstone":
                return JSONResponse(document, status_code=410, media_type=ACTIVITY_JSON)
            return JSONResponse(document, media_type=ACTIVITY_JSON)

        @app.webfinger()
        async def webfinger(request: Request, acct: WebfingerResource) -> Response:
            if acct.username != self.username or acct.host != self.host:
                return JSONResponse({"error": "Not Found"}, status_code=404)
            link = WebfingerLink(rel="self", type=ACTIVITY_JSON, href=self.actor_id)
            result = WebfingerResult(subject=acct, links=[link])
            return JSONResponse(result.to_json(), media_type="application/jrd+json")

        @app.post("/inbox")
        @app.post("/users/{identifier}/inbox")
        async def inbox(request: Request) -> Response:
            body = await request.body()
            headers = {name.lower(): value for name, value in request.headers.items()}
            entry = InboxPost(request.url.path, 401, body, headers)
            try:
                received = await self._verify(request.method, str(request.url), headers, body)
            except Refused as refusal:
                entry.reason = str(refusal)
                self._log(entry)
                return JSONResponse({"error": entry.reason}, status_code=401)
            if received.type == "Follow":
                await self._accept(received.activity)
            if received.type == "Undo" and isinstance(received.activity.get("object"), dict):
                undone = received.activity["object"]
                if undone.get("type") == "Follow":
                    self.followers.pop(str(undone.get("actor")), None)
            entry.status, entry.verified = 202, True
            self._log(entry, received)
            return Response(status_code=202)

        return app

    def _log(self, entry: "InboxPost", received: "Received | None" = None) -> None:
        with self._lock:
            self.inbox_log.append(entry)
            if received is not None:
                self.received.append(received)
            self._lock.notify_all()

    async def _verify(self, method: str, url: str, headers: dict, body: bytes) -> "Received":
        """What Mastodon checks of a POST to its inbox: the signature covers the request
        line, host, date and digest; its key is the one the claimed actor's document names
        (fetched now, read as JSON-LD by pyld); apsig finds the Digest matching the body, the
        signature good and the Date within five minutes."""
        if "signature" not in headers:
            raise Refused("no Signature header")
        fields = _signature_fields(headers["signature"])
        covered = fields.get("headers", "").lower().split()
        missing = [name for name in REQUIRED_SIGNED if name not in covered]
        if missing:
            raise Refused(f"the signature does not cover {', '.join(missing)}")
        if "date" not in headers or "digest" not in headers:
            raise Refused("no Date or Digest header")
        try:
            activity = json.loads(body)
        except ValueError as error:
            raise Refused("the body is not JSON") from error
        if not isinstance(activity, dict):
            raise Refused("the body is not a JSON object")
        node = expanded(activity)
        actors = values(node, "actor")
        if len(actors) != 1 or not isinstance(actors[0], str):
            raise Refused("the activity names no single actor")
        actor_id, key_id = actors[0], fields.get("keyId", "")
        public_pem = await self._public_key(actor_id, key_id)
        try:
            Verifier(public_pem, method, url, headers, body).verify(raise_on_fail=True)
        except Exception as error:  # apsig's refusals, and a Date it cannot read
            raise Refused(f"apsig refused the signature: {error}") from error
        kinds = node.get("@type", [])
        kind = kinds[0].rsplit("#", 1)[-1] if kinds else ""
        return Received(kind, activity, node, key_id, headers)

    async def _public_key(self, actor_id: str, key_id: str) -> str:
        """The PEM of `key_id` as `actor_id`'s own document gives it (and owned by it)."""
        try:
            async with AsyncClient() as client:
                async with client.get(actor_id, headers={"Accept": ACTIVITY_JSON}) as answer:
                    if answer.status != 200:
                        raise Refused(f"the actor {actor_id} answered {answer.status}")
                    document = json.loads(await answer.read())
        except (OSError, ValueError, aiohttp.ClientError) as error:
            raise Refused(f"could not fetch the actor {actor_id}: {error}") from error
        actor = expanded(document)
        if actor.get("@id") != actor_id:
            raise Refused(f"the document at {actor_id} is about {actor.get('@id')}")
        for key in actor.get(SECURITY + "publicKey", []):
            if key.get("@id") != key_id:
                continue
            owners = [owner.get("@id") for owner in key.get(SECURITY + "owner", [])]
            pems = [pem.get("@value") for pem in key.get(SECURITY + "publicKeyPem", [])]
            if owners != [actor_id] or len(pems) != 1:
                raise Refused(f"the key {key_id} is not {actor_id}'s")
            return pems[0]
        raise Refused(f"{actor_id} has no key {key_id}")

    async def _accept(self, follow: dict) -> None:
        """Accept a Follow, as servers whose users do not approve followers do, signed by
        apsig through apkit's client."""
        follower = str(follow.get("actor"))
        async with AsyncClient() as client:
            async with client.get(follower, headers={"Accept": ACTIVITY_JSON}) as answer:
                document = json.loads(await answer.read())
        inbox = (expanded(document).get(LDP_INBOX) or [{}])[0].get("@id")
        if not inbox:
            return
        accept = {
            "@context": AS,
            "id": f"{self.base}/activities/{uuid.uuid4()}",
            "type": "Accept",
            "actor": self.actor_id,
            "object": follow,
        }
        self.followers[follower] = follow
        async with AsyncClient() as client:
            async with client.post(
                inbox,
                json=accept,
                headers={"Content-Type": ACTIVITY_JSON},
                signatures=[self._key()],
                sign_with=["draft-cavage"],
            ) as answer:
                answer.raise_for_status()

    # -- waiting ---------------------------------------------------------------------------

    def wait_for(self, kind: str, timeout: float = 20, where=None) -> Received:
        """The first verified activity of type `kind` (and matching `where`, a function of the
        activity's JSON) to arrive; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for received in self.received:
                    if received.type == kind and (where is None or where(received.activity)):
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    refused = [(p.status, p.reason, p.body[:200]) for p in self.inbox_log]
                    raise AssertionError(
                        f"no verified {kind} arrived within {timeout:.0f} s; "
                        f"verified: {[r.type for r in self.received]}; all posts: {refused}"
                    )
                self._lock.wait(remaining)

    def verified(self, kind: str) -> list[Received]:
        with self._lock:
            return [received for received in self.received if received.type == kind]

    def refused(self) -> list[InboxPost]:
        with self._lock:
            return [post for post in self.inbox_log if post.status >= 400]

    # -- acting as the account's owner -----------------------------------------------------

    def _client(self) -> ActivityPubClient:
        return ActivityPubClient(user_agent=f"apkit test remote ({self.base})")

    def lookup(self, handle: str) -> str:
        """The actor id WebFinger gives for `acct:user@host`."""
        resource = WebfingerResource.parse(handle)
        scheme = (
            "https" if resource.host.split(":")[0] not in ("127.0.0.1", "localhost") else "http"
        )
        url = (
            f"{scheme}://{resource.host}/.well-known/webfinger"
            f"?resource={quote(resource.export(), safe='')}"
        )
        with self._client() as client:
            answer = client.get(url, headers={"Accept": "application/jrd+json"})
            if not answer.ok:
                raise AssertionError(f"WebFinger for {handle} answered {answer.status}")
            result = WebfingerResult.from_dict(json.loads(answer.body))
        if result.subject != resource:
            raise AssertionError(f"WebFinger answered for {result.subject}, not {resource}")
        for link in result.links:
            if link.rel == "self" and link.href and (link.type or "").startswith(JSON_TYPES):
                return link.href
        raise AssertionError(f"WebFinger for {handle} names no ActivityPub actor")

    def fetch(self, url: str, signed: bool = False) -> dict:
        """The JSON-LD document at `url` (Accept: application/activity+json)."""
        with self._client() as client:
            answer = client.get(
                url,
                headers={"Accept": ACTIVITY_JSON},
                signatures=[self._key()] if signed else [],
                sign_with=["draft-cavage"] if signed else [],
            )
            if not answer.ok:
                raise AssertionError(f"{url} answered {answer.status}")
            return json.loads(answer.body)

    def fetch_actor(self, actor_id: str) -> tuple[str, dict]:
        """(its inbox, its document) for the actor at `actor_id`, read as JSON-LD."""
        document = self.fetch(actor_id)
        node = expanded(document)
        if node.get("@id") != actor_id:
            raise AssertionError(f"the document at {actor_id} is about {node.get('@id')}")
        inbox = (node.get(LDP_INBOX) or [{}])[0].get("@id")
        if not inbox:
            raise AssertionError(f"{actor_id} has no inbox")
        return inbox, document

    def _key(self) -> ActorKey:
        return ActorKey(key_id=self.key_id, private_key=self.private_key)

    def post(self, inbox: str, activity: dict) -> int:
        """POST `activity` to `inbox`, signed by apsig (draft-cavage, rsa-sha256); the status."""
        with self._client() as client:
            answer = client.post(
                inbox,
                headers={"Content-Type": ACTIVITY_JSON, "Accept": ACTIVITY_JSON},
                body=activity,
                signatures=[self._key()],
                sign_with=["draft-cavage"],
            )
            return answer.status

    def signed_headers(self, url: str, body: bytes, date: str | None = None) -> dict:
        """The headers (lower-case names) apsig puts on a POST of `body` to `url`, for tests
        that then alter the request; `date` overrides the Date that is signed."""
        headers = {"content-type": ACTIVITY_JSON, "date": date or formatdate(usegmt=True)}
        signed = Signer(
            headers=headers,
            private_key=self.private_key,
            method="POST",
            url=url,
            key_id=self.key_id,
            body=body,
        ).sign()
        return {name.lower(): value for name, value in signed.items()}

    def _new_id(self, kind: str) -> str:
        return f"{self.base}/{kind}/{uuid.uuid4()}"

    def follow(self, handle: str) -> dict:
        """Find `handle` by WebFinger and send it a signed Follow; the Follow sent."""
        actor_id = self.lookup(handle)
        inbox, document = self.fetch_actor(actor_id)
        activity = {
            "@context": AS,
            "id": self._new_id("activities"),
            "type": "Follow",
            "actor": self.actor_id,
            "object": actor_id,
        }
        status = self.post(inbox, activity)
        if not 200 <= status < 300:
            raise AssertionError(f"the Follow was answered {status}")
        self.following[actor_id] = Followed(actor_id, inbox, activity, document)
        return activity

    def unfollow(self, actor_id: str) -> dict:
        followed = self.following.pop(actor_id)
        return self._send_to(followed, self._activity("Undo", followed.follow))

    def _activity(self, kind: str, obj, **extra) -> dict:
        return {
            "@context": AS,
            "id": self._new_id("activities"),
            "type": kind,
            "actor": self.actor_id,
            "object": obj,
            **extra,
        }

    def _send_to(self, followed: Followed, activity: dict) -> dict:
        status = self.post(followed.inbox, activity)
        if not 200 <= status < 300:
            raise AssertionError(f"the {activity['type']} was answered {status}")
        return activity

    def _inbox_of(self, actor_id: str) -> Followed:
        if actor_id not in self.following:
            inbox, document = self.fetch_actor(actor_id)
            return Followed(actor_id, inbox, {}, document)
        return self.following[actor_id]

    def reply(self, in_reply_to: str, html: str, to_actor: str, **note_fields) -> dict:
        """A public Note in reply to `in_reply_to`, sent in a signed Create to `to_actor`'s
        inbox (and served at its id); the Create sent."""
        note = {
            "id": self._new_id("objects"),
            "type": "Note",
            "attributedTo": self.actor_id,
            "inReplyTo": in_reply_to,
            "content": html,
            "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "url": f"{self.base}/@{self.username}/{uuid.uuid4().hex[:8]}",
            "to": [AS_PUBLIC],
            "cc": [to_actor, self.actor_id + "/followers"],
            **note_fields,
        }
        self.objects[note["id"]] = {"@context": AS, **note}
        create = self._activity("Create", note, to=note["to"], cc=note["cc"])
        return self._send_to(self._inbox_of(to_actor), create)

    def update_note(self, note_id: str, html: str, to_actor: str) -> dict:
        note = {key: value for key, value in self.objects[note_id].items() if key != "@context"}
        note.update(content=html, updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.objects[note_id] = {"@context": AS, **note}
        update = self._activity("Update", note, to=note["to"], cc=note["cc"])
        return self._send_to(self._inbox_of(to_actor), update)

    def delete_note(self, note_id: str, to_actor: str) -> dict:
        self.objects[note_id] = {"@context": AS, "id": note_id, "type": "Tombstone"}
        tombstone = {"id": note_id, "type": "Tombstone"}
        delete = self._activity("Delete", tombstone, to=[AS_PUBLIC])
        return self._send_to(self._inbox_of(to_actor), delete)

    def like(self, object_id: str, to_actor: str) -> dict:
        return self._send_to(self._inbox_of(to_actor), self._activity("Like", object_id))

    def announce(self, object_id: str, to_actor: str) -> dict:
        announce = self._activity(
            "Announce", object_id, to=[AS_PUBLIC], cc=[to_actor, self.actor_id + "/followers"]
        )
        return self._send_to(self._inbox_of(to_actor), announce)

    def undo(self, activity: dict, to_actor: str) -> dict:
        return self._send_to(self._inbox_of(to_actor), self._activity("Undo", activity))


def _bundled_context(url: str, options=None) -> dict:
    """pyld's document loader: the JSON-LD contexts apmodel ships, and nothing else (no
    network; an unknown context is an error rather than a silent fetch)."""
    from apmodel._core._jsonjd import loader

    path = loader.PRELOAD_JSONLD_PATH_MAPPINGS.get(url)
    if path is None:
        raise jsonld.JsonLdError(
            f"no bundled copy of the context {url}", "jsonld.LoadDocumentError", {"url": url}
        )
    document = loader.get_schema(path)
    return {"contextUrl": None, "documentUrl": url, "document": document}


def expanded(document: dict) -> dict:
    """`document` expanded as JSON-LD by pyld: a reading that does not depend on how the
    sender spelled its terms or which prefixes it chose."""
    result = jsonld.expand(document, {"documentLoader": _bundled_context})
    if not result:
        raise AssertionError(f"nothing in {document!r} is ActivityStreams")
    return result[0]


def values(node: dict, term: str) -> list:
    """The values of an ActivityStreams term (`name`, `url`…) in an expanded node."""
    return [
        item.get("@value", item.get("@id"))
        for item in node.get(f"{AS}#{term}", [])
        if isinstance(item, dict)
    ]
