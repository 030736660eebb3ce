"""Federation: the blog as ActivityPub actors that fediverse accounts follow.

The package is split by direction: `keys` (this site's actors and their key pairs),
`signatures` (HTTP Signatures, signing and checking), `remote` (fetching from and posting to
other servers, public addresses only), `discovery` (WebFinger, NodeInfo, actor and object
documents), `inbox` (what other servers send), `delivery` (what this site sends).

Decisions:
- Off until the site has an `https://` address: real servers refuse plain-http actors.
  `FEDERATION` (config or BLOG_FEDERATION) turns it on whatever the address, for tests and
  demonstrations with `FEDERATION_ALLOW_LOOPBACK`.
- One actor for the site (`@blog@host` by default) always; one per author when Settings
  says so. Keys are made once per actor and kept in the database.
"""

from flask import current_app

from ..settings import get_setting

ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"


def site_is_https() -> bool:
    return current_app.config["SITE_URL"].startswith("https://")


def forced_on() -> bool:
    """Whether configuration (FEDERATION, BLOG_FEDERATION) turns federation on."""
    forced = current_app.config.get("FEDERATION")
    return forced is not None and str(forced).lower() not in ("", "0", "false", "no", "off")


def enabled() -> bool:
    """Whether the site federates now: forced by configuration, or on in Settings for an
    https:// site."""
    if forced_on():
        return True
    return bool(get_setting("federation_enabled")) and site_is_https()


def wants_activity_json(accept: str | None) -> bool:
    """Whether an Accept header asks for ActivityStreams JSON rather than a page."""
    accept = (accept or "").lower()
    return "application/activity+json" in accept or (
        "application/ld+json" in accept and "activitystreams" in accept
    )
