"""The tamper-evident audit log.

Services call ``record`` inside the transaction that makes a change. The events
wait in the session and are appended to the hash chain just before that
transaction commits: the chain head row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite transactions are already serialised by ``BEGIN IMMEDIATE``),
so concurrent writers append one after another with no fork and no gap, and a
rolled-back change leaves no event behind.

Each event is stamped when it is appended, never earlier than the event before it,
so chain order is time order. Each stores ``hash = SHA-256(canonical content,
previous hash)``; ``verify_chain`` recomputes every link and names the first one
that differs.

Personal values never enter the hashed content: each is replaced by a salted
commitment (``auditchain.commitment``) and kept, with its salt, in
``audit_personal_values`` beside the chain. The debtors an event is about are listed in
``audit_event_subjects``, so erasing a debtor's values (``erase_personal_values``)
finds them, and the chain still verifies afterwards.
"""

import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import bindparam, event, func, insert, select, text, update
from sqlalchemy.orm import Session

from app import clock
from app.extensions import db
from app.models import AuditChainHead, AuditEvent, AuditEventSubject, AuditPersonalValue
from app.pii import PERSONAL_KEYS, mask_fields
from auditchain import (
    COLUMNS,
    COMMITMENT,
    GENESIS_HASH,
    chain_genesis,
    check_chain,
    check_links,
    check_segment,
    commitment,
    committed,
    heads_hash,
    link_hash_values,
)

__all__ = ["GENESIS_HASH", "link_hash_values", "link_hash", "record", "verify_chain", "chain_head", "daily_head"]

_PENDING = "audit_pending"


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def link_hash(row):
    """The hash of one event from its stored fields and the previous hash."""
    return link_hash_values(
        row["seq"],
        row["occurred_at"].astimezone(UTC).isoformat(),
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
    )


def diff(before, after):
    """The fields that changed, as {"before": {...}, "after": {...}}."""
    before, after = before or {}, after or {}
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "before": {k: before.get(k) for k in keys if k in before},
        "after": {k: after.get(k) for k in keys if k in after},
    }


def _pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def commit_personal(changes):
    """``changes`` with every value under a personal key replaced by its commitment, and
    the values taken out: ``(hashed, {json pointer: [salt hex, value]})``."""
    values = {}

    def walk(node, path):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in PERSONAL_KEYS and value is not None and not isinstance(value, (dict, list)):
                    salt, pointer = os.urandom(16).hex(), _pointer((*path, key))
                    values[pointer] = [salt, value]
                    out[key] = {COMMITMENT: commitment(salt, pointer, value)}
                else:
                    out[key] = walk(value, (*path, key))
            return out
        if isinstance(node, list):
            return [walk(item, (*path, n)) for n, item in enumerate(node)]
        return node

    return walk(changes, ()), values


def reveal(changes, values):
    """The event's changes (parsed) with the personal values still held put back in place
    of their commitments; an erased value stays ``{"$pii": commitment}``."""
    for pointer, (_salt, value) in (values or {}).items():
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        node = changes
        try:
            for part in parts[:-1]:
                node = node[int(part)] if isinstance(node, list) else node[part]
            last = int(parts[-1]) if isinstance(node, list) else parts[-1]
            if isinstance(node[last], dict) and COMMITMENT in node[last]:
                node[last] = value
        except (KeyError, IndexError, ValueError, TypeError):
            continue  # an altered row: leave what is stored as it is
    return changes


