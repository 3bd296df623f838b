"""Many processes on the audit chain at once, each on its own connection and really
committing: writers must leave one chain with no fork and no gap, and a check split
across worker processes must answer exactly what a single check answers.

These tests cannot run inside the rolled-back ``db`` fixture (its one connection
would serialise everything), so each gets a fresh migrated database of its own.
"""

import multiprocessing
import threading

import pytest
import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import AuditEvent
from tests.conftest import make_app

WRITERS = 6
TRANSACTIONS = 40
PROCESSES = 4  # each process imports the whole app: fewer, to keep the suite quick


@pytest.fixture()
def live_app(migrated_app):
    return migrated_app


def append_events(app, writer, transactions, start=None):
    """One writer: transactions of 1–3 events each; every fifth is rolled back."""
    committed = 0
    with app.app_context():
        if start is not None:
            start.wait()
        for n in range(transactions):
            for k in range(1 + (writer + n) % 3):
                audit.record(
                    "test.concurrent",
                    entity_type="writer",
                    entity_id=writer,
                    after={"n": n, "k": k},
                    lat=31.2,
                    lon=121.4,
                )
            if n % 5 == 4:
                db.session.rollback()
            else:
                db.session.commit()
                committed += 1 + (writer + n) % 3
        db.session.remove()
    return committed


def _process_writer(url, storage, writer, transactions, start, results):
    app = make_app(url, storage)
    results.put(append_events(app, writer, transactions, start))
    with app.app_context():
        db.engine.dispose()


def assert_one_unbroken_chain(app, expected):
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.occurred_at).order_by(
                AuditEvent.seq
            )
        ).all()
        result = audit.verify_chain()
    assert [r.seq for r in rows] == list(range(1, expected + 1)), "a gap or a duplicate sequence"
    previous = audit.GENESIS_HASH
    for row in rows:
        assert row.prev_hash == previous, f"fork at seq {row.seq}"
        previous = row.hash
    stamps = [row.occurred_at for row in rows]
    assert stamps == sorted(stamps), "the log's clock went backwards"
    assert result["ok"], result
    assert result["checked"] == expected and result["head"] == {"seq": expected, "hash": previous}


def test_parallel_writer_threads_append_one_chain_without_fork_or_gap(live_app):
    start = threading.Barrier(WRITERS)
    counts = [0] * WRITERS
    errors = []

    def run(writer):
        try:
            counts[writer] = append_events(live_app, writer, TRANSACTIONS, start)
        except Exception as exc:  # reported below, with the writer that failed
            errors.append((writer, exc))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) > WRITERS * TRANSACTIONS
    assert_one_unbroken_chain(live_app, sum(counts))


@pytest.mark.slow
def test_parallel_writer_processes_append_one_chain_without_fork_or_gap(live_app, tmp_path):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    url = live_app.config["SQLALCHEMY_DATABASE_URI"]
    processes = [
        context.Process(target=_process_writer, args=(url, tmp_path, w, TRANSACTIONS, start, results))
        for w in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    committed = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert_one_unbroken_chain(live_app, sum(committed))


def _tamper(app, *statements):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        for statement in statements:
            connection.exec_driver_sql(statement)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()


def _forge(app, seq):
    """Alter event ``seq`` and re-hash it, as a forger who knows the hash would."""
    with app.app_context():
        row = db.session.execute(sa.select(AuditEvent.__table__).where(AuditEvent.seq == seq)).mappings().one()
        forged = {**row, "changes": '{"after":{"forged":true}}'}
        return (
            f"UPDATE audit_events SET changes = '{forged['changes']}', hash = '{audit.link_hash(forged)}' "
            f"WHERE seq = {seq}"
        )


# 100 events in three segments of at most 34: 1-34, 35-68, 69-100.
TAMPERING = {
    "intact": lambda app: [],
    "an altered field inside a segment": lambda app: ["UPDATE audit_events SET action = 'x' WHERE seq = 50"],
    "a removed event at a segment's start": lambda app: ["DELETE FROM audit_events WHERE seq = 35"],
    "a removed event at a segment's end": lambda app: ["DELETE FROM audit_events WHERE seq = 68"],
    "a forgery re-hashed at a segment's end": lambda app: [_forge(app, 34)],
    "a removed whole segment": lambda app: ["DELETE FROM audit_events WHERE seq BETWEEN 35 AND 68"],
    "an altered chain head": lambda app: ["UPDATE audit_chain_head SET hash = '" + "f" * 64 + "'"],
}


@pytest.mark.slow
@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_check_split_across_worker_processes_answers_as_a_single_check_does(live_app, tampering):
    with live_app.app_context():
        for n in range(100):
            audit.record("test.segmented", entity_type="thing", entity_id=n, after={"n": n})
            if n % 10 == 9:
                db.session.commit()
    _tamper(live_app, *TAMPERING[tampering](live_app))
    with live_app.app_context():
        single = audit.verify_chain(batch_size=10)
        split = audit.verify_chain(batch_size=10, workers=3)
    assert split == single
    assert single["ok"] is (tampering == "intact")
