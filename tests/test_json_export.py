"""`flask --app blog export json`: everything, no secrets, in the documented shape."""

import io
import json
import re
from datetime import datetime
from pathlib import Path

from PIL import Image
from werkzeug.datastructures import FileStorage

from blog.accounts import find_user
from blog.extensions import db
from blog.media import save_upload
from blog.models import (
    Comment,
    CommentStatus,
    RecoveryCode,
    Redirect,
    Subscriber,
    SubscriberStatus,
    User,
    utcnow,
)
from blog.portability import json_export
from blog.posts import Action, PostInput, save_post
from blog.settings import set_settings
from blog.taxonomy import create_category
from blog.user_sessions import hash_token, open_session

FORMAT_DOC = Path(json_export.__file__).with_name("FORMAT.md")
SECRET_FIELDS = {"password_hash", "token_hash", "totp_secret", "code_hash"}


def documented_fields() -> dict[str, dict[str, str]]:
    """Each record section of FORMAT.md: field name -> documented type."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in FORMAT_DOC.read_text("utf-8").splitlines():
        heading = re.fullmatch(r"### (\w+)", line.strip())
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        row = re.match(r"\| `(\w+)` \| ([^|]+) \|", line)
        if row and current is not None:
            current[row.group(1)] = row.group(2).strip()
    return sections


def matches(value, documented: str) -> bool:
    options = [option.strip() for option in documented.split(" or ")]
    for option in options:
        if option == "null" and value is None:
            return True
        if option == "any":
            return True
        if option == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option == "boolean" and isinstance(value, bool):
            return True
        if option == "string" and isinstance(value, str):
            return True
        if option == "array" and isinstance(value, list):
            return True
        if option == "timestamp" and isinstance(value, str):
            return datetime.fromisoformat(value.removesuffix("Z")) is not None and value.endswith(
                "Z"
            )
    return False


def all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in all_keys(item)}
    return set()


def fill(users) -> None:
    admin = db.session.get(User, users["admin"]["id"])
    admin.totp_secret = "JBSWY3DPEHPK3PXPSECRET"
    admin.totp_enabled = True
    db.session.add(RecoveryCode(user_id=admin.id, code_hash="recovery-hash-value"))
    author = db.session.get(User, users["author"]["id"])
    category = create_category("Notes", "Short ones")
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (9, 9, 9)).save(buffer, "PNG")
    image = save_upload(FileStorage(io.BytesIO(buffer.getvalue()), "dot.png"), author)
    db.session.flush()
    post = save_post(
        None,
        PostInput(title="Första", body_md="Hej *världen*", category_id=category.id, tags="a, b"),
        author,
        Action.PUBLISH,
    )
    data = PostInput(
        title="Första!",
        body_md="Hej igen",
        slug="forsta-igen",
        category_id=category.id,
        tags="b",
        featured_media_id=image.id,
    )
    save_post(post, data, author)
    first = Comment(post=post, author_name="Rita", author_email="rita@example.net",
                    body_md="Hej!", body_html="<p>Hej!</p>", status=CommentStatus.APPROVED,
                    address="203.0.113.77", form_nonce="nonce-of-the-form-0001")  # fmt: skip
    db.session.add(first)
    db.session.flush()
    db.session.add(
        Comment(post=post, thread_id=first.id, reply_to=first, user_id=author.id,
                author_name=author.display_name, author_email=author.email, body_md="Tack.",
                body_html="<p>Tack.</p>", status=CommentStatus.PENDING,
                author_url="https://author.example", import_key="wordpress-comment:x")
    )  # fmt: skip
    db.session.add(
        Subscriber(
            email="sub@example.net",
            name="Sub",
            consent="the form",
            status=SubscriberStatus.CONFIRMED,
            confirmed_at=utcnow(),
        )
    )
    set_settings({"site_title": "Export test", "posts_per_page": 7})
    db.session.add(Redirect(old_path="/?p=1", new_path="/forsta-igen/"))
    db.session.commit()


def test_json_export_holds_everything_but_secrets(app, runner, users, tmp_path):
    with app.app_context():
        fill(users)
        hashes = [user.password_hash for user in db.session.scalars(db.select(User))]
        tokens = [open_session(user) for user in db.session.scalars(db.select(User))]
        tokens += [hash_token(token) for token in tokens]  # the stored form, too
        db.session.commit()
    out = tmp_path / "blog.json"
    result = runner.invoke(args=["export", "json", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 users" in result.output and "1 posts" in result.output
    text = out.read_text("utf-8")
    document = json.loads(text)
    assert document["format"] == "blog-export" and document["version"] == 1
    assert document["site_url"] == "http://blog.test"
    assert not all_keys(document) & SECRET_FIELDS
    for secret in [*hashes, *tokens, "JBSWY3DPEHPK3PXPSECRET", "recovery-hash-value"]:
        assert secret not in text
    admin = next(u for u in document["users"] if u["email"] == users["admin"]["email"])
    assert admin["totp_enabled"] is True and admin["role"] == "admin"
    (post,) = document["posts"]
    assert post["title"] == "Första!" and post["status"] == "published"
    tags = {tag["id"]: tag["name"] for tag in document["tags"]}
    assert [tags[i] for i in post["tag_ids"]] == ["b"]
    assert post["category_id"] == document["categories"][0]["id"]
    assert [r["title"] for r in document["revisions"]] == ["Första", "Första!"]
    settings = {s["key"]: s["value"] for s in document["settings"]}
    assert settings["site_title"] == "Export test" and settings["posts_per_page"] == 7
    assert document["redirects"][0]["old_path"] == "/?p=1"
    assert document["counts"]["revisions"] == 2
    # Comments, with their thread and their writers' emails, but not where they came from.
    first, reply = document["comments"]
    assert first["post_id"] == reply["post_id"] == post["id"]
    assert reply["thread_id"] == reply["reply_to_id"] == first["id"]
    assert first["author_email"] == "rita@example.net" and reply["status"] == "pending"
    assert "203.0.113.77" not in text and "nonce-of-the-form-0001" not in text
    assert not all_keys(document["comments"]) & {"address", "form_nonce"}
    # Newsletter subscribers, with how they agreed.
    (subscriber,) = document["subscribers"]
    assert (subscriber["email"], subscriber["status"], subscriber["consent"]) == (
        "sub@example.net", "confirmed", "the form")  # fmt: skip


def test_json_export_has_the_documented_shape(app, runner, users, tmp_path):
    with app.app_context():
        fill(users)
    out = tmp_path / "blog.json"
    runner.invoke(args=["export", "json", str(out)])
    document = json.loads(out.read_text("utf-8"))
    documented = documented_fields()
    assert set(documented) == set(json_export.FIELDS) == set(json_export.MODELS)
    assert set(document) == {"format", "version", "exported_at", "site_url", "counts"} | set(
        documented
    )
    assert matches(document["exported_at"], "timestamp")
    for section, fields in documented.items():
        assert list(fields) == list(json_export.FIELDS[section]), section
        assert document[section], f"no {section} to check"
        for record in document[section]:
            assert list(record) == list(fields), section
            for name, kind in fields.items():
                assert matches(record[name], kind), (section, name, record[name])


def test_export_of_an_empty_blog(app, runner, tmp_path):
    out = tmp_path / "empty.json"
    assert runner.invoke(args=["export", "json", str(out)]).exit_code == 0
    document = json.loads(out.read_text("utf-8"))
    assert document["posts"] == [] and document["counts"]["users"] == 0
    with app.app_context():
        assert find_user("nobody@example.com") is None
