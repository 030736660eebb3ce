"""Notifications ("something needs you" emails), against a real SMTP server: by role, to a
post's author, never to deactivated users or to those who switched the kind off in Profile."""

import pytest

from blog import notifications
from blog.accounts import create_user, set_active
from blog.extensions import db
from blog.models import OutgoingEmail, Role, User
from blog.posts import PostInput, save_post
from tests.conftest import PASSWORD, run_jobs
from tests.email_links import text_of

KIND = "invitation_accepted"
CONTEXT = {"person": "Nell New", "email": "nell@example.com", "role": "author"}


@pytest.fixture
def team(mail_app):
    """Two admins (one deactivated), an editor, two authors; their ids by name."""
    people = {
        "ada": ("ada@example.com", Role.ADMIN),
        "abe": ("abe@example.com", Role.ADMIN),
        "eve": ("eve@example.com", Role.EDITOR),
        "ann": ("ann@example.com", Role.AUTHOR),
        "art": ("art@example.com", Role.AUTHOR),
    }
    with mail_app.app_context():
        users = {
            name: create_user(email, name.title(), role, PASSWORD)
            for name, (email, role) in people.items()
        }
        db.session.commit()
        set_active(users["abe"], False)
        db.session.commit()
        return {name: user.id for name, user in users.items()}


def send(app, targets, **options) -> list[str]:
    """Notify in the app, commit, run the jobs; the addresses notify chose."""
    with app.app_context():
        resolved = [db.session.get(User, t) if isinstance(t, int) else t for t in targets]
        chosen = notifications.notify(
            resolved, "Nell joined", KIND, kind=KIND, **options, **CONTEXT
        )
        db.session.commit()
        addresses = [user.email for user in chosen]
    run_jobs(app)
    return addresses


def test_by_role_every_active_user_of_those_roles_gets_one_email(mail_app, smtp_server, team):
    chosen = send(mail_app, [Role.ADMIN, Role.EDITOR])
    assert chosen == ["ada@example.com", "eve@example.com"]  # abe is deactivated
    messages = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in messages) == chosen
    body = text_of(messages[0])
    assert "Nell New (nell@example.com) accepted an invitation" in body
    assert "http://blog.test/admin/profile#notifications" in body  # where to switch it off
    assert messages[0]["Auto-Submitted"] == "auto-generated"


def test_a_posts_author_is_notified_once_even_when_named_twice(mail_app, smtp_server, team):
    with mail_app.app_context():
        art = db.session.get(User, team["art"])
        post = save_post(None, PostInput(title="Waiting"), art)
        db.session.commit()
        post_id = post.id
    with mail_app.app_context():
        from blog.models import Post

        post = db.session.get(Post, post_id)
        chosen = notifications.notify(
            [post, post.author, Role.AUTHOR], "Nell joined", KIND, kind=KIND, **CONTEXT
        )
        db.session.commit()
        assert [user.email for user in chosen] == ["art@example.com", "ann@example.com"]
    run_jobs(mail_app)
    assert sorted(m["To"] for m in smtp_server.wait_for(2)) == [
        "ann@example.com",
        "art@example.com",
    ]


def test_a_user_who_switched_the_kind_off_in_profile_gets_nothing(mail_app, smtp_server, team):
    client = mail_app.test_client()
    client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    profile = client.get("/admin/profile").get_data(as_text=True)
    assert f'name="kind" value="{KIND}" checked' in profile
    saved = client.post("/admin/profile/notifications", data={})  # every box unticked
    assert saved.status_code == 303
    assert f'name="kind" value="{KIND}" checked' not in client.get("/admin/profile").get_data(
        as_text=True
    )

    assert send(mail_app, [Role.ADMIN, Role.EDITOR]) == ["eve@example.com"]
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["eve@example.com"]

    client.post("/admin/profile/notifications", data={"kind": [*notifications.KINDS, "nope"]})
    with mail_app.app_context():
        assert db.session.get(User, team["ada"]).notifications_off == []


def test_the_person_who_caused_it_can_be_left_out(mail_app, smtp_server, team):
    with mail_app.app_context():
        ada = db.session.get(User, team["ada"])
        chosen = notifications.notify([Role.ADMIN], "x", KIND, kind=KIND, exclude=[ada], **CONTEXT)
        assert chosen == []
        db.session.commit()
        assert db.session.scalars(db.select(OutgoingEmail)).all() == []


def test_an_unknown_kind_is_a_programming_error(mail_app, team):
    with mail_app.app_context(), pytest.raises(ValueError, match="Unknown notification kind"):
        notifications.notify([Role.ADMIN], "x", KIND, kind="no_such_kind")


def test_without_email_nothing_is_queued_and_nothing_breaks(app, users):
    with app.app_context():
        assert notifications.notify([Role.ADMIN], "x", KIND, kind=KIND, **CONTEXT) == []
        db.session.commit()
        assert db.session.scalars(db.select(OutgoingEmail)).all() == []


def test_admins_hear_when_an_invitation_is_accepted(mail_app, smtp_server, team):
    from blog import invitations

    with mail_app.app_context():
        ada = db.session.get(User, team["ada"])
        _, link = invitations.invite("nell@example.com", "author", invited_by=ada)
        db.session.commit()
    path = link.removeprefix("http://blog.test")
    joined = mail_app.test_client().post(
        path, data={"display_name": "Nell New", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert joined.status_code == 302
    run_jobs(mail_app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Nell New accepted an invitation to join"
    assert "Nell New (nell@example.com) accepted an invitation and joined My Blog as author" in (
        text_of(message)
    )
