"""The site's actors get one key pair each, made once, even when two processes ask at once."""

import threading

from sqlalchemy import select

from blog.extensions import db
from blog.federation.keys import local_actor
from blog.models import LocalActor, User


def test_two_threads_making_the_site_actor_at_once_end_with_one_key(app, users):
    start = threading.Barrier(2)
    keys, errors = [], []

    def make(user_id):
        with app.app_context():
            try:
                user = db.session.get(User, user_id) if user_id else None
                start.wait()
                actor = local_actor(user)
                db.session.commit()
                keys.append(actor.public_key_pem)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

    for user_id in (None, users["author"]["id"]):
        keys.clear()
        threads = [threading.Thread(target=make, args=(user_id,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(keys) == 2 and keys[0] == keys[1]  # both got the one key that was kept
    with app.app_context():
        slots = db.session.scalars(select(LocalActor.slot).order_by(LocalActor.slot)).all()
        assert slots == ["site", f"user:{users['author']['id']}"]
        assert local_actor(None).public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