def record(
    action,
    entity=None,
    *,
    entity_type=None,
    entity_id=None,
    before=None,
    after=None,
    lat=None,
    lon=None,
    actor=None,
    extra=None,
    session=None,
    subjects=None,
):
    """Queue an audit event in the current transaction.

    ``entity`` may be an ORM object whose primary key is not known yet; it is read
    when the transaction commits. Personal fields in ``before``/``after`` are masked,
    and every personal value is committed (kept beside the chain, not in it).
    ``subjects``: ids of the debtors the event is about (by default the debtor that is
    the entity, if it is one), whose erasure removes its personal values.
    """
    session = session or db.session()
    if actor is None and has_request_context():
        actor = g.get("user")
    changes = {}
    if before is not None or after is not None:
        changes = {k: mask_fields(v) for k, v in diff(before, after).items()}
    if extra:
        changes["extra"] = mask_fields(extra)
    if lat is not None or lon is not None:
        # Where a field action happened is at the debtor's door: committed like any personal
        # value (the event's lat/lon columns stay empty), shown to readers as before.
        changes["position"] = {"lat": _coordinate(lat), "lon": _coordinate(lon)}
    changes, personal = commit_personal(changes)
    if not session.in_transaction():
        # Begin now, so that a rollback (or a new transaction) before the commit
        # drops this event even when the transaction touches no row.
        session.begin()
    session.info.setdefault(_PENDING, []).append(
        (
            session.get_nested_transaction() or session.get_transaction(),
            {
                "entity": entity,
                "occurred_at": None,  # stamped when appended
                "actor_user_id": getattr(actor, "id", None),
                "actor_role": getattr(actor, "role", None) or "system",
                "action": action,
                "entity_type": entity_type or (type(entity).__tablename__ if entity is not None else "system"),
                "entity_id": None if entity_id is None else str(entity_id),
                "changes": canonical_json(changes),
                "request_id": g.get("request_id") if has_request_context() else None,
                "client_ip": g.get("client_ip") if has_request_context() else None,
                "lat": None,
                "lon": None,
                "personal": personal,
                "subjects": None if subjects is None else sorted({int(s) for s in subjects}),
            },
        )
    )


def _coordinate(value):
    """A float as the database will give it back: an int 31 would hash as "31" but read back
    as 31.0, and SQLite reads -0.0 back as 0.0."""
    if value is None:
        return None
    value = float(value) + 0.0
    if not math.isfinite(value):
        raise ValueError("an audit event's coordinates must be finite numbers")
    return value


# A transaction's events up to this many rows (events, personal values, subjects) are
# appended on PostgreSQL in one statement; more (an import's thousands) row by row, well
# under the protocol's 65,535 parameters a statement.
ONE_STATEMENT_ROWS = 200


def _append_pending(session):
    if session.get_nested_transaction() is not None:
        # A savepoint is being released: its events wait for the real commit, so the
        # chain head is locked only for the last moment of the transaction.
        return
    pending = session.info.pop(_PENDING, None)
    committing = session.get_transaction()
    # Events queued in a transaction that has since ended without committing are not this commit's.
    pending = [(t, ev) for t, ev in pending or () if _within(t, committing)]
    if not pending:
        return
    if any(ev["entity"] is not None and ev["entity_id"] is None for _, ev in pending):
        session.flush()  # primary keys of new entities
    connection = session.connection()
    chains = _configured_chains()
    chain = _chain_for(pending, chains)
    opened = current_app.extensions.setdefault("audit_chains_opened", set()) if has_app_context() else set()
    if chains > 1 and chains not in opened:
        # Once per process: the heads of every chain, and the sequence past the numbers
        # a single chain used until now (its writers do not take them from the sequence).
        _open_chains(connection, chains)
        opened.add(chains)
    head = _lock_head(connection, chain)
    if head is None:  # this chain's first append: open the configured chains
        _open_chains(connection, chains)
        head = _lock_head(connection, chain)
    seq, prev = head.seq, head.hash
    # The log's clock never goes backwards: an event is stamped when it is appended,
    # and never earlier than the event before it on its chain (another server's clock may
    # lag). So a chain's order is time order.
    now = clock.now()
    if seq:
        last = head.occurred_at
        if last is None:
            last = connection.execute(select(AuditEvent.occurred_at).where(AuditEvent.seq == seq)).scalar_one()
        now = max(now, last)
    if chains == 1:
        # One chain: its head's seq is the log's, and the next numbers follow it with no gap.
        numbers = list(range(seq + 1, seq + 1 + len(pending)))
    else:
        numbers = _take_numbers(connection, len(pending))
    rows, values, subjects = [], [], []
    for (_, ev), seq in zip(pending, numbers):
        ev["occurred_at"] = now
        entity = ev.pop("entity")
        if ev["entity_id"] is None and entity is not None:
            ev["entity_id"] = str(db.inspect(entity).identity[0])
        ev["seq"], ev["prev_hash"], ev["chain"] = seq, prev, chain
        ev["hash"] = prev = link_hash(ev)
        personal, about = ev.pop("personal"), ev.pop("subjects")
        if about is None and ev["entity_type"] == "debtors" and (ev["entity_id"] or "").isdigit():
            about = [int(ev["entity_id"])]
        if personal:
            values.append({"seq": seq, "values": json.dumps(personal, sort_keys=True, ensure_ascii=False)})
        subjects.extend({"debtor_id": debtor_id, "seq": seq} for debtor_id in about or ())
        rows.append(ev)
    if connection.dialect.name == "postgresql" and len(rows) + len(values) + len(subjects) <= ONE_STATEMENT_ROWS:
        # The head is locked until the commit: one round trip for the events, their personal
        # values and subjects and the head moved, not four, so the next writer on this chain
        # waits that much less.
        statement, params = _append_statement(connection.dialect, rows, values, subjects, chain, seq, prev)
        connection.execute(statement, params)
        return
    connection.execute(insert(AuditEvent), rows)
    if values:
        connection.execute(insert(AuditPersonalValue), values)
    if subjects:
        connection.execute(insert(AuditEventSubject), subjects)
    connection.execute(update(AuditChainHead).where(AuditChainHead.id == chain).values(seq=seq, hash=prev))


