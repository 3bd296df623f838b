"""A partitioned audit log (AUDIT_CHAINS > 1): each writer appends to its actor's chain
under that chain's lock only, the chains share one sequence of numbers, and the anchors
bind every chain's head. Whatever a database administrator does to cover tracks is still
found: an edited, deleted, reordered, inserted or moved event, a chain cut at its end, an
edited head, and a chain re-hashed after an edit (by the anchors written outside)."""

import threading
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app import audit
from app.extensions import db as _db
from app.models import AuditChainHead, AuditEvent
from app.services import audit_log
from auditchain import GENESIS_HASH, chain_genesis, heads_hash

CHAINS = 4


@pytest.fixture(autouse=True)
def one_chain_again(app):
    """The app is shared by the session: put its single chain back after each test, and
    forget the chains this process opened (the test's transaction is rolled back)."""
    app.extensions.pop("audit_chains_opened", None)
    yield
    app.config["AUDIT_CHAINS"] = 1
    app.extensions.pop("audit_chains_opened", None)


def actor(n):
    """A person whose events go on chain 1 + n % CHAINS."""
    return SimpleNamespace(id=n, role="agent")


def write(app, db, *actors, per_actor=1):
    """One transaction per event, round the actors in turn; answers each event's chain."""
    app.config["AUDIT_CHAINS"] = CHAINS
    with app.app_context():
        for i in range(per_actor):
            for who in actors:
                audit.record(
                    "thing.done",
                    entity_type="things",
                    entity_id=f"{who}-{i}",
                    actor=actor(who),
                    after={"i": i, "phone": "13800001111"},
                    lat=31.2,
                    lon=121.4,
                )
                db.session.commit()


def events(app, db, chain=None):
    with app.app_context():
        stmt = sa.select(AuditEvent.__table__).order_by(AuditEvent.seq)
        if chain is not None:
            stmt = stmt.where(AuditEvent.chain == chain)
        return [dict(row) for row in db.session.execute(stmt).mappings()]


def tamper(app, db, *statements):
    """As a database administrator would: the append-only trigger off, the change, on again.
    A statement is SQL text, or a row (a dict) to insert into audit_events."""
    with app.app_context():
        connection = db.session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        for statement in statements:
            if isinstance(statement, dict):
                connection.execute(AuditEvent.__table__.insert(), statement)
            else:
                connection.exec_driver_sql(statement)
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()


def verify(app):
    with app.app_context():
        return audit.verify_chain()


def verify_with_anchors(app):
    with app.app_context():
        return audit_log.verify()


def anchor(app):
    result = app.test_cli_runner().invoke(args=["audit", "anchor"])
    assert result.exit_code == 0, result.output


def rehash_from(app, db, chain, seq, changes):
    """A forger who knows the hashing: edit event ``seq``, re-hash it and every later link
    of its chain, and move the chain's head to the new last hash."""
    rows = [r for r in events(app, db, chain) if r["seq"] >= seq]
    prev = (
        next(r["hash"] for r in reversed(events(app, db, chain)) if r["seq"] < seq)
        if any(r["seq"] < seq for r in events(app, db, chain))
        else chain_genesis(chain)
    )
    statements = []
    for row in rows:
        if row["seq"] == seq:
            row["changes"] = changes
        row["prev_hash"] = prev
        row["hash"] = prev = audit.link_hash(row)
        statements.append(
            f"UPDATE audit_events SET changes = '{row['changes']}', prev_hash = '{row['prev_hash']}', "
            f"hash = '{row['hash']}' WHERE seq = {row['seq']}"
        )
    statements.append(f"UPDATE audit_chain_head SET hash = '{prev}' WHERE id = {chain}")
    statements.append(f"DELETE FROM audit_personal_values WHERE seq = {seq}")  # the edited event's no longer fit
    tamper(app, db, *statements)


# ---------------------------------------------------------------- appending


