"""The migrations build the schema on an empty database, tear it down, and match the models."""

import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def table_names(app):
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_builds_every_table_and_downgrade_removes_them(empty_app):
    expected = {t.name for t in db.metadata.sorted_tables}
    with empty_app.app_context():
        flask_migrate.upgrade()
    assert table_names(empty_app) == expected
    with empty_app.app_context():
        flask_migrate.downgrade(revision="base")
    assert table_names(empty_app) == set()
    with empty_app.app_context():
        flask_migrate.upgrade()
    assert table_names(empty_app) == expected


def test_the_models_and_the_migrations_agree(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_the_audit_chain_starts_at_its_genesis(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
        head = db.session.execute(sa.text("SELECT seq, hash FROM audit_chain_head")).one()
    assert tuple(head) == (0, "0" * 64)
