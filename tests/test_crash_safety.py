"""A server killed with SIGKILL in the middle of a burst of saves leaves only whole saves.

The blog runs in a separate process (gunicorn, 2 workers × 4 threads, CSRF on) on a SQLite
file. Signed-in clients fire saves: each one stores a post, a revision, tags and search index
rows in one transaction. Half-way through, the whole process group is killed. Then the
database must pass SQLite's and FTS5's integrity checks, hold every acknowledged save, and
hold nothing half-done: each post has exactly the revisions and the tags of its saves.
SQLite only: it is the embedded default and the one whose files the blog itself writes.
"""

import http.client
import re
import sqlite3
import threading
import time
from pathlib import Path

from tests.live_servers import Browser, Server, field_value, prepare_instance

PASSWORD = "crash test password"
CLIENTS = 4
KILL_AFTER_ACKS = 16  # or after KILL_AFTER_SECONDS, on a slow machine
KILL_AFTER_SECONDS = 4
BURST_SECONDS = 10  # the writers' own bound; the kill comes earlier


class Writer(Browser):
    """One author on one connection: sign in, then new posts and edits until the server dies."""

    def __init__(self, number: int, port: int, acks: list, stop: threading.Event):
        super().__init__(port, keep_alive=True, timeout=10)
        self.number, self.acks, self.stop = number, acks, stop
        self.posts: list[int] = []
        self.refused: list[str] = []

    def run(self) -> None:
        try:
            self.sign_in(f"writer{self.number}@example.com", PASSWORD)
            count = 0
            deadline = time.monotonic() + BURST_SECONDS
            while not self.stop.is_set() and time.monotonic() < deadline:
                count += 1
                self.save(f"c{self.number}s{count}", count % 3 == 0)
        except (OSError, http.client.HTTPException):
            pass  # the server was killed
        finally:
            self.close()

    def save(self, save_id: str, edit: bool) -> None:
        post_id = self.posts[-1] if edit and self.posts else None
        path = f"/admin/posts/{post_id}/edit" if post_id else "/admin/posts/new"
        page = self.get(path)
        assert page.status == 200, f"GET {path} answered {page.status}"
        version = int(field_value(page.body, "version")) if post_id else 0
        # A long body makes the search index's share of the transaction large.
        body = f"{save_id} marker{save_id}\n\n" + f"words of save {save_id} " * 4000
        form = {"title": f"Crash {save_id}",
                "body": body, "tags": f"{save_id}-one, {save_id}-two, crash",
                "kind": "post", "action": "publish"}  # fmt: skip
        if post_id:
            form["version"] = str(version)
        answer = self.request("POST", path, form)
        match = re.search(r"/admin/posts/(\d+)/edit", answer.location)
        if answer.status != 302 or not match:
            self.refused.append(f"{path}: {answer.status}")
            return
        saved = int(match.group(1))
        self.acks.append((saved, version + 1, save_id, body))
        if not post_id:
            self.posts.append(saved)


def _check_database(path: Path, acks: list) -> None:
    connection = sqlite3.connect(path)  # opening it replays the write-ahead log
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        connection.execute("INSERT INTO post_fts(post_fts) VALUES('integrity-check')")
        connection.rollback()
        posts = {
            post_id: (version, title, body)
            for post_id, version, title, body in connection.execute(
                "SELECT id, version, title, body_md FROM post"
            )
        }
        for post_id, (version, title, body) in posts.items():
            save_id = title.removeprefix("Crash ")
            revisions = connection.execute(
                "SELECT post_version, title, body_md FROM revision "
                "WHERE post_id = ? AND kind = 'save' ORDER BY post_version",
                (post_id,),
            ).fetchall()
            # One revision per save, none missing, none extra, the last one the post's text.
            assert [row[0] for row in revisions] == list(range(1, version + 1)), post_id
            assert revisions[-1][1:] == (title, body), post_id
            tags = {
                row[0]
                for row in connection.execute(
                    "SELECT tag.name FROM post_tag JOIN tag ON tag.id = post_tag.tag_id "
                    "WHERE post_tag.post_id = ?",
                    (post_id,),
                )
            }
            assert tags == {f"{save_id}-one", f"{save_id}-two", "crash"}, post_id
            found = connection.execute(
                "SELECT rowid FROM post_fts WHERE post_fts MATCH ?", (f'"marker{save_id}"',)
            ).fetchall()
            assert found == [(post_id,)], f"the search index disagrees about post {post_id}"
        orphans = connection.execute(
            "SELECT count(*) FROM revision WHERE post_id NOT IN (SELECT id FROM post)"
        ).fetchone()[0]
        assert orphans == 0
        orphan_tags = connection.execute(
            "SELECT count(*) FROM post_tag WHERE post_id NOT IN (SELECT id FROM post) "
            "OR tag_id NOT IN (SELECT id FROM tag)"
        ).fetchone()[0]
        assert orphan_tags == 0
        indexed = connection.execute("SELECT count(*) FROM post_fts").fetchone()[0]
        assert indexed == len(posts)
        for post_id, version, save_id, body in acks:  # every acknowledged save is there
            assert post_id in posts and posts[post_id][0] >= version, (post_id, save_id)
            revision = connection.execute(
                "SELECT body_md FROM revision WHERE post_id = ? AND post_version = ? "
                "AND kind = 'save'",
                (post_id, version),
            ).fetchone()
            assert revision == (body,), (post_id, save_id)
    finally:
        connection.close()


def test_sigkill_during_a_burst_of_saves_leaves_only_whole_saves(tmp_path):
    folder = tmp_path / "instance"
    accounts = [(f"writer{n}@example.com", f"Writer {n}", "author") for n in range(CLIENTS)]
    prepare_instance(folder, accounts, PASSWORD)
    acks: list = []
    stop = threading.Event()
    server = Server(folder, workers=2, threads=4).wait_until_up()
    writers = [Writer(number, server.port, acks, stop) for number in range(CLIENTS)]
    threads = [threading.Thread(target=writer.run) for writer in writers]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + KILL_AFTER_SECONDS
        while len(acks) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # while the other saves are in flight
        killed_at = len(acks)
    finally:
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    log_text = server.log_text()
    assert not any(thread.is_alive() for thread in threads)
    assert not [r for writer in writers for r in writer.refused], log_text[-2000:]
    assert killed_at >= CLIENTS, f"only {killed_at} saves before the kill"
    assert len(acks) <= killed_at + CLIENTS  # nothing was acknowledged after the kill
    _check_database(folder / "blog.sqlite3", acks)
