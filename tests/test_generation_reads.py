"""Shared reads of the site generation: a request never takes a read that began before it.

The threads of a process share the generation's reads (`generation.StoredReader`). These tests
run real threads against a real database: some keep asking for a cached page all the time, so
that a read is nearly always in flight, while a change is committed on another connection; then
a group of readers released together, all after the commit, must each see the change.
"""

import threading

import pytest

from blog import generation
from blog.extensions import db
from blog.models import SiteState, User
from blog.posts import Action, PostInput, save_post

ROUNDS = 12
READERS = 6  # released together after each commit
BUSY = 3  # keep asking all along, so reads are in flight when a commit lands


def _publish(app, users, title: str) -> None:
    with app.app_context():
        author = db.session.get(User, users["author"]["id"])
        data = PostInput(title=title, body_md=f"The text of {title}.")
        save_post(None, data, author, Action.PUBLISH)
        db.session.commit()


def _busy(app, stop: threading.Event, answers: list) -> None:
    client = app.test_client()
    while not stop.is_set():
        response = client.get("/")
        answers.append((response.status_code, response.headers.get("X-Cache")))


@pytest.fixture
def busy_readers(app):
    """Threads that request the home page without pause until the test ends."""
    stop, answers = threading.Event(), []
    threads = [threading.Thread(target=_busy, args=(app, stop, answers)) for _ in range(BUSY)]
    for thread in threads:
        thread.start()
    yield answers
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert {status for status, _ in answers} == {200}
    # Between changes they were served from the cache: the reads they shared were hits' reads.
    assert ("200", "HIT") in {(str(status), cache) for status, cache in answers}


def test_requests_released_after_a_commit_all_see_it(app, users, busy_readers):
    _publish(app, users, "Round zero")
    start = threading.Barrier(READERS + 1)
    seen: dict[int, list[tuple[str, bool]]] = {}
    lock = threading.Lock()

    def reader(number: int) -> None:
        client = app.test_client()
        for round_ in range(1, ROUNDS + 1):
            start.wait(timeout=60)
            response = client.get("/")
            page = response.get_data(as_text=True)
            with lock:
                seen.setdefault(round_, []).append(
                    (response.headers["X-Cache"], f"Round {round_} news" in page)
                )

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(1, ROUNDS + 1):
            _publish(app, users, f"Round {round_} news")  # committed before anyone is released
            start.wait(timeout=60)
            while len(seen.get(round_, [])) < READERS:
                threading.Event().wait(0.001)
    finally:
        start.abort()  # after a failure, no reader waits for a round that never comes
        for thread in threads:
            thread.join(timeout=60)
    for round_, answers in seen.items():
        assert all(shown for _, shown in answers), (round_, answers)


def test_reads_released_together_after_a_commit_all_see_it(app, users):
    """The reader alone: every read begun after a commit returns its generation, while other
    threads keep reads going through the same reader."""
    with app.app_context():
        engine = db.engine
    reader = generation.reader_for(app, engine)
    stop, start = threading.Event(), threading.Barrier(READERS + 1)
    results: dict[int, list[int]] = {}
    lock = threading.Lock()

    def keep_reading() -> None:
        while not stop.is_set():
            reader.read()

    def read_after_commit() -> None:
        for round_ in range(1, ROUNDS * 4 + 1):
            start.wait(timeout=60)
            value = reader.read()[0]
            with lock:
                results.setdefault(round_, []).append(value)

    busy = [threading.Thread(target=keep_reading) for _ in range(BUSY)]
    released = [threading.Thread(target=read_after_commit) for _ in range(READERS)]
    for thread in (*busy, *released):
        thread.start()
    committed = {}
    try:
        for round_ in range(1, ROUNDS * 4 + 1):
            with engine.begin() as connection:  # another connection, committed here
                generation.move_past(connection, 0)
            with engine.connect() as connection:
                committed[round_] = connection.scalar(db.select(SiteState.generation))
            start.wait(timeout=60)
            while len(results.get(round_, [])) < READERS:
                threading.Event().wait(0.001)
    finally:
        stop.set()
        for thread in (*busy, *released):
            thread.join(timeout=60)
    for round_, values in results.items():
        assert values == [committed[round_]] * READERS, round_


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: no server
def test_pages_keep_answering_and_stay_fresh_after_the_database_drops_connections(app, users):
    """PostgreSQL ends every connection (a restart, a failover): the shared reader's read fails
    once, the request is answered anyway, and the next read opens and prepares a new one."""
    _publish(app, users, "Before the restart")
    client = app.test_client()
    client.get("/")
    assert client.get("/").headers["X-Cache"] == "HIT"
    with app.app_context():
        with db.engine.connect() as connection:
            dropped = connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar()
    assert dropped >= 1  # the reader's connection among them
    for _ in range(3):
        response = client.get("/")
        assert response.status_code == 200
        assert "Before the restart" in response.get_data(as_text=True)
    assert response.headers["X-Cache"] == "HIT"
    _publish(app, users, "After the restart")
    assert "After the restart" in client.get("/").get_data(as_text=True)
