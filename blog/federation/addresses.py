"""The addresses of this site's ActivityPub documents, in one place.

An actor's id is the page a browser sees for it (content negotiation answers the JSON): the
home page for the site's actor, the author's page for an author's. One inbox takes
everything (it is also every actor's shared inbox); outboxes and follower collections hang
off the actor's page. An article's object id is the address it was first published under,
kept in `FederatedPost` so a later change of slug does not change it."""

from ..models import LocalActor, User
from ..urls import absolute_url, author_url, site_url


def actor_id(actor: LocalActor) -> str:
    return actor_id_for(None if actor.user_id is None else actor.user)


def actor_id_for(user: User | None) -> str:
    """The id of the site's actor (None) or of an author's, without needing its keys."""
    return site_url() + "/" if user is None else author_url(user)


def key_id(actor: LocalActor) -> str:
    return actor_id(actor) + "#main-key"


def inbox_url() -> str:
    return absolute_url("/inbox")


def _actor_path(actor: LocalActor | User | None, leaf: str) -> str:
    """`leaf` under an actor's page; `actor` is a LocalActor, or the user it speaks for."""
    base = actor_id(actor) if isinstance(actor, LocalActor) else actor_id_for(actor)
    return base + leaf if base.endswith("/") else base + "/" + leaf


def outbox_url(actor: LocalActor | User | None) -> str:
    return _actor_path(actor, "outbox")


def followers_url(actor: LocalActor | User | None) -> str:
    return _actor_path(actor, "followers")


def following_url(actor: LocalActor | User | None) -> str:
    return _actor_path(actor, "following")
