"""Many writers appending to the audit chain at once, each on its own connection and
really committing: the chain must come out with no fork and no gap.

These tests cannot run inside the rolled-back ``db`` fixture (its one connection
would serialise everything), so each gets a fresh migrated database of its own.
"""
import multiprocessing
import threading

import flask_migrate
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
def live_app(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
    return empty_app


def append_events(app, writer, transactions, start=None):
    """One writer: transactions of 1–3 events each; every fifth is rolled back."""
    committed = 0
    with app.app_context():
        if start is not None:
            start.wait()
        for n in range(transactions):
            for k in range(1 + (writer + n) % 3):
                audit.record("test.concurrent", entity_type="writer", entity_id=writer,
                             after={"n": n, "k": k}, lat=31.2, lon=121.4)
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
        rows = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash,
                                            AuditEvent.occurred_at).order_by(AuditEvent.seq)).all()
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


def test_parallel_writer_processes_append_one_chain_without_fork_or_gap(live_app, tmp_path):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    url = live_app.config["SQLALCHEMY_DATABASE_URI"]
    processes = [context.Process(target=_process_writer, args=(url, tmp_path, w, TRANSACTIONS, start, results))
                 for w in range(PROCESSES)]
    for process in processes:
        process.start()
    committed = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert_one_unbroken_chain(live_app, sum(committed))
