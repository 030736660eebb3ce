"""Federation: the blog as ActivityPub actors that fediverse accounts follow.

The package is split by direction: `keys` (this site's actors and their key pairs),
`signatures` (HTTP Signatures, signing and checking), `remote` (fetching from and posting to
other servers, public addresses only), `actors` (remote actors: fetched, checked, kept),
`documents` (the JSON this site serves: actors, articles, collections, WebFinger, NodeInfo),
`views` (the addresses that serve them, content negotiation, the inbox's HTTP side), `inbox`
(what other servers send, applied), `delivery` (what this site sends).

Decisions:
- Off until the site has an `https://` address: real servers refuse plain-http actors.
  `FEDERATION` (config or BLOG_FEDERATION) turns it on whatever the address, for tests and
  demonstrations with `FEDERATION_ALLOW_LOOPBACK`.
- One actor for the site (`@blog@host` by default) always; one per author when Settings
  says so. Keys are made once per actor and kept in the database.
"""

from flask import current_app, has_request_context

from ..settings import get_setting, site_settings_for_templates

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
    return site_is_https() and bool(setting("federation_enabled"))


def setting(key: str) -> object:
    """A setting; in a request, from the copy of them all read once per request (pages read it
    anyway, and an outbox asks for each article)."""
    if has_request_context():
        return getattr(site_settings_for_templates(), key)
    return get_setting(key)


def wants_activity_json(accept: str | None) -> bool:
    """Whether an Accept header asks for ActivityStreams JSON rather than a page."""
    accept = (accept or "").lower()
    return "application/activity+json" in accept or (
        "application/ld+json" in accept and "activitystreams" in accept
    )
