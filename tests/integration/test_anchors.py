"""The chain head is anchored outside the database, signed with a key the database
never holds; verification checks the chain against every anchor."""
import pytest
import sqlalchemy as sa

from app import audit
from app.services import audit_log


def write(app, db, n):
    with app.app_context():
        for i in range(n):
            audit.record("thing.done", entity_type="things", entity_id=i, after={"i": i})
            db.session.commit()


@pytest.fixture()
def anchor_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "ANCHOR_DIR", str(tmp_path / "anchors"))
    monkeypatch.setitem(app.config, "ANCHOR_S3_BUCKET", None)
    app.extensions.pop("anchor_store", None)
    yield tmp_path / "anchors"
    app.extensions.pop("anchor_store", None)


def superuser_cover_up(app, db, keep):
    """What a database superuser can do: switch the append-only trigger off, delete the
    last events, move the chain head back to the last one kept, switch the trigger on."""
    with app.app_context():
        connection = db.session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.execute(sa.text("DELETE FROM audit_events WHERE seq > :keep"), {"keep": keep})
        kept = connection.execute(sa.text("SELECT hash FROM audit_events WHERE seq = :keep"), {"keep": keep}).scalar()
        connection.execute(sa.text("UPDATE audit_chain_head SET seq = :keep, hash = :hash"),
                           {"keep": keep, "hash": kept})
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()


def test_a_superuser_who_cuts_the_tail_and_rewinds_the_head_is_reported_by_the_anchors(app, db, anchor_dir):
    write(app, db, 6)
    result = app.test_cli_runner().invoke(args=["audit", "anchor"])
    assert result.exit_code == 0, result.output
    assert "seq 6" in result.output
    superuser_cover_up(app, db, keep=4)
    with app.app_context():
        chain_alone = audit.verify_chain()
        result = audit_log.verify()
    assert chain_alone["ok"]  # the cut chain is consistent in itself: only the anchor shows it
    assert not result["ok"]
    assert result["first_broken"]["what"] == "anchor"
    assert "6" in result["first_broken"]["detail"] and "4" in result["first_broken"]["detail"]
