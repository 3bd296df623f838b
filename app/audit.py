"""The tamper-evident audit log.

Services call ``record`` inside the transaction that makes a change. The events
wait in the session and are appended to the hash chain just before that
transaction commits: the chain head row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite transactions are already serialised by ``BEGIN IMMEDIATE``),
so concurrent writers append one after another with no fork and no gap, and a
rolled-back change leaves no event behind.

Each event stores ``hash = SHA-256(canonical content, previous hash)``.
``verify_chain`` recomputes every link and names the first one that differs.
"""
import hashlib
import json
from datetime import datetime, timezone

from flask import g, has_request_context
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditChainHead, AuditEvent
from app.pii import mask_fields

GENESIS_HASH = "0" * 64
_PENDING = "audit_pending"


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def link_hash(row):
    """The hash of one event from its stored fields and the previous hash."""
    content = json.dumps(
        [
            row["seq"],
            row["occurred_at"].isoformat(),
            row["actor_user_id"],
            row["actor_role"],
            row["action"],
            row["entity_type"],
            row["entity_id"],
            row["changes"],
            row["request_id"],
            row["client_ip"],
            row["lat"],
            row["lon"],
            row["prev_hash"],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def diff(before, after):
    """The fields that changed, as {"before": {...}, "after": {...}}."""
    before, after = before or {}, after or {}
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "before": {k: before.get(k) for k in keys if k in before},
        "after": {k: after.get(k) for k in keys if k in after},
    }


def record(action, entity=None, *, entity_type=None, entity_id=None, before=None, after=None,
           lat=None, lon=None, actor=None, extra=None, session=None):
    """Queue an audit event in the current transaction.

    ``entity`` may be an ORM object whose primary key is not known yet; it is read
    when the transaction commits. Personal fields in ``before``/``after`` are masked.
    """
    session = session or db.session()
    if actor is None and has_request_context():
        actor = g.get("user")
    changes = {}
    if before is not None or after is not None:
        changes = {k: mask_fields(v) for k, v in diff(before, after).items()}
    if extra:
        changes["extra"] = mask_fields(extra)
    session.info.setdefault(_PENDING, []).append(
        (
            session.get_nested_transaction(),
            {
                "entity": entity,
                "occurred_at": datetime.now(timezone.utc),
                "actor_user_id": getattr(actor, "id", None),
                "actor_role": getattr(actor, "role", None) or "system",
                "action": action,
                "entity_type": entity_type or (type(entity).__tablename__ if entity is not None else "system"),
                "entity_id": None if entity_id is None else str(entity_id),
                "changes": canonical_json(changes),
                "request_id": g.get("request_id") if has_request_context() else None,
                "client_ip": g.get("client_ip") if has_request_context() else None,
                "lat": lat,
                "lon": lon,
            },
        )
    )


def _append_pending(session):
    if session.get_nested_transaction() is not None:
        # A savepoint is being released: its events wait for the real commit, so the
        # chain head is locked only for the last moment of the transaction.
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    if any(ev["entity"] is not None and ev["entity_id"] is None for _, ev in pending):
        session.flush()  # primary keys of new entities
    connection = session.connection()
    head = connection.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1).with_for_update()
    ).one()
    seq, prev = head.seq, head.hash
    rows = []
    for _, ev in pending:
        entity = ev.pop("entity")
        if ev["entity_id"] is None and entity is not None:
            ev["entity_id"] = str(db.inspect(entity).identity[0])
        seq += 1
        ev["seq"], ev["prev_hash"] = seq, prev
        ev["hash"] = prev = link_hash(ev)
        rows.append(ev)
    connection.execute(insert(AuditEvent), rows)
    connection.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq, hash=prev))


def _within(transaction, ancestor):
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _drop_rolled_back(session, previous_transaction):
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [(t, ev) for t, ev in pending if not _within(t, previous_transaction)]


def install():
    """Hook the chain into every session's commit and rollback (idempotent)."""
    if not event.contains(Session, "before_commit", _append_pending):
        event.listen(Session, "before_commit", _append_pending)
        event.listen(Session, "after_soft_rollback", _drop_rolled_back)


def chain_head():
    row = db.session.execute(select(AuditChainHead.seq, AuditChainHead.hash)).one()
    return {"seq": row.seq, "hash": row.hash}


_COLUMNS = [c.name for c in AuditEvent.__table__.columns]


def verify_chain(batch_size=20000):
    """Recompute the whole chain; report the first broken link, if any."""
    checked, prev, expected_seq = 0, GENESIS_HASH, 1
    stmt = select(*[AuditEvent.__table__.c[name] for name in _COLUMNS]).order_by(AuditEvent.seq)
    result = db.session.execute(stmt.execution_options(yield_per=batch_size))
    for row in result.mappings():
        problem = None
        if row["seq"] != expected_seq:
            problem = {"seq": expected_seq, "what": "missing", "detail": f"next event found is {row['seq']}"}
        elif row["prev_hash"] != prev:
            problem = {"seq": row["seq"], "what": "prev_hash", "detail": "does not match the previous event's hash"}
        else:
            recomputed = link_hash(row)
            if recomputed != row["hash"]:
                problem = {"seq": row["seq"], "what": "hash",
                           "detail": "content differs from what was hashed (an altered field)"}
        if problem:
            result.close()
            return {"ok": False, "checked": checked, "first_broken": problem, "head": chain_head()}
        checked += 1
        prev = row["hash"]
        expected_seq += 1
    head = chain_head()
    if head["seq"] != checked or head["hash"] != prev:
        return {"ok": False, "checked": checked, "head": head,
                "first_broken": {"seq": checked + 1, "what": "missing",
                                 "detail": "chain head is beyond the last event found"}}
    return {"ok": True, "checked": checked, "first_broken": None, "head": head}
