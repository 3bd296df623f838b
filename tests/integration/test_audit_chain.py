"""The audit log is a hash chain that verification recomputes link by link."""

from unittest import mock

import pytest
import sqlalchemy as sa

from app import audit
from app.models import AuditEvent, AuditPersonalValue, Region


def write_events(app, db, n):
    with app.app_context():
        for i in range(n):
            audit.record(
                "test.event",
                entity_type="thing",
                entity_id=i,
                after={"i": i, "phone": "13800001111"},
                lat=31.2 + i / 1000,
                lon=121.4,
            )
            db.session.commit()


def test_events_are_chained_and_verify_intact(app, db):
    write_events(app, db, 5)
    with app.app_context():
        result = audit.verify_chain()
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert result["ok"] and result["checked"] == 5
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:]))
    assert result["head"] == {"seq": 5, "hash": events[-1].hash}


def test_personal_data_is_masked_in_the_log_and_kept_out_of_the_hashed_bytes(app, db):
    write_events(app, db, 1)
    with app.app_context():
        changes = db.session.scalars(sa.select(AuditEvent.changes)).one()
        beside = db.session.scalars(sa.select(AuditPersonalValue.values)).one()
    assert "1111" not in changes and '"phone":{"$pii":' in changes
    assert "13800001111" not in beside and "138****1111" in beside


def test_a_rolled_back_change_leaves_no_event(app, db):
    with app.app_context():
        db.session.add(Region(code="X", name="X", timezone="UTC"))
        audit.record("region.created", entity_type="regions", entity_id="X")
        db.session.rollback()
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_events_of_a_rolled_back_savepoint_are_dropped_but_the_rest_kept(app, db):
    with app.app_context():
        audit.record("kept.before", entity_type="thing")
        nested = db.session.begin_nested()
        audit.record("dropped", entity_type="thing")
        nested.rollback()
        audit.record("kept.after", entity_type="thing")
        db.session.commit()
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["kept.before", "kept.after"]


def _tamper(app, db, statement):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.exec_driver_sql(statement)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()
        return audit.verify_chain()


def test_an_altered_field_is_found_at_its_link(app, db):
    write_events(app, db, 5)
    result = _tamper(app, db, "UPDATE audit_events SET changes = '{}' WHERE seq = 3")
    assert not result["ok"]
    assert result["first_broken"]["seq"] == 3 and result["first_broken"]["what"] == "hash"
    assert result["checked"] == 2


def test_a_deleted_event_is_found_as_a_gap(app, db):
    write_events(app, db, 5)
    result = _tamper(app, db, "DELETE FROM audit_events WHERE seq = 4")
    assert result["first_broken"]["seq"] == 4 and result["first_broken"]["what"] == "missing"


def test_a_deleted_last_event_is_found_against_the_chain_head(app, db):
    write_events(app, db, 3)
    result = _tamper(app, db, "DELETE FROM audit_events WHERE seq = 3")
    assert not result["ok"] and result["first_broken"]["seq"] == 3


def test_a_rehashed_forgery_breaks_the_next_link(app, db):
    write_events(app, db, 4)
    with app.app_context():
        row = db.session.execute(sa.select(AuditEvent.__table__).where(AuditEvent.seq == 2)).mappings().one()
        forged = {**row, "changes": '{"after":{"i":99}}'}
        new_hash = audit.link_hash(forged)
    result = _tamper(
        app, db, f"UPDATE audit_events SET changes = '{forged['changes']}', hash = '{new_hash}' WHERE seq = 2"
    )
    assert result["first_broken"] == {
        "seq": 3,
        "what": "prev_hash",
        "detail": "does not match the previous event's hash",
    }


def test_postgresql_refuses_to_update_or_delete_audit_events(app, db, backend):
    if backend != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL; SQLite relies on verification")
    write_events(app, db, 1)
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"):
        with app.app_context():
            nested = db.session.begin_nested()
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                db.session.execute(sa.text(statement))
            nested.rollback()


def test_an_event_of_a_rolled_back_transaction_that_touched_no_row_is_dropped(app, db):
    with app.app_context():
        audit.record("pii.read", entity_type="debtors", entity_id=1)
        db.session.rollback()
        audit.record("kept", entity_type="thing")
        db.session.commit()
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions == ["kept"]


def test_an_event_left_behind_by_a_closed_session_is_not_appended_later(app, db):
    with app.app_context():
        audit.record("abandoned", entity_type="thing")
        db.session.close()
        audit.record("kept", entity_type="thing")
        db.session.commit()
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions == ["kept"]


def test_an_integer_coordinate_is_stored_so_that_it_verifies(app, db):
    with app.app_context():
        audit.record("field.action", entity_type="thing", lat=31, lon=121)
        db.session.commit()
        assert audit.verify_chain()["ok"]