def test_writers_of_different_people_append_to_their_own_chains_from_each_chains_genesis(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    stored = events(app, db)
    assert [e["seq"] for e in stored] == sorted({e["seq"] for e in stored})  # one sequence, no number twice
    assert len(stored) == 12
    for chain in range(1, CHAINS + 1):
        mine = [e for e in stored if e["chain"] == chain]
        assert len(mine) == 3 and mine[0]["prev_hash"] == chain_genesis(chain)
        assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(mine, mine[1:]))
        assert [e["occurred_at"] for e in mine] == sorted(e["occurred_at"] for e in mine)
    result = verify(app)
    assert result["ok"], result
    assert result["checked"] == 12
    heads = {c["chain"]: (c["seq"], c["hash"]) for c in result["head"]["chains"]}
    assert heads == {
        c: (max(e["seq"] for e in stored if e["chain"] == c), [e for e in stored if e["chain"] == c][-1]["hash"])
        for c in range(1, CHAINS + 1)
    }
    assert result["head"]["seq"] == stored[-1]["seq"] and result["head"]["hash"] == heads_hash(heads)


def test_one_persons_events_stay_in_their_order_on_one_chain(app, db):
    write(app, db, 7, 11, 7, 7)
    chains = {e["chain"] for e in events(app, db) if e["actor_user_id"] == 7}
    assert chains == {1 + 7 % CHAINS}


def test_a_log_of_one_chain_goes_on_as_chain_one_when_it_is_partitioned(app, db):
    app.config["AUDIT_CHAINS"] = 1
    with app.app_context():
        for i in range(3):
            audit.record("before.partitions", entity_type="things", entity_id=i, actor=actor(2))
            db.session.commit()
        single = audit.chain_head()
    assert "chains" not in single
    write(app, db, 1, 2, 3, 4)
    stored = events(app, db)
    assert [e["seq"] for e in stored[:3]] == [single["seq"] - 2, single["seq"] - 1, single["seq"]]
    assert {e["chain"] for e in stored[:3]} == {1}
    assert stored[0]["prev_hash"] == GENESIS_HASH
    first_on_chain_one = next(e for e in stored[3:] if e["chain"] == 1)
    assert first_on_chain_one["prev_hash"] == single["hash"]  # the old chain goes on
    assert len({e["seq"] for e in stored}) == 7 and min(e["seq"] for e in stored[3:]) > single["seq"]
    assert verify(app)["ok"]


def test_the_first_append_after_partitioning_takes_a_number_past_the_single_chains_even_on_chain_one(app, db):
    app.config["AUDIT_CHAINS"] = 1
    with app.app_context():
        for i in range(3):
            audit.record("before.partitions", entity_type="things", entity_id=i, actor=actor(4))
            db.session.commit()
    write(app, db, 4, 8, 1)  # chain 1 first (4 % 4 == 0), then chain 1 again, then chain 2
    stored = events(app, db)
    assert len(stored) == 6 and len({e["seq"] for e in stored}) == 6
    assert [e["chain"] for e in stored] == [1, 1, 1, 1, 1, 2]
    assert verify(app)["ok"]


def test_a_rolled_back_change_on_a_partitioned_log_leaves_no_event_and_no_broken_chain(app, db):
    write(app, db, 1, 2)
    with app.app_context():
        audit.record("dropped", entity_type="things", actor=actor(3))
        db.session.rollback()
    write(app, db, 3)
    assert "dropped" not in {e["action"] for e in events(app, db)}
    assert verify(app)["ok"]


def test_the_daily_head_of_a_partitioned_log_binds_every_chain(app, db, clock):
    write(app, db, 1, 2, 3)
    day = clock().date()
    clock.advance(days=1)
    write(app, db, 4)
    with app.app_context():
        head = audit.daily_head(day)
    stored = events(app, db)
    expected = {c: (0, chain_genesis(c)) for c in range(1, CHAINS + 1)}
    for e in stored[:3]:
        expected[e["chain"]] = (e["seq"], e["hash"])
    assert head["final"] is True
    assert {c["chain"]: (c["seq"], c["hash"]) for c in head["chains"]} == expected
    assert head["hash"] == heads_hash(expected)