_APPEND_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _append_statement(dialect, rows, values, subjects, chain, seq, hash_):
    """One statement (PostgreSQL: data-modifying CTEs, each run whether read or not) that
    inserts ``rows`` of events, their personal ``values`` and ``subjects`` and moves the
    chain's head, with its parameters. Written once per shape (the columns and the count of
    each kind of row) as text with typed parameters: SQLAlchemy caches the compiled text,
    where a multi-row VALUES of its own would be compiled again at every append."""
    columns = tuple(rows[0])
    shape = (columns, len(rows), len(values), len(subjects))
    statement = _APPEND_STATEMENTS.get(shape)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        binds = []

        def inserted(name, table, names, prefix, count):
            tuples = []
            for i in range(count):
                keys = [f"{prefix}{i}_{column}" for column in names]
                binds.extend(bindparam(k, type_=table.c[column].type) for k, column in zip(keys, names))
                tuples.append("(" + ", ".join(f":{k}" for k in keys) + ")")
            listed = ", ".join(quote(column) for column in names)
            return f"{name} AS (INSERT INTO {quote(table.name)} ({listed}) VALUES {', '.join(tuples)})"

        ctes = [inserted("appended", AuditEvent.__table__, columns, "e", len(rows))]
        if values:
            ctes.append(inserted("personal", AuditPersonalValue.__table__, ("seq", "values"), "v", len(values)))
        if subjects:
            ctes.append(inserted("about", AuditEventSubject.__table__, ("debtor_id", "seq"), "s", len(subjects)))
        head = AuditChainHead.__table__
        binds.extend(
            bindparam(k, type_=head.c[c].type)
            for k, c in (("head_seq", "seq"), ("head_hash", "hash"), ("head_id", "id"))
        )
        moved = f"UPDATE {quote(head.name)} SET seq = :head_seq, hash = :head_hash WHERE id = :head_id"
        statement = text(f"WITH {', '.join(ctes)} {moved}").bindparams(*binds)
        if len(_APPEND_STATEMENTS) >= 256:  # an unusual mix of shapes: start again
            _APPEND_STATEMENTS.clear()
        _APPEND_STATEMENTS[shape] = statement
    params = {"head_id": chain, "head_seq": seq, "head_hash": hash_}
    for prefix, items in (("e", rows), ("v", values), ("s", subjects)):
        for i, item in enumerate(items):
            params.update({f"{prefix}{i}_{name}": value for name, value in item.items()})
    return statement, params


def _configured_chains():
    return current_app.config.get("AUDIT_CHAINS", 1) if has_app_context() else 1


def _chain_for(pending, chains):
    """The chain a transaction's events go on: its actor's (so one person's events stay in
    their order on one chain), or, for the system's own work, this process's."""
    if chains == 1:
        return 1
    actor = next((ev["actor_user_id"] for _, ev in pending if ev["actor_user_id"] is not None), None)
    return 1 + (actor if actor is not None else os.getpid()) % chains


def _lock_head(connection, chain):
    """A chain's head and its last event's stamp in one round trip; only the head row is
    locked, so writers on other chains go on. When another writer moved the head while
    this one waited for the lock, PostgreSQL re-reads the locked head but not the joined
    event (it is newer than this statement's snapshot), so the stamp comes back empty and
    is read again in a statement of its own."""
    return connection.execute(
        select(AuditChainHead.seq, AuditChainHead.hash, AuditEvent.occurred_at)
        .outerjoin(AuditEvent, AuditEvent.seq == AuditChainHead.seq)
        .where(AuditChainHead.id == chain)
        .with_for_update(of=AuditChainHead)
    ).one_or_none()


