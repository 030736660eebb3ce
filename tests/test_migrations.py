"""The schema is managed by Alembic: migrations build exactly the models' schema, both ways."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from blog.extensions import db
from blog.search import include_name, include_object


def _schema_differences():
    with db.engine.connect() as connection:
        options = {
            "render_as_batch": True,
            "include_name": include_name,  # the search objects are not in the models
            "include_object": include_object,
        }
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, db.metadata)


def test_upgrade_empty_database_then_downgrade_base_then_upgrade_head(app):
    with app.app_context():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:  # a shared PostgreSQL may hold an earlier run's
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        assert _schema_differences() == []
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names())
        assert tables <= {"alembic_version"}
        upgrade()
        assert _schema_differences() == []
        assert "post" in inspect(db.engine).get_table_names()
        # Rebuilding `user` by copy (0010 on SQLite) keeps its role check, exactly once.
        checks = [c["sqltext"] for c in inspect(db.engine).get_check_constraints("user")]
        assert len([check for check in checks if "role" in check]) == 1, checks


def test_search_finds_posts_saved_after_migrating_to_head(app):
    """Batch mode rebuilds `post` on SQLite, which drops the search triggers with it."""
    from blog import search
    from blog.models import User
    from blog.posts import Action, PostInput, save_post

    with app.app_context():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        author = User(email="m@example.com", display_name="M", slug="m")
        db.session.add(author)
        db.session.flush()
        save_post(None, PostInput(title="Lighthouse", body_md="Foghorns."), author, Action.PUBLISH)
        db.session.commit()
        found = search.search("foghorns", 1)
        assert [post.title for post, _ in found.items] == ["Lighthouse"]
