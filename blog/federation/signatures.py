"""HTTP Signatures as Mastodon signs and checks them (draft-cavage-http-signatures-12):
`rsa-sha256` over `(request-target) host date digest`, with a SHA-256 `Digest` of the body.

Checking is split in two: `parse_signature_header` and `checked_signing_string` judge the
request itself (cheap, before any key is fetched); `verify` checks the signature with a key
(`blog.federation.actors` finds the key and its owner)."""

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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


# Checking ------------------------------------------------------------------------------------

REQUIRED_FOR_POST = frozenset(SIGNED_HEADERS)
ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})  # hs2019: the key says which; ours are RSA
# name="value", or name=digits (hs2019's created and expires are numbers, unquoted).
_PARAMETER = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|(\d+))\s*(?:,|$)')
PSEUDO_HEADERS = ("(created)", "(expires)")


class SignatureRefused(Exception):
    """A request whose signature is missing, malformed, stale or wrong: answered 401."""


@dataclass(frozen=True)
class Signature:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    raw: str  # the header's value, whose hash is the replay receipt
    parameters: dict = field(default_factory=dict, compare=False)

    @property
    def receipt_hash(self) -> str:
        return hashlib.sha256(self.raw.encode()).hexdigest()


def parse_signature_header(value: str | None) -> Signature:
    """The parts of a `Signature` header; SignatureRefused when there is none or it is malformed."""
    if not value or not value.strip():
        raise SignatureRefused("the request is not signed")
    if len(value) > 8192:
        raise SignatureRefused("the Signature header is too long")
    parameters, position = {}, 0
    while position < len(value):
        match = _PARAMETER.match(value, position)
        if match is None or match.end() == position:
            raise SignatureRefused("the Signature header is malformed")
        parameters[match.group(1).lower()] = (
            match.group(2) if match.group(3) is None else match.group(3)
        )
        position = match.end()
    key_id = parameters.get("keyid", "")
    if not key_id.startswith(("https://", "http://")):
        raise SignatureRefused("the signature names no key address")
    algorithm = parameters.get("algorithm", "hs2019").lower()
    if algorithm not in ALGORITHMS:
        raise SignatureRefused(f"unsupported signature algorithm {algorithm[:40]!r}")
    try:
        signature = base64.b64decode(parameters.get("signature", ""), validate=True)
    except ValueError as error:
        raise SignatureRefused("the signature is not base64") from error
    if not signature:
        raise SignatureRefused("the signature is empty")
    names = tuple(parameters.get("headers", "date").lower().split())
    return Signature(key_id, algorithm, names, signature, value, parameters)


def checked_signing_string(
    signature: Signature,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    max_age: float,
    now: float | None = None,
) -> str:
    """The text the signature must cover, once the request shows it is worth checking: every
    required header signed, a fresh Date, a Digest that matches the body. `target` is the
    path and query as received; `headers` are the request's (any case)."""
    required = (
        REQUIRED_FOR_POST if method.upper() == "POST" else {"(request-target)", "host", "date"}
    )
    missing = sorted(required - set(signature.headers))
    if missing:
        raise SignatureRefused(f"the signature does not cover {', '.join(missing)}")
    lower = {name.lower(): value for name, value in headers.items()}
    for pseudo in PSEUDO_HEADERS:  # hs2019: the signature's own parameters, signed as lines
        if pseudo in signature.headers and pseudo[1:-1] in signature.parameters:
            lower[pseudo] = signature.parameters[pseudo[1:-1]]
    if "(expires)" in lower and float(lower["(expires)"]) < (time.time() if now is None else now):
        raise SignatureRefused("the signature has expired")
    for name in signature.headers:
        if name != "(request-target)" and name not in lower:
            raise SignatureRefused(f"the signed header {name[:40]} is missing")
    _check_date(lower["date"], max_age, now)
    if "digest" in signature.headers or method.upper() == "POST":
        _check_digest(lower.get("digest", ""), body)
    return signing_string(method, target, lower, signature.headers)


def _check_date(value: str, max_age: float, now: float | None) -> None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError) as error:
        raise SignatureRefused("the Date header is not a date") from error
    if moment.tzinfo is None:
        raise SignatureRefused("the Date header has no time zone")
    current = time.time() if now is None else now
    if abs(current - moment.timestamp()) > max_age:
        raise SignatureRefused("the Date header is too old or in the future")


def _check_digest(value: str, body: bytes) -> None:
    """One of the Digest header's SHA-256 values must be the body's."""
    expected = body_digest(body).split("=", 1)[1]
    for part in value.split(","):
        algorithm, _, digest = part.strip().partition("=")
        if algorithm.strip().lower() == "sha-256" and hmac.compare_digest(digest.strip(), expected):
            return
    raise SignatureRefused("the Digest header does not match the body")


def verify(public_key_pem: str, text: str, signature: bytes) -> bool:
    """Whether `signature` is the RSA-SHA256 signature of `text` by the key in the PEM."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
