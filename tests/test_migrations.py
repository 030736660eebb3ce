"""The schema is managed by Alembic: migrations build exactly the models' schema, both ways."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from blog.extensions import db


def _schema_differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_empty_database_then_downgrade_base_then_upgrade_head(app):
    with app.app_context():
        db.session.remove()
        db.drop_all()
        upgrade()
        assert _schema_differences() == []
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names())
        assert tables <= {"alembic_version"}
        upgrade()
        assert _schema_differences() == []
        assert "post" in inspect(db.engine).get_table_names()
