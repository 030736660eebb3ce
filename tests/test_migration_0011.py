"""Migration 0011 (invitations, rate events, notification switches) on a database in use:
rebuilding `user` on SQLite must keep every account's sessions, posts and emails."""

from flask_migrate import upgrade
from sqlalchemy import text

from blog.extensions import db


def test_upgrading_keeps_sessions_posts_and_switches_every_notification_on(app):
    with app.app_context():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="0008")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    'INSERT INTO "user" (id, email, display_name, slug, bio, role, active,'
                    " created_at, totp_enabled) VALUES (1, 'ann@example.com', 'Ann', 'ann', '',"
                    " 'author', true, CURRENT_TIMESTAMP, false)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO user_session (user_id, token_hash, created_at, last_seen_at,"
                    " device, address, remember) VALUES (1, 'h', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP, 'Firefox on Linux', '127.0.0.1', false)"
                )
            )
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM user_session")).scalar() == 1
            switches = connection.execute(text('SELECT notifications_off FROM "user"')).scalar()
        assert switches in ([], "[]")