def _open_chains(connection, chains):
    """Create the head of every configured chain that has none yet (at its genesis), and
    move the shared sequence past every number the single chain used. Under the lock of
    chain 1's head, which exists from the first migration on."""
    connection.execute(select(AuditChainHead.id).where(AuditChainHead.id == 1).with_for_update())
    heads = [{"id": c, "seq": 0, "hash": chain_genesis(c)} for c in range(1, chains + 1)]
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    connection.execute(dialect_insert(AuditChainHead).values(heads).on_conflict_do_nothing(index_elements=["id"]))
    if connection.dialect.name == "postgresql":
        # Forward only, and only when the single chain went past it (never back under a
        # number another chain's writer may hold).
        connection.exec_driver_sql(
            "SELECT setval('audit_event_seq', t.m) FROM (SELECT max(seq) AS m FROM audit_events) t, audit_event_seq s "
            "WHERE t.m > s.last_value OR (t.m = s.last_value AND NOT s.is_called)"
        )


def _take_numbers(connection, count):
    """``count`` new sequence numbers for a chain of a partitioned log, in increasing order.

    On PostgreSQL from the ``audit_event_seq`` sequence: no lock, so writers on other
    chains take theirs at the same time (a number taken by a commit that then fails is
    never used: the chains do not need the numbers to follow each other). SQLite runs one
    write transaction at a time, so the next numbers are the highest stored plus one."""
    if connection.dialect.name == "postgresql":
        return sorted(
            connection.exec_driver_sql(
                f"SELECT nextval('audit_event_seq') FROM generate_series(1, {int(count)})"
            ).scalars()
        )
    top = connection.execute(select(func.coalesce(func.max(AuditEvent.seq), 0))).scalar_one()
    return list(range(top + 1, top + 1 + count))


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


def personal_values(seqs=None, *, first=None, last=None):
    """The personal values still held, by ``seq``: of the listed events, or of a range."""
    stmt = select(AuditPersonalValue.seq, AuditPersonalValue.values)
    if seqs is not None:
        if not seqs:
            return {}
        stmt = stmt.where(AuditPersonalValue.seq.in_(list(seqs)))
    if first is not None:
        stmt = stmt.where(AuditPersonalValue.seq.between(first, last))
    return {seq: json.loads(text) for seq, text in db.session.execute(stmt)}


def erase_personal_values(debtor_ids, entities=None):
    """Delete the personal values of every event about these debtors (``audit_event_subjects``)
    or about any of ``entities`` ({entity_type: [ids]}: their cases, visits, …); the chain's
    commitments stay, so it verifies as before. Answers how many events lost theirs."""
    table = AuditPersonalValue.__table__
    erased = db.session.execute(
        table.delete().where(
            AuditPersonalValue.seq.in_(
                select(AuditEventSubject.seq).where(AuditEventSubject.debtor_id.in_(list(debtor_ids)))
            )
        )
    ).rowcount
    for entity_type, ids in (entities or {}).items():
        for start in range(0, len(ids), 500):
            chunk = [str(i) for i in ids[start : start + 500]]
            erased += db.session.execute(
                table.delete().where(
                    AuditPersonalValue.seq.in_(
                        select(AuditEvent.seq).where(
                            AuditEvent.entity_type == entity_type, AuditEvent.entity_id.in_(chunk)
                        )
                    )
                )
            ).rowcount
    return erased


def _check_personal_values(last_seq, batch_size=20000):
    """Every personal value still held must match a commitment in its event's hashed
    ``changes``: a value altered (or moved) beside the chain is found here. Plain driver
    tuples, and the commitment looked for in the stored text: no JSON of ``changes`` parsed."""
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    postgres = connection.dialect.name == "postgresql"
    cursor = dbapi.cursor(name="audit_values") if postgres else dbapi.cursor()  # server-side on PostgreSQL
    placeholder = "%s" if postgres else "?"
    checked = 0
    try:
        cursor.execute(
            'SELECT v.seq, v."values", e.changes FROM audit_personal_values v JOIN audit_events e '
            f"ON e.seq = v.seq WHERE v.seq <= {placeholder} ORDER BY v.seq",
            (last_seq,),
        )
        while batch := cursor.fetchmany(batch_size):
            for seq, text, changes in batch:
                try:
                    wrong = committed(changes, json.loads(text))
                except (ValueError, TypeError, AttributeError):
                    wrong = "(unreadable)"
                if wrong is not None:
                    return checked, {
                        "seq": seq,
                        "what": "personal_value",
                        "detail": f"the personal value at {wrong}, kept beside the chain, does not match "
                        "its commitment in the event",
                    }
                checked += 1
    finally:
        cursor.close()
    return checked, None


