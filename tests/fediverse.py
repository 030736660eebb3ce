"""A stand-in fediverse server for the federation tests: real HTTP on 127.0.0.1, its own RSA
keys, and an HTTP Signatures signer written here from draft-cavage-http-signatures-12 with the
`cryptography` library, independent of the project's signer, so a bug in one cannot hide a
bug in the other.

    with FakeServer() as remote:
        alice = remote.add_actor("alice")
        response = remote.post(client, alice, {"type": "Follow", ...})
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from blog.extensions import db
from blog.models import User
from blog.posts import Action, PostInput, save_post

SITE = "http://blog.test"
FEDERATED = {"FEDERATION": True, "FEDERATION_ALLOW_LOOPBACK": True}
AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(eq=False)
class Actor:
    server: FakeServer
    username: str
    key: object = field(default_factory=new_key)
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.server.base}/users/{self.username}"

    @property
    def key_id(self) -> str:
        return self.id + "#main-key"

    def document(self) -> dict:
        return {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.id,
            "type": "Person",
            "preferredUsername": self.username,
            "name": self.name or self.username.title(),
            "url": f"{self.server.base}/@{self.username}",
            "inbox": self.id + "/inbox",
            "outbox": self.id + "/outbox",
            "endpoints": {"sharedInbox": self.server.base + "/inbox"},
            "publicKey": {
                "id": self.key_id,
                "owner": self.id,
                "publicKeyPem": public_pem(self.key),
            },
        }

    def activity(self, kind: str, obj, **extra) -> dict:
        return {
            "@context": AS,
            "id": f"{self.server.base}/activities/{uuid.uuid4().hex}",
            "type": kind,
            "actor": self.id,
            "object": obj,
            **extra,
        }

    def note(self, in_reply_to: str, content: str, **extra) -> dict:
        return {
            "id": f"{self.server.base}/users/{self.username}/statuses/{uuid.uuid4().hex}",
            "type": "Note",
            "attributedTo": self.id,
            "inReplyTo": in_reply_to,
            "content": content,
            "to": [PUBLIC],
            **extra,
        }


class FakeServer:
    """Serves its actors' documents (and whatever `documents` holds) on 127.0.0.1."""

    def __init__(self):
        self.actors: dict[str, Actor] = {}
        self.documents: dict[str, tuple[int, dict]] = {}
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []  # of each GET, as received
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                server.headers.append(dict(self.headers.items()))
                status, document = server.answer(self.path)
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def answer(self, path: str) -> tuple[int, dict]:
        if path in self.documents:
            return self.documents[path]
        for actor in self.actors.values():
            if path == f"/users/{actor.username}":
                return 200, actor.document()
        return 404, {"error": "not found"}

    def add_actor(self, username: str, **fields) -> Actor:
        actor = self.actors[username] = Actor(self, username, **fields)
        return actor


# Signing, from the draft, without the project's code -----------------------------------------


def sign(
    key,
    key_id: str,
    body: bytes,
    *,
    path: str = "/inbox",
    host: str = "blog.test",
    date: str | None = None,
    names=("(request-target)", "host", "date", "digest"),
) -> dict[str, str]:
    """Headers for a POST of `body` to `path`, signed rsa-sha256 over `names`."""
    values = {
        "(request-target)": f"post {path}",
        "host": host,
        "date": date or formatdate(usegmt=True),
        "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    text = "\n".join(f"{name}: {values[name]}" for name in names)
    signature = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {"Date": values["date"], "Digest": values["digest"]}
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return headers


def signature_holds(headers: dict[str, str], method: str, path: str, public_key_pem: str) -> bool:
    """Whether a request's Signature header verifies with the key, checked as a remote server
    would: the signing string rebuilt from the request's own headers, in the order signed."""
    lower = {name.lower(): value for name, value in headers.items()}
    parameters = dict(re.findall(r'(\w+)="([^"]*)"', lower.get("signature", "")))
    lines = []
    for name in parameters.get("headers", "date").split():
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            lines.append(f"{name}: {lower[name]}")
    key = serialization.load_pem_public_key(public_key_pem.encode())
    try:
        key.verify(
            base64.b64decode(parameters["signature"]),
            "\n".join(lines).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True


def post_signed(
    client, actor: Actor, activity: dict, *, key=None, body: bytes | None = None, **options
):
    """POST `activity` to the inbox signed by `actor` (or with `key` under the actor's key id)."""
    payload = json.dumps(activity).encode() if body is None else body
    signed = json.dumps(activity).encode()
    headers = sign(key or actor.key, actor.key_id, signed, **options)
    headers["Content-Type"] = "application/activity+json"
    return client.post("/inbox", data=payload, headers=headers, base_url=SITE)


def send(client, actor: Actor, activity: dict, **options):
    """POST a correctly signed activity and return the response, asserting nothing."""
    return post_signed(client, actor, activity, **options)


def publish(app, users, title: str = "Harbour opens", who: str = "author", **fields) -> int:
    with app.app_context():
        author = db.session.get(User, users[who]["id"])
        data = PostInput(
            title=title, body_md=fields.pop("body_md", f"The text of {title}."), **fields
        )
        post = save_post(None, data, author, Action.PUBLISH)
        db.session.commit()
        return post.id
