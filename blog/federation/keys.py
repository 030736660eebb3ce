"""This site's actors and their RSA key pairs: made on first need, kept for good.

`cryptography` is imported by the two functions that use it, not by the module: every web
worker imports this module (through the publishing hook), and readers never need the 5-8 MB
it costs per process (bench/README.md, memory).
"""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import LocalActor, User

KEY_BITS = 2048  # what Mastodon makes and expects


def new_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (public PEM, private PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return public_pem, private_pem


def local_actor(user: User | None = None) -> LocalActor:
    """The actor for `user` (None: the site), made with its keys the first time it is asked for.

    Two processes making the same actor at once: the unique `slot` lets one insert win and
    the other reads the winner's row, so an actor never has two keys."""
    actor = _find(user)
    if actor is not None:
        return actor
    public_pem, private_pem = new_key_pair()
    try:
        with db.session.begin_nested():
            actor = LocalActor(
                user_id=None if user is None else user.id,
                slot=slot_of(user),
                public_key_pem=public_pem,
                private_key_pem=private_pem,
            )
            db.session.add(actor)
    except IntegrityError:
        actor = _find(user)
        if actor is None:
            raise
    return actor


def slot_of(user: User | None) -> str:
    return "site" if user is None else f"user:{user.id}"


def find_actor(user: User | None) -> LocalActor | None:
    """The actor for `user` (None: the site) if it was ever made; never makes one."""
    return _find(user)


def _find(user: User | None) -> LocalActor | None:
    return db.session.scalar(select(LocalActor).where(LocalActor.slot == slot_of(user)))


def load_private_key(actor: LocalActor):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(actor.private_key_pem.encode(), password=None)