def chain_heads():
    """The head of every chain: {chain: (seq, hash)}. A log that was never partitioned
    has one, chain 1."""
    return {
        row.id: (row.seq, row.hash)
        for row in db.session.execute(
            select(AuditChainHead.id, AuditChainHead.seq, AuditChainHead.hash).order_by(AuditChainHead.id)
        )
    }


def head_answer(heads):
    """The log's head as callers see it: a log of one chain, that chain's head
    ``{"seq", "hash"}`` as always; a partitioned log, the highest ``seq`` of any chain, the
    hash that binds every chain's head (``auditchain.heads_hash``) and each chain's head."""
    if set(heads) == {1}:
        return {"seq": heads[1][0], "hash": heads[1][1]}
    return {
        "seq": max((seq for seq, _ in heads.values()), default=0),
        "hash": heads_hash(heads),
        "chains": [{"chain": chain, "seq": seq, "hash": digest} for chain, (seq, digest) in sorted(heads.items())],
    }


def heads_in(answer):
    """The other way: {chain: (seq, hash)} from a ``head_answer`` (or a v1 anchor's fields)."""
    if answer.get("chains"):
        return {c["chain"]: (c["seq"], c["hash"]) for c in answer["chains"]}
    return {1: (answer["seq"], answer["hash"])}


def chain_head():
    return head_answer(chain_heads())


