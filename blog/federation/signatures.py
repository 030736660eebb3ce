"""HTTP Signatures as Mastodon signs and checks them (draft-cavage-http-signatures-12):
`rsa-sha256` over `(request-target) host date digest`, with a SHA-256 `Digest` of the body."""

import base64
import hashlib
from email.utils import formatdate
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

SIGNED_HEADERS = ("(request-target)", "host", "date", "digest")


def body_digest(body: bytes) -> str:
    """The `Digest` header's value for a body."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def signing_string(method: str, path: str, headers: dict[str, str], names) -> str:
    """The lines a signature covers, in the order named; header names are lower case."""
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines)


def sign_request(
    method: str, url: str, body: bytes | None, key_id: str, private_key, now: float | None = None
) -> dict[str, str]:
    """The headers that sign a request to `url`: Host, Date, Digest (when there is a body,
    and for GET an empty one is not signed) and Signature."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"host": parts.netloc, "date": formatdate(now, usegmt=True)}
    names = ["(request-target)", "host", "date"]
    if body is not None:
        headers["digest"] = body_digest(body)
        names.append("digest")
    text = signing_string(method, path, headers, names).encode()
    signature = private_key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    headers["signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return {
        "Host": headers["host"],
        "Date": headers["date"],
        **({"Digest": headers["digest"]} if "digest" in headers else {}),
        "Signature": headers["signature"],
    }
