"""Talking to other servers: every request goes to a public address only, with timeouts, a
size limit and a few redirects at most, because the addresses come from strangers.

Decisions:
- The connection resolves the name itself and connects to the address it checked, so a
  forbidden address is refused before any packet goes to it, and a name that re-resolves
  to a private address between a check and the connection cannot slip through; the peer is
  checked again once connected. Redirects go through the same check.
- `FEDERATION_ALLOW_LOOPBACK` lets 127.0.0.1 and plain http through (tests, demonstrations);
  private ranges, link-local and the rest stay closed even then.
"""

import ipaddress
import json
import re
import socket
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import ACTIVITY_JSON, LD_JSON
from .addresses import key_id
from .keys import load_private_key
from .signatures import sign_request

USER_AGENT = "blog (ActivityPub; +{site})"


class RemoteError(Exception):
    """A remote request that did not work; `temporary` says whether trying later may help."""

    def __init__(self, message: str, *, temporary: bool = True, status: int | None = None):
        super().__init__(message)
        self.temporary = temporary
        self.status = status


class ForbiddenAddress(RemoteError):
    def __init__(self, message: str):
        super().__init__(message, temporary=False)


def address_allowed(ip: str, allow_loopback: bool) -> bool:
    """Whether a peer address may be talked to: public ones, and loopback when allowed."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def _checked(connection_class, allow_loopback: bool):
    """A urllib3 connection class that resolves the host itself and connects to the checked
    address it found (refused before any packet is sent), so a second DNS answer cannot
    swap in another; TLS still checks the certificate against the host's name."""

    class CheckedConnection(connection_class):
        def _new_conn(self):
            self._dns_host = _allowed_address(self._dns_host, self.port, allow_loopback)
            return super()._new_conn()

    return CheckedConnection


def _allowed_address(host: str, port: int, allow_loopback: bool) -> str:
    """The first address `host` resolves to, if every one of them may be talked to: a name
    with any private address among its answers is refused (it may answer that one next)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise RemoteError(f"cannot resolve {host}: {error}") from error
    addresses = [answer[4][0] for answer in answers]
    refused = [ip for ip in addresses if not address_allowed(ip, allow_loopback)]
    if refused or not addresses:
        raise ForbiddenAddress(f"{host} is not a public address ({', '.join(refused)})")
    return addresses[0]


class _PublicOnlyAdapter(HTTPAdapter):
    def __init__(self, allow_loopback: bool):
        self.allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        allow = self.allow_loopback
        http_pool = type(
            "PublicHTTPPool",
            (HTTPConnectionPool,),
            {"ConnectionCls": _checked(HTTPConnection, allow)},
        )
        https_pool = type(
            "PublicHTTPSPool",
            (HTTPSConnectionPool,),
            {"ConnectionCls": _checked(HTTPSConnection, allow)},
        )
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


def _session() -> requests.Session:
    config = current_app.config
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    session.max_redirects = config["FEDERATION_MAX_REDIRECTS"]
    adapter = _PublicOnlyAdapter(bool(config["FEDERATION_ALLOW_LOOPBACK"]))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT.format(site=config["SITE_URL"])
    return session


def check_url(url: str) -> str:
    """`url` if it may be fetched at all: https (or http on loopback-allowing sites), a host."""
    parts = urlsplit(url or "")
    allowed = ("https", "http") if current_app.config["FEDERATION_ALLOW_LOOPBACK"] else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ForbiddenAddress(f"not an address this site fetches: {url[:200]!r}")
    return url


def _request(method: str, url: str, *, headers: dict, data: bytes | None = None):
    config = current_app.config
    check_url(url)
    try:
        with _session() as session:
            response = session.request(
                method,
                url,
                headers=headers,
                data=data,
                timeout=config["FEDERATION_FETCH_TIMEOUT"],
                stream=True,
                allow_redirects=method == "GET",
            )
            with response:
                check_url(response.url)
                body = _read_limited(response, config["FEDERATION_FETCH_MAX_BYTES"])
                return response, body
    except ForbiddenAddress:
        raise
    except requests.exceptions.TooManyRedirects as error:
        raise RemoteError(f"too many redirects from {url}", temporary=False) from error
    except requests.exceptions.ConnectionError as error:
        cause = error.args[0] if error.args else error
        reason = getattr(cause, "reason", cause)
        if isinstance(reason, ForbiddenAddress):
            raise reason from error
        raise RemoteError(f"could not reach {urlsplit(url).netloc}: {_plain(error)}") from error
    except requests.exceptions.RequestException as error:
        raise RemoteError(f"request to {urlsplit(url).netloc} failed: {error}") from error


def _read_limited(response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise RemoteError(f"answer from {response.url} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_json(url: str, signed_by=None) -> dict:
    """The ActivityStreams document at `url`, signed by a local actor when given (servers in
    "authorized fetch" mode ask for it). Anything but a JSON object is a RemoteError."""
    headers = {"Accept": f"{ACTIVITY_JSON}, {LD_JSON}"}
    if signed_by is not None:
        headers.update(
            sign_request("GET", url, None, key_id(signed_by), load_private_key(signed_by))
        )
    response, body = _request("GET", url, headers=headers)
    if response.status_code >= 400:
        raise RemoteError(
            f"{url} answered {response.status_code}",
            temporary=response.status_code >= 500 or response.status_code == 429,
            status=response.status_code,
        )
    try:
        document = json.loads(body)
    except ValueError as error:
        raise RemoteError(f"{url} did not answer JSON", temporary=False) from error
    if not isinstance(document, dict):
        raise RemoteError(f"{url} did not answer a JSON object", temporary=False)
    return document


def post_activity(inbox: str, body: bytes, actor) -> int:
    """POST a signed activity to an inbox; the HTTP status when it is accepted (2xx), else a
    RemoteError (temporary for 5xx, 429, 408 and network failures)."""
    headers = {"Content-Type": LD_JSON, "Accept": ACTIVITY_JSON}
    headers.update(sign_request("POST", inbox, body, key_id(actor), load_private_key(actor)))
    response, _ = _request("POST", inbox, headers=headers, data=body)
    status = response.status_code
    if 200 <= status < 300:
        return status
    raise RemoteError(
        f"{inbox} answered {status}",
        temporary=status >= 500 or status in (408, 429),
        status=status,
    )


def _plain(error: Exception) -> str:
    """The operating system's words for a failed connection ("Connection refused"), not
    urllib3's layers of wrappers around them."""
    found = re.search(r"\[Errno -?\d+\] ([^\"')]+)", str(error))
    if found:
        return found.group(1).strip()
    if "timed out" in str(error).lower():
        return "timed out"
    return str(error)[:200]