def settled_seq():
    """The highest ``seq`` a reader of the log may be shown: every event numbered up to it
    has committed, or never will. None: all that is visible is settled.

    On a partitioned log (PostgreSQL, ``AUDIT_CHAINS`` > 1) writers on different chains
    take numbers from one sequence and commit in any order, so an event can become visible
    after one with a higher number; an auditor paging with ``after`` past the higher one
    would never be shown it. Every number is taken under its chain head's lock, held to
    the writer's end, and a head moves to its chain's last number when that commits. So
    once every head has been locked for sharing (each wait is a writer finishing), the
    highest head read then is settled: a number below it was taken by a writer that held
    its head when this one came for it (and has finished since), for a writer that locked
    its head only after this one let go would take a number above every head read. The
    locks are taken in a savepoint rolled back at once, which releases them: writers wait
    only for this one statement. One chain's writers commit in number order, and SQLite writes one
    transaction at a time: nothing to wait for there."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql" or _configured_chains() == 1:
        return None
    savepoint = db.session.begin_nested()
    try:
        heads = (
            connection.execute(select(AuditChainHead.seq).order_by(AuditChainHead.id).with_for_update(read=True))
            .scalars()
            .all()
        )
    finally:
        savepoint.rollback()
    return max(heads, default=0)


def first_seq_at_or_after(instant):
    """The first event stamped at or after ``instant`` (None: there is none yet).

    Exact because stamps never decrease along the chain; one step down the
    ``occurred_at`` index. (Chains of a partitioned log are each in time order; between
    two chains, numbers taken within the same few microseconds may be stamped the other
    way round.)
    """
    return db.session.scalar(
        select(AuditEvent.seq)
        .where(AuditEvent.occurred_at >= instant)
        .order_by(AuditEvent.occurred_at, AuditEvent.seq)
        .limit(1)
    )


def daily_head(day):
    """The chain head as of the end of a UTC day, for anchoring elsewhere.

    It is the last link stamped before the next UTC midnight (of a partitioned log: of
    each chain, bound into one hash). Once an event of a later day exists it can no longer
    change (``final``): stamps never decrease along a chain. Until then the answer is the
    head so far and ``final`` is false.
    """
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    first_after = first_seq_at_or_after(end)
    heads = chain_heads()
    if set(heads) == {1}:
        if first_after is None:
            head, final = chain_head(), False
        else:
            seq = first_after - 1
            digest = (
                GENESIS_HASH if seq == 0 else db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
            )
            head, final = {"seq": seq, "hash": digest}, True
        return {"date": day, "end": end, "seq": head["seq"], "hash": head["hash"], "final": final}
    at_end = {}
    for chain in heads:
        row = db.session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.chain == chain, AuditEvent.occurred_at < end)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())
            .limit(1)
        ).one_or_none()
        at_end[chain] = (row.seq, row.hash) if row is not None else (0, chain_genesis(chain))
    return {"date": day, "end": end, **head_answer(at_end), "final": first_after is not None}


def _raw_batches(last_seq, batch_size, chain=None):
    """Events 1..``last_seq`` by ``seq`` (of one chain, when given), in lists of plain
    tuples straight from the driver.

    On PostgreSQL through a server-side cursor (constant memory). Skipping SQLAlchemy's
    per-row processing matters: it would cost more than the hashing.
    """
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        columns = ", ".join("occurred_at AT TIME ZONE 'UTC'" if c == "occurred_at" else c for c in COLUMNS)
        cursor = dbapi.cursor(name="audit_verify")
        placeholder = "%s"
    else:
        columns = ", ".join(COLUMNS)
        cursor = dbapi.cursor()
        placeholder = "?"
    try:
        if chain is None:
            cursor.execute(f"SELECT {columns} FROM audit_events WHERE seq <= {placeholder} ORDER BY seq", (last_seq,))
        else:
            cursor.execute(
                f"SELECT {columns} FROM audit_events WHERE chain = {placeholder} AND seq <= {placeholder} ORDER BY seq",
                (chain, last_seq),
            )
        while batch := cursor.fetchmany(batch_size):
            yield batch
    finally:
        cursor.close()


def verify_chain(batch_size=20000, workers=1):
    """Recompute the chain up to its head; report the first broken link, if any.

    The head is read first, so events appended while the check runs are left for the
    next one. With ``workers`` > 1 on PostgreSQL the chain is cut into that many
    segments, checked by as many processes at once, and the joins between them checked
    here: the same answer, sooner on a machine with cores to spare.

    A partitioned log (``AUDIT_CHAINS`` > 1) is checked chain by chain, each from its
    own genesis up to its head (with ``workers`` > 1 on PostgreSQL, chains in parallel);
    an event on a chain that has no head is reported too.
    """
    db.session.flush()
    heads, beyond = _heads_and_beyond()
    head = head_answer(heads)
    postgres = db.session.connection().dialect.name == "postgresql"
    if set(heads) == {1}:
        checked, problem = _verify_single(heads[1], batch_size, workers, postgres)
    else:
        checked, problem = _verify_chains(heads, batch_size, workers, postgres)
    if problem is None and beyond:
        chain, seq = min(beyond.items(), key=lambda item: item[1])
        problem = {
            "seq": seq,
            "what": "head",
            **({"chain": chain} if "chains" in head else {}),
            "detail": f"event {seq} is past the head of its chain (seq {heads[chain][0]}), which every append "
            "moves in the same transaction: it was written around the log",
        }
    if problem is None:
        problem = _stray_chain(heads)
    values_checked = 0
    if problem is None:
        values_checked, problem = _check_personal_values(head["seq"])
    return {
        "ok": problem is None,
        "checked": checked,
        "first_broken": problem,
        "head": head,
        "personal_values_checked": values_checked,
    }


def _heads_and_beyond():
    """Every chain's head, and the first event past it on its chain, if any: in one
    statement, so one snapshot, in which an append's events and its head move together."""
    rows = db.session.execute(
        text(
            "SELECT h.id, h.seq, h.hash, "
            "(SELECT min(e.seq) FROM audit_events e WHERE e.chain = h.id AND e.seq > h.seq) "
            "FROM audit_chain_head h ORDER BY h.id"
        )
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}, {r[0]: r[3] for r in rows if r[3] is not None}


def _verify_single(head, batch_size, workers, postgres):
    head_seq, head_hash = head
    if workers > 1 and head_seq >= 2 * batch_size and postgres:
        checked, prev, problem = _check_in_parallel(head_seq, batch_size, workers)
    else:
        batches = _raw_batches(head_seq, batch_size)
        try:
            checked, prev, problem = check_links(batches, 1, GENESIS_HASH, times_as_text=not postgres)
        finally:
            batches.close()
    if problem is None and checked < head_seq:
        problem = {"seq": checked + 1, "what": "missing", "detail": "chain head is beyond the last event found"}
    elif problem is None and prev != head_hash:
        problem = {"seq": head_seq, "what": "head", "detail": "the chain head's hash is not the last event's"}
    return checked, problem