# ---------------------------------------------------------------- covering tracks


def test_an_edited_event_on_a_chain_is_found_at_its_link(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    target = events(app, db, chain=3)[1]
    tamper(app, db, f"UPDATE audit_events SET action = 'nothing.happened' WHERE seq = {target['seq']}")
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"]["seq"] == target["seq"] and result["first_broken"]["what"] == "hash"
    assert result["first_broken"]["chain"] == 3


def test_a_deleted_event_in_the_middle_of_a_chain_is_found_at_the_next_link(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    chain = events(app, db, chain=2)
    tamper(app, db, f"DELETE FROM audit_events WHERE seq = {chain[1]['seq']}")
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"] == {
        "seq": chain[2]["seq"],
        "chain": 2,
        "what": "prev_hash",
        "detail": "does not match the previous event's hash",
    }


def test_a_deleted_first_event_of_a_chain_is_found(app, db):
    write(app, db, 1, 2, per_actor=2)
    chain = events(app, db, chain=2)
    tamper(app, db, f"DELETE FROM audit_events WHERE seq = {chain[0]['seq']}")
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["seq"] == chain[1]["seq"]


def test_the_last_events_of_a_chain_deleted_are_found_against_its_head(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    chain = events(app, db, chain=4)
    tamper(app, db, f"DELETE FROM audit_events WHERE seq >= {chain[1]['seq']} AND chain = 4")
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"]["chain"] == 4 and result["first_broken"]["what"] == "missing"
    assert result["first_broken"]["seq"] == chain[-1]["seq"]


def test_every_event_of_a_chain_deleted_is_found_against_its_head(app, db):
    write(app, db, 1, 2, per_actor=2)
    tamper(app, db, "DELETE FROM audit_events WHERE chain = 3")
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["chain"] == 3
    assert result["first_broken"]["what"] == "missing"


def test_a_cut_chain_with_its_head_moved_back_is_found_by_the_anchor(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    anchor(app)
    chain = events(app, db, chain=2)
    tamper(
        app,
        db,
        f"DELETE FROM audit_events WHERE chain = 2 AND seq > {chain[0]['seq']}",
        f"UPDATE audit_chain_head SET seq = {chain[0]['seq']}, hash = '{chain[0]['hash']}' WHERE id = 2",
    )
    assert verify(app)["ok"]  # consistent in itself: only what was written outside shows it
    result = verify_with_anchors(app)
    assert not result["ok"] and result["first_broken"]["what"] == "anchor"
    assert result["first_broken"]["chain"] == 2 and result["first_broken"]["seq"] == chain[0]["seq"] + 1


def test_a_whole_chain_removed_with_its_head_is_found_by_the_anchor(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=2)
    anchor(app)
    tamper(app, db, "DELETE FROM audit_events WHERE chain = 4", "DELETE FROM audit_chain_head WHERE id = 4")
    result = verify_with_anchors(app)
    assert not result["ok"] and result["first_broken"]["what"] == "anchor"
    assert result["first_broken"]["chain"] == 4


def test_two_events_swapped_on_a_chain_are_found(app, db):
    write(app, db, 1, 2, per_actor=3)
    first, second = events(app, db, chain=2)[:2]
    tamper(
        app,
        db,
        f"UPDATE audit_events SET seq = -1 WHERE seq = {first['seq']}",
        f"UPDATE audit_events SET seq = {first['seq']} WHERE seq = {second['seq']}",
        f"UPDATE audit_events SET seq = {second['seq']} WHERE seq = -1",
    )
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["chain"] == 2
    assert result["first_broken"]["seq"] == first["seq"]


def insert(app, db, row):
    tamper(app, db, row)


def test_a_forged_event_inserted_before_a_chains_first_is_found_at_the_next_link(app, db):
    write(app, db, 1, 2, per_actor=3)
    chain = events(app, db, chain=2)
    forged = {**chain[0], "seq": 0, "action": "forged", "prev_hash": chain_genesis(2)}
    forged["hash"] = audit.link_hash(forged)
    insert(app, db, forged)
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["chain"] == 2
    assert result["first_broken"]["seq"] in (0, chain[0]["seq"])  # the forgery, or the link it does not fit


def test_a_forged_event_inserted_mid_chain_is_found_at_the_next_link(app, db):
    write(app, db, 1, 1, 2, 1)  # chain 2, chain 2, chain 3, chain 2
    chain, other = events(app, db, chain=2), events(app, db, chain=3)[0]
    # The forger frees a number between chain 2's second and third events (chain 3's only
    # event, with chain 3's head put back to its genesis, so chain 3 looks untouched) and
    # puts a properly linked event there.
    forged = {**chain[1], "seq": other["seq"], "action": "forged", "prev_hash": chain[1]["hash"]}
    forged["hash"] = audit.link_hash(forged)
    tamper(
        app,
        db,
        f"DELETE FROM audit_events WHERE seq = {other['seq']}",
        f"UPDATE audit_chain_head SET seq = 0, hash = '{chain_genesis(3)}' WHERE id = 3",
        forged,
    )
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"] == {
        "seq": chain[2]["seq"],
        "chain": 2,
        "what": "prev_hash",
        "detail": "does not match the previous event's hash",
    }


def test_a_forged_event_past_a_chains_head_is_found(app, db):
    write(app, db, 1, 2, per_actor=2)
    last = events(app, db, chain=2)[-1]
    forged = {**last, "seq": 500, "action": "forged", "prev_hash": last["hash"]}
    forged["hash"] = audit.link_hash(forged)
    insert(app, db, forged)
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"]["seq"] == 500 and result["first_broken"]["chain"] == 2


def test_a_forged_event_on_a_chain_that_has_no_head_is_found(app, db):
    write(app, db, 1, 2)
    stored = events(app, db)
    forged = {**stored[0], "seq": 999, "chain": 9, "action": "forged", "prev_hash": chain_genesis(9)}
    forged["hash"] = audit.link_hash(forged)
    insert(app, db, forged)
    result = verify(app)
    assert not result["ok"]
    assert result["first_broken"]["what"] == "chain" and result["first_broken"]["seq"] == 999


def test_an_event_moved_to_another_chain_is_found(app, db):
    write(app, db, 1, 2, per_actor=3)
    moved = events(app, db, chain=2)[1]
    tamper(app, db, f"UPDATE audit_events SET chain = 3 WHERE seq = {moved['seq']}")
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["chain"] in (2, 3)


def test_an_edited_chain_head_is_found(app, db):
    write(app, db, 1, 2, 3, per_actor=2)
    tamper(app, db, "UPDATE audit_chain_head SET hash = '" + "f" * 64 + "' WHERE id = 3")
    result = verify(app)
    assert not result["ok"] and result["first_broken"] == {
        "seq": events(app, db, chain=3)[-1]["seq"],
        "chain": 3,
        "what": "head",
        "detail": "chain 3's head hash is not its last event's",
    }


def test_an_empty_chains_head_moved_off_its_genesis_is_found(app, db):
    write(app, db, 1, 2)  # chains 2 and 3; chains 1 and 4 stay empty
    tamper(app, db, "UPDATE audit_chain_head SET hash = '" + "e" * 64 + "' WHERE id = 4")
    result = verify(app)
    assert not result["ok"] and result["first_broken"]["chain"] == 4


def test_a_chain_rehashed_after_an_edit_verifies_alone_but_the_anchor_finds_it(app, db):
    write(app, db, 1, 2, 3, 4, per_actor=3)
    anchor(app)
    target = events(app, db, chain=3)[1]
    rehash_from(app, db, 3, target["seq"], '{"after":{"forged":true}}')
    alone = verify(app)
    assert alone["ok"], alone  # the forger knows the hashing
    result = verify_with_anchors(app)
    assert not result["ok"] and result["first_broken"]["what"] == "anchor"
    assert result["first_broken"]["chain"] == 3 and "rewritten" in result["first_broken"]["detail"]


def test_an_intact_partitioned_log_verifies_against_its_anchors_which_bind_every_chain(app, db, client, make):
    write(app, db, 1, 2, 3, 4)
    anchor(app)
    write(app, db, 1, 3)
    anchor(app)
    with app.app_context():
        head = audit.chain_head()
    import json
    from pathlib import Path

    written = [json.loads(p.read_text()) for p in sorted(Path(app.config["ANCHOR_DIR"]).glob("*.json"))]
    assert all(a["v"] == 2 and len(a["chains"]) == CHAINS for a in written)
    assert written[0]["hash"] == heads_hash({c: (s, h) for c, s, h in written[0]["chains"]})
    body = client.get("/api/v1/audit/verify", headers=make.token(make.user("auditor"))).json
    assert body["ok"], body
    assert body["anchors"]["checked"] == 2
    assert {c["chain"] for c in body["head"]["chains"]} == set(range(1, CHAINS + 1))
    assert body["head"]["hash"] == head["hash"] or body["head"]["seq"] > head["seq"]


# ---------------------------------------------------------------- many writers at once


def test_parallel_writers_on_a_partitioned_log_leave_every_chain_unbroken(migrated_app):
    app = migrated_app
    app.config["AUDIT_CHAINS"] = CHAINS
    writers, transactions = 8, 15
    start = threading.Barrier(writers)
    errors = []

    def run(n):
        try:
            with app.app_context():
                start.wait()
                for i in range(transactions):
                    audit.record("test.concurrent", entity_type="writer", entity_id=n, actor=actor(n), after={"i": i})
                    _db.session.commit()
                _db.session.remove()
        except Exception as exc:  # reported below
            errors.append((n, exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        result = audit.verify_chain()
        heads = _db.session.execute(sa.select(AuditChainHead.id)).scalars().all()
        parallel = audit.verify_chain(workers=2)
    assert result["ok"], result
    assert result["checked"] == writers * transactions
    assert sorted(heads) == list(range(1, CHAINS + 1))
    assert parallel == result


def test_an_auditor_paging_on_is_never_shown_past_an_event_still_committing_on_another_chain(migrated_app):
    """Writer A takes its number and is slow to commit; writer B, on another chain, takes the
    next number and commits first. A pull made then waits for A instead of answering B's
    event alone: an auditor who went on ``after`` B's number would never be shown A's."""
    app = migrated_app
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite writes one transaction at a time: B cannot commit while A is writing")
    write(app, _db, 0)  # chain 1, and every chain opened
    start = events(app, _db)[-1]["seq"]
    numbered, release = threading.Event(), threading.Event()

    def slow_writer():
        with app.app_context():
            audit.record("slow.commit", entity_type="things", entity_id="a", actor=actor(1))
            audit._append_pending(_db.session())  # A's number taken, chain 2's head held
            numbered.set()
            release.wait(30)
            _db.session.commit()
            _db.session.remove()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert numbered.wait(30)
        write(app, _db, 2)  # B: chain 3, the next number, committed first
        threading.Timer(0.5, release.set).start()
        with app.app_context():
            shown = _db.session.execute(audit_log._events_select({"after": start})).all()
            _db.session.rollback()
    finally:
        release.set()
        writer.join()
    assert [(e.action, e.entity_id) for e in shown] == [("slow.commit", "a"), ("thing.done", "2-0")]
    assert shown[0].seq < shown[1].seq