def test_awkward_values_written_through_the_app_verify(app, db):
    with app.app_context():
        for text in ['say "hi"', "back\\slash", "line\nbreak\ttab", "王芳 é 😀", "\u2028", ""]:
            audit.record(
                text or "empty.entity",
                entity_type=text or "t",
                entity_id=text or None,
                after={"note": text, "phone": "13800001111"},
                lat=-0.0,
                lon=180,
            )
        db.session.commit()
        assert audit.verify_chain()["ok"]


# ---------------------------------------------------------------- personal values beside the chain


def _beside(app, db, statement, **params):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_personal_values DISABLE TRIGGER USER")
        connection.execute(sa.text(statement), params)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_personal_values ENABLE TRIGGER USER")
        db.session.commit()


def test_a_personal_value_altered_beside_the_chain_is_found_by_verify(app, db):
    write_events(app, db, 3)
    with app.app_context():
        held = db.session.get(AuditPersonalValue, 2).values
    _beside(
        app,
        db,
        'UPDATE audit_personal_values SET "values" = :v WHERE seq = 2',
        v=held.replace("138****1111", "139****9999"),
    )
    with app.app_context():
        result = audit.verify_chain()
    assert not result["ok"] and result["first_broken"]["seq"] == 2
    assert result["first_broken"]["what"] == "personal_value" and "/after/phone" in result["first_broken"]["detail"]


def test_values_swapped_between_two_events_are_found_too(app, db):
    with app.app_context():
        audit.record("debtor.updated", entity_type="debtors", entity_id=1, after={"name": "Wang Wu"})
        audit.record("debtor.updated", entity_type="debtors", entity_id=2, after={"name": "Li Si"})
        db.session.commit()
        first, second = (db.session.get(AuditPersonalValue, seq).values for seq in (1, 2))
    _beside(app, db, 'UPDATE audit_personal_values SET "values" = :v WHERE seq = 1', v=second)
    with app.app_context():
        assert audit.verify_chain()["first_broken"]["what"] == "personal_value"


def test_erasing_a_debtors_values_leaves_the_chain_verifying(app, db):
    with app.app_context():
        audit.record(
            "debtor.created", entity_type="debtors", entity_id=7, after={"name": "Zhao Liu", "phone": "13600001111"}
        )
        audit.record("debtor.created", entity_type="debtors", entity_id=8, after={"name": "Qian Qi"})
        audit.record("visit.noted", entity_type="visits", entity_id=3, subjects=[7], after={"notes": "met Zhao"})
        db.session.commit()
        assert audit.erase_personal_values([7]) == 2
        db.session.commit()
        result = audit.verify_chain()
        assert result["ok"] and result["personal_values_checked"] == 1
        assert audit.personal_values() == {2: {"/after/name": [mock.ANY, "Q******"]}}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context(), pytest.raises(sa.exc.DBAPIError, match="erased, never changed"):
            db.session.execute(sa.text("UPDATE audit_personal_values SET \"values\" = '{}'"))


@pytest.mark.parametrize("events", [3, 250])
def test_a_transaction_of_many_events_with_personal_values_and_subjects_is_appended_whole(app, db, events):
    """A few events go in one statement on PostgreSQL, an import's hundreds row by row
    (audit.ONE_STATEMENT_ROWS): either way every event, its personal values and the debtors
    it is about are stored and the chain verifies."""
    rows = events * 4  # an event, its personal value and two subjects each
    assert (rows <= audit.ONE_STATEMENT_ROWS) == (events == 3)  # both ways are tried
    with app.app_context():
        for i in range(events):
            audit.record(
                "test.batch",
                entity_type="thing",
                entity_id=i,
                after={"i": i, "phone": f"1380000{i:04d}"},
                subjects=[1000 + i, 2000 + i],
            )
        db.session.commit()
        result = audit.verify_chain()
        stored = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.entity_id).order_by(AuditEvent.seq)).all()
        values = dict(db.session.execute(sa.select(AuditPersonalValue.seq, AuditPersonalValue.values)).all())
        about = db.session.execute(
            sa.text("SELECT seq, debtor_id FROM audit_event_subjects ORDER BY seq, debtor_id")
        ).all()
    assert result["ok"], result
    assert result["checked"] == events
    assert [entity for _, entity in stored] == [str(i) for i in range(events)]
    seqs = [seq for seq, _ in stored]
    assert all(f'"138****{i:04d}"' in values[seq] for i, seq in enumerate(seqs))  # masked, as kept
    assert about == [(seq, debtor) for i, seq in enumerate(seqs) for debtor in (1000 + i, 2000 + i)]