def _verify_chains(heads, batch_size, workers, postgres):
    todo = [chain for chain, (seq, _) in heads.items() if seq > 0]
    if workers > 1 and postgres and len(todo) > 1:
        dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["auditchain"])
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
            results = list(
                pool.map(check_chain, [dsn] * len(todo), todo, [heads[c][0] for c in todo], [batch_size] * len(todo))
            )
        found = {r["chain"]: (r["checked"], r["last_hash"], r["problem"]) for r in results}
    else:
        found = {}
        for chain in todo:
            batches = _raw_batches(heads[chain][0], batch_size, chain)
            try:
                found[chain] = check_links(
                    batches, 1, chain_genesis(chain), times_as_text=not postgres, contiguous=False
                )
            finally:
                batches.close()
    checked, problems = 0, []
    for chain, (head_seq, head_hash) in sorted(heads.items()):
        if head_seq == 0:
            if head_hash != chain_genesis(chain):
                problems.append(
                    {
                        "seq": 0,
                        "chain": chain,
                        "what": "head",
                        "detail": f"chain {chain} is empty but its head is not its genesis",
                    }
                )
            continue
        count, last_hash, problem = found[chain]
        checked += count
        if problem is not None:
            problems.append({**problem, "chain": chain})
        elif last_hash != head_hash:
            last_seq = (
                0 if count == 0 else db.session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == last_hash))
            )
            if last_seq is not None and last_seq < head_seq:
                problems.append(
                    {
                        "seq": head_seq,
                        "chain": chain,
                        "what": "missing",
                        "detail": f"chain {chain}'s head is seq {head_seq}, beyond the last event found "
                        f"on it ({last_seq}): events at its end were removed",
                    }
                )
            else:
                problems.append(
                    {
                        "seq": head_seq,
                        "chain": chain,
                        "what": "head",
                        "detail": f"chain {chain}'s head hash is not its last event's",
                    }
                )
    # The first broken link of the log: the lowest seq any chain reports.
    problem = min(problems, key=lambda p: (p["seq"], p["chain"]), default=None)
    return checked, problem


def _stray_chain(heads):
    """An event on a chain that has no head is on no chain that is checked: report it.
    The chains present are found by skipping through the (chain, seq) index."""
    present = (
        db.session.execute(
            text(
                "WITH RECURSIVE c(chain) AS (SELECT min(chain) FROM audit_events UNION ALL "
                "SELECT (SELECT min(chain) FROM audit_events WHERE chain > c.chain) FROM c WHERE c.chain IS NOT NULL) "
                "SELECT chain FROM c WHERE chain IS NOT NULL"
            )
        )
        .scalars()
        .all()
    )
    stray = sorted(set(present) - set(heads))
    if not stray:
        return None
    seq = db.session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.chain == stray[0]))
    return {
        "seq": seq,
        "chain": stray[0],
        "what": "chain",
        "detail": f"event {seq} is on chain {stray[0]}, which has no head: it is on no chain that verifies",
    }


def _check_in_parallel(last_seq, batch_size, workers):
    size = -(-last_seq // workers)
    segments = [(first, min(first + size - 1, last_seq)) for first in range(1, last_seq + 1, size)]
    dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # A fork server with only the pure core loaded: workers start in milliseconds, and
    # fork nothing of this process (its threads, its database connections).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["auditchain"])
    with ProcessPoolExecutor(max_workers=len(segments), mp_context=context) as pool:
        results = list(
            pool.map(
                check_segment,
                [dsn] * len(segments),
                [f for f, _ in segments],
                [last for _, last in segments],
                [batch_size] * len(segments),
            )
        )
    checked, prev = 0, GENESIS_HASH
    for n, ((first, last), result) in enumerate(zip(segments, results)):
        if result["first_found"] == first and result["first_prev"] != prev:
            return (
                checked,
                prev,
                {"seq": first, "what": "prev_hash", "detail": "does not match the previous event's hash"},
            )
        if result["checked"]:
            prev = result["last_hash"]
        checked += result["checked"]
        if result["problem"] is not None:
            return checked, prev, result["problem"]
        if result["checked"] < last - first + 1:  # the segment ran out: where does the chain go on?
            found = next((r["first_found"] for r in results[n + 1 :] if r["first_found"] is not None), None)
            if found is None:
                return checked, prev, None  # nothing after: the caller compares with the head
            return checked, prev, {"seq": checked + 1, "what": "missing", "detail": f"next event found is {found}"}
    return checked, prev, None
