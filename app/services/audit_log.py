"""What auditors pull: the audit events and the visit log, as pages or streamed exports;
the chain's verification and its daily head; and the record of who read personal data.

Pulls that hand personal data out are themselves written to the audit log, in the
request's own transaction:

* ``pii.read``: an auditor read a debtor's personal data (a case, a debtor, a page of
  cases): one event per debtor shown, naming the fields seen whole and those masked;
* ``audit.exported``: any CSV or NDJSON export (events or visits), and any page of the
  visit log, with its filters, format and the number of rows handed out. Pages of the
  audit events themselves are not logged: their personal data is already masked, and
  logging them would grow the log each time an auditor pages through it.

Exports stream with constant memory: one statement read in batches (a server-side
cursor on PostgreSQL), formatted batch by batch, never a list of every row. The export's
event is recorded when the stream ends (or the client goes away mid-way, with
``complete: false``) and committed with it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import ARRAY, DateTime, Integer, any_, bindparam, exists, false, func, select, type_coerce

import auditchain
from app import audit, authz, clock, money
from app.errors import ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    AuditEventSubject,
    Case,
    Collector,
    ConductFlag,
    Crew,
    Debtor,
    Recording,
    RepaymentAgreement,
    Team,
    User,
    Visit,
    VisitTask,
)
from app.services.common import Data

PAGE_SIZE = 50
# The export formats and the media type each is sent or stored as.
MEDIA_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
EXPORT_BATCH = 5000
# Personal fields of a debtor that the case and debtor answers carry.
DEBTOR_PERSONAL_FIELDS = ("name", "phone", "national_id", "address", "lat", "lon")


# ---------------------------------------------------------------- reads of personal data


def record_personal_reads(
    user: User,
    reads: Iterable[tuple[int, int | None, Iterable[str]]],
    via: str,
    *,
    masked: Iterable[str] = (),
    entity_type: str | None = None,
    entity_id: int | None = None,
) -> None:
    """Log that an answer carried debtors' personal data to a user whose reads are logged
    (auditors and admins): one ``pii.read`` event per answer, naming every debtor shown
    (indexed, so a subject access request finds it), the cases, the fields seen whole
    and those masked. ``reads``: (debtor_id, case_id or None, fields shown) triples.
    The entity is the debtor when there is one, else ``entity_type``/``entity_id``."""
    if not authz.reads_are_audited(user):
        return
    debtors, cases, shown = set(), set(), set()
    for debtor_id, case_id, fields in reads:
        debtors.add(int(debtor_id))
        if case_id is not None:
            cases.add(int(case_id))
        shown.update(fields)
    if not debtors:
        return
    hidden = {f for f in shown if f in authz.FULL_PERSONAL_DATA and not authz.sees_whole(user, f)} | set(masked)
    extra = {"via": via, "debtors": sorted(debtors), "fields": sorted(shown - hidden), "masked": sorted(hidden & shown)}
    if cases:
        extra["cases"] = sorted(cases)
    if len(debtors) == 1 and entity_type is None:
        entity_type, entity_id = "debtors", next(iter(debtors))
    audit.record(
        "pii.read", entity_type=entity_type or "debtors", entity_id=entity_id, actor=user, extra=extra, subjects=debtors
    )


def _record_export(user, resource, fmt, args, rows, last, complete):
    filters = {k: v for k, v in args.items() if k != "format" and v is not None}
    audit.record(
        "audit.exported",
        entity_type=resource,
        actor=user,
        extra={"format": fmt, "filters": filters, "rows": rows, "last": last, "complete": complete},
    )


def _stream(stmt, user, resource, fmt, args, format_batch, key, summary=None, reads_of=None, entity=None):
    """A generator of text chunks: ``stmt`` read in batches, each batch formatted whole.
    ``summary`` (a dict), if given, receives the rows sent and whether the export completed.
    ``reads_of(batch)``: the debtors' personal data the batch carries, logged with the
    export as one ``pii.read`` (for ``entity``, e.g. the job that asked, when given)."""

    def chunks():
        rows, last, complete, result, reads = 0, None, False, None, {}
        try:
            # Core, not the ORM: rows as plain tuples, fetched EXPORT_BATCH at a time.
            result = db.session.connection().execute(stmt.execution_options(yield_per=EXPORT_BATCH))
            for batch in result.partitions():
                rows += len(batch)
                last = getattr(batch[-1], key)
                text = format_batch(batch)
                if reads_of is not None:
                    reads.update(dict.fromkeys(reads_of(batch)))
                yield text
            complete = True
        finally:
            if result is not None:
                result.close()  # the server-side cursor, also when the client went away mid-stream
            _record_export(user, resource, fmt, args, rows, last, complete)
            if reads:
                record_personal_reads(
                    user,
                    reads,
                    via=f"audit.{resource}.export",
                    **({"entity_type": entity[0], "entity_id": entity[1]} if entity else {}),
                )
            if summary is not None:
                summary.update(rows=rows, complete=complete)

    return chunks()


def _page(stmt, args, key):
    limit = args.get("limit") or PAGE_SIZE
    rows = db.session.execute(stmt.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (getattr(rows[-1], key) if more else None)


def _iso(value):
    return None if value is None else value.isoformat()


# ---------------------------------------------------------------- audit events

# The columns the chain hashes, in its order (auditchain's own list).
EVENT_COLUMNS = auditchain.COLUMNS
# Not hashed: the actor's current username, for reading.
EVENT_CSV_HEADER = (*EVENT_COLUMNS, "actor_username")


def _events_select(args, *, naive_utc_time=False):
    """The filtered events in chain order. ``naive_utc_time``: ``occurred_at`` as the
    driver's naive UTC value, skipping the per-row conversion (for exports)."""
    table = AuditEvent.__table__
    columns = [table.c[name] for name in EVENT_COLUMNS]
    if naive_utc_time:
        columns[1] = _naive_utc(table.c.occurred_at)
    stmt = select(*columns)
    for name in ("action", "entity_type", "entity_id"):
        if args.get(name) is not None:
            stmt = stmt.where(table.c[name] == args[name])
    if args.get("actor") is not None:
        stmt = stmt.where(AuditEvent.actor_user_id == args["actor"])
    if args.get("collector") is not None:
        # A collector acts through their agent account: the events that account performed.
        user_id = db.session.scalar(select(Collector.user_id).where(Collector.code == args["collector"]))
        stmt = stmt.where(AuditEvent.actor_user_id == user_id if user_id is not None else false())
    # Stamps never decrease along the chain, so a time range is a range of ``seq``: found
    # first, it lets every filter walk an (x, seq) index instead of the planner guessing.
    if args.get("from") is not None:
        first = audit.first_seq_at_or_after(args["from"])
        stmt = stmt.where(AuditEvent.seq >= first if first is not None else false())
    if args.get("to") is not None:
        end = audit.first_seq_at_or_after(args["to"])
        if end is not None:
            stmt = stmt.where(AuditEvent.seq < end)
    if args.get("after") is not None:
        stmt = stmt.where(AuditEvent.seq > args["after"])
    # A partitioned log is shown up to the number below which nothing can still appear, so
    # that paging on with ``after`` never passes an event committing a moment late.
    settled = audit.settled_seq()
    if settled is not None:
        stmt = stmt.where(AuditEvent.seq <= settled)
    return stmt.order_by(AuditEvent.seq)


def _naive_utc(column):
    if db.session.connection().dialect.name == "postgresql":
        return func.timezone("UTC", column, type_=DateTime()).label(column.name)
    return type_coerce(column, DateTime()).label(column.name)  # SQLite stores naive UTC text


def _usernames(user_ids=None):
    """Usernames by user id (a small table, read apart so that the events query joins nothing)."""
    stmt = select(User.id, User.username)
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(user_ids))
    return dict(db.session.execute(stmt).all())


def parsed_changes(text: str) -> Any:
    """The stored ``changes`` as JSON; text that does not parse (an altered row) stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _readable_changes(text, values):
    """What a reader is shown: the stored changes with the personal values still held put
    back in place of their commitments (an erased one stays a commitment)."""
    changes = parsed_changes(text)
    if values and isinstance(changes, (dict, list)):
        changes = audit.reveal(changes, values)
    return changes


def events_page(args: Data, user: User) -> dict[str, Any]:
    """A page of audit events in chain order (keyset on ``seq``)."""
    rows, next_after = _page(_events_select(args), args, "seq")
    names = _usernames({r.actor_user_id for r in rows if r.actor_user_id is not None})
    values = audit.personal_values({r.seq for r in rows})
    record_personal_reads(user, _revealed_reads(values), via="audit.events")
    items = []
    for r in rows:
        item = {
            **r._asdict(),
            "changes": _readable_changes(r.changes, values.get(r.seq)),
            "actor_username": names.get(r.actor_user_id),
        }
        items.append(_with_position(item))
    return {"items": items, "next_after": next_after}


def _with_position(item):
    """A field action's position is kept, committed, in ``changes.position``; a reader sees it
    as the event's ``lat``/``lon`` as long as it is held (null once erased)."""
    position = item["changes"].get("position") if isinstance(item["changes"], dict) else None
    if item["lat"] is None and isinstance(position, dict):
        lat, lon = position.get("lat"), position.get("lon")
        if isinstance(lat, float) and isinstance(lon, float):
            item["lat"], item["lon"] = lat, lon
    return item


def _revealed_reads(values):
    """The debtors whose personal values (kept beside the chain) a page or export shows."""
    if not values:
        return []
    fields = {seq: tuple(sorted({p.rsplit("/", 1)[-1] for p in held})) for seq, held in values.items()}
    return [
        (debtor_id, None, fields[seq])
        for seq, debtor_id in db.session.execute(
            select(AuditEventSubject.seq, AuditEventSubject.debtor_id).where(AuditEventSubject.seq.in_(list(values)))
        )
    ]


def _csv_line(values):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _events_csv(names):
    """CSV lines of a batch of events, byte for byte what ``csv.writer`` writes.

    ``csv.writer`` goes character by character and was most of an export's time, so
    rows whose text holds nothing to quote except the JSON of ``changes`` (nearly all)
    are written directly; any other row goes through ``csv.writer``.
    """

    def format_batch(batch):
        lines = []
        append = lines.append
        for (
            seq,
            occurred,
            actor,
            role,
            action,
            entity_type,
            entity_id,
            changes,
            request_id,
            client_ip,
            lat,
            lon,
            prev_hash,
            digest,
        ) in batch:
            name = names.get(actor)
            occurred = occurred.isoformat() + "+00:00"
            text = (
                f"{role or ''}{action}{entity_type}{entity_id or ''}{request_id or ''}{client_ip or ''}"
                f"{prev_hash}{digest}{name or ''}"
            )
            if '"' in text or "," in text or "\n" in text or "\r" in text or "\n" in changes or "\r" in changes:
                append(
                    _csv_line(
                        (
                            seq,
                            occurred,
                            actor,
                            role,
                            action,
                            entity_type,
                            entity_id,
                            changes,
                            request_id,
                            client_ip,
                            lat,
                            lon,
                            prev_hash,
                            digest,
                            name,
                        )
                    )
                )
                continue
            if '"' in changes or "," in changes:
                changes = '"' + changes.replace('"', '""') + '"'
            append(
                f"{seq},{occurred},{'' if actor is None else actor},{role or ''},{action},{entity_type},"
                f"{entity_id or ''},{changes},{request_id or ''},{client_ip or ''},"
                f"{'' if lat is None else float.__repr__(lat)},{'' if lon is None else float.__repr__(lon)},"
                f"{prev_hash},{digest},{name or ''}\n"
            )
        return "".join(lines)

    return format_batch


_enc = json.encoder.encode_basestring


def _events_ndjson(names, revealed):
    """One JSON object per line; ``changes`` goes in as its stored JSON text when that
    text is one JSON value, else as a string, so an altered row cannot add keys to the line.
    Personal values still held are put back in place of their commitments, as in a page."""

    def format_batch(batch):
        lines = []
        append = lines.append
        held = audit.personal_values(first=batch[0][0], last=batch[-1][0])
        revealed.extend(_revealed_reads(held))
        for (
            seq,
            occurred,
            actor,
            role,
            action,
            entity_type,
            entity_id,
            changes,
            request_id,
            client_ip,
            lat,
            lon,
            prev_hash,
            digest,
        ) in batch:
            if seq in held:
                readable = _readable_changes(changes, held[seq])
                if lat is None and isinstance(readable, dict):
                    shown = _with_position({"lat": None, "lon": None, "changes": readable})
                    lat, lon = shown["lat"], shown["lon"]
                changes = audit.canonical_json(readable) if isinstance(readable, (dict, list)) else _enc(readable)
            else:
                try:
                    json.loads(changes)
                except ValueError:
                    changes = _enc(changes)
            name = names.get(actor)
            append(
                f'{{"seq":{seq},"occurred_at":"{occurred.isoformat()}+00:00",'
                f'"actor_user_id":{"null" if actor is None else actor},'
                f'"actor_role":{"null" if role is None else _enc(role)},'
                f'"actor_username":{"null" if name is None else _enc(name)},"action":{_enc(action)},'
                f'"entity_type":{_enc(entity_type)},"entity_id":{"null" if entity_id is None else _enc(entity_id)},'
                f'"request_id":{"null" if request_id is None else _enc(request_id)},'
                f'"client_ip":{"null" if client_ip is None else _enc(client_ip)},'
                f'"lat":{"null" if lat is None else float.__repr__(lat)},'
                f'"lon":{"null" if lon is None else float.__repr__(lon)},'
                f'"prev_hash":{_enc(prev_hash)},"hash":{_enc(digest)},"changes":{changes}}}\n'
            )
        return "".join(lines)

    return format_batch


def export_events(
    args: Data, user: User, fmt: str, summary: dict[str, Any] | None = None, entity: tuple[str, int] | None = None
) -> Iterator[str]:
    """The filtered events as CSV or NDJSON text chunks, in chain order. CSV carries the
    stored (hashed) columns, personal values as their commitments; NDJSON, like a page,
    the personal values still held (whose reading is then logged)."""
    stmt = _events_select(args, naive_utc_time=True)
    if args.get("limit"):
        stmt = stmt.limit(args["limit"])
    names = _usernames()
    if fmt == "csv":
        header = ",".join(EVENT_CSV_HEADER) + "\n"
        return _prefixed(header, _stream(stmt, user, "audit_events", fmt, args, _events_csv(names), "seq", summary))
    revealed = []

    def reads_of(batch):
        taken = list(revealed)
        revealed.clear()
        return taken

    return _stream(
        stmt,
        user,
        "audit_events",
        fmt,
        args,
        _events_ndjson(names, revealed),
        "seq",
        summary,
        reads_of=reads_of,
        entity=entity,
    )


def _prefixed(first, chunks):
    yield first
    yield from chunks


# ---------------------------------------------------------------- the visit log


def _visits_select(args, user):
    stmt = (
        select(
            Visit.id,
            Visit.task_id,
            VisitTask.visit_date,
            VisitTask.case_id,
            Case.loan_ref,
            Case.debtor_id,
            Team.code.label("team"),
            Crew.code.label("crew"),
            Collector.code.label("collector"),
            Visit.check_in_at,
            Visit.check_in_received_at,
            Visit.check_in_device_at,
            Visit.check_in_basis,
            Visit.check_in_lat,
            Visit.check_in_lon,
            Visit.check_in_accuracy_m,
            Visit.check_in_distance_m,
            Visit.check_in_mock,
            Visit.check_out_at,
            Visit.check_out_received_at,
            Visit.check_out_device_at,
            Visit.check_out_basis,
            Visit.check_out_lat,
            Visit.check_out_lon,
            Visit.check_out_accuracy_m,
            Visit.check_out_distance_m,
            Visit.check_out_mock,
            Visit.outcome,
            Visit.outcome_at,
            Visit.outcome_received_at,
            Visit.outcome_device_at,
            Visit.person_met,
            Visit.notes,
            Collector.name.label("collector_name"),
            Debtor.timezone,
        )
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .join(Case, Case.id == VisitTask.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .join(Team, Team.id == Case.team_id)
        .join(Crew, Crew.id == Visit.crew_id)
        .join(Collector, Collector.id == Visit.collector_id)
    )
    stmt = authz.scope(stmt, Visit, user)
    if args.get("collector") is not None:
        stmt = stmt.where(Collector.code == args["collector"])
    if args.get("crew") is not None:
        stmt = stmt.where(Crew.code == args["crew"])
    if args.get("case") is not None:
        stmt = stmt.where(VisitTask.case_id == args["case"])
    if args.get("loan_ref") is not None:
        stmt = stmt.where(Case.loan_ref == args["loan_ref"])
    if args.get("debtor") is not None:
        stmt = stmt.where(Case.debtor_id == args["debtor"])
    if args.get("from") is not None:
        stmt = stmt.where(Visit.check_in_at >= args["from"])
    if args.get("to") is not None:
        stmt = stmt.where(Visit.check_in_at < args["to"])
    if args.get("outcome") is not None:
        stmt = stmt.where(Visit.outcome == args["outcome"])
    if args.get("flag") is not None:
        stmt = stmt.where(
            exists().where(ConductFlag.visit_id == Visit.id, ConductFlag.kind == args["flag"]).correlate(Visit)
        )
    if args.get("after") is not None:
        stmt = stmt.where(Visit.id > args["after"])
    return stmt.order_by(Visit.id)


def _among(column, ids):
    """``column IN ids``; on PostgreSQL as one array parameter, not thousands of parameters
    the driver would parse again for every batch of an export."""
    if db.session.connection().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def _visit_children(ids):
    """Recordings, agreements and conduct flags of these visits, by visit id."""
    recordings, agreements, flags = defaultdict(list), defaultdict(list), defaultdict(list)
    if not ids:
        return recordings, agreements, flags
    for r in db.session.execute(
        select(
            Recording.visit_id,
            Recording.id,
            Recording.sha256,
            Recording.kind,
            Recording.content_type,
            Recording.size_bytes,
            Recording.duration_seconds,
            Recording.uploaded_at,
        )
        .where(_among(Recording.visit_id, ids))
        .order_by(Recording.id)
    ):
        recordings[r.visit_id].append(
            {
                "id": r.id,
                "sha256": r.sha256,
                "kind": r.kind,
                "content_type": r.content_type,
                "size_bytes": r.size_bytes,
                "duration_seconds": r.duration_seconds,
                "uploaded_at": r.uploaded_at,
            }
        )
    for a in db.session.execute(
        select(
            RepaymentAgreement.visit_id,
            RepaymentAgreement.id,
            RepaymentAgreement.kind,
            RepaymentAgreement.status,
            RepaymentAgreement.currency,
            RepaymentAgreement.total_minor,
            RepaymentAgreement.waiver_minor,
            RepaymentAgreement.created_at,
        )
        .where(_among(RepaymentAgreement.visit_id, ids))
        .order_by(RepaymentAgreement.id)
    ):
        agreements[a.visit_id].append(
            {
                "id": a.id,
                "kind": a.kind,
                "status": a.status,
                "currency": a.currency,
                "total": money.to_decimal_string(a.total_minor, a.currency),
                "waiver": money.to_decimal_string(a.waiver_minor, a.currency),
                "created_at": a.created_at,
            }
        )
    for f in db.session.execute(
        select(
            ConductFlag.visit_id,
            ConductFlag.id,
            ConductFlag.kind,
            ConductFlag.rule_id,
            ConductFlag.profile_version,
            ConductFlag.status,
            ConductFlag.raised_at,
        )
        .where(_among(ConductFlag.visit_id, ids))
        .order_by(ConductFlag.id)
    ):
        flags[f.visit_id].append(
            {
                "id": f.id,
                "kind": f.kind,
                "rule_id": f.rule_id,
                "profile_version": f.profile_version,
                "status": f.status,
                "raised_at": f.raised_at,
            }
        )
    return recordings, agreements, flags


def _place(at, received_at, device_at, basis, lat, lon, accuracy_m, distance_m, mock):
    if at is None:
        return None
    return {
        "at": at,
        "received_at": received_at,
        "device_at": device_at,
        "time_basis": basis,
        "lat": lat,
        "lon": lon,
        "accuracy_m": accuracy_m,
        "distance_m": distance_m,
        "mock": mock,
    }


def _visit_records(batch):
    recordings, agreements, flags = _visit_children([row.id for row in batch])
    return [
        {
            "id": row.id,
            "task_id": row.task_id,
            "visit_date": row.visit_date,
            "case": {"id": row.case_id, "loan_ref": row.loan_ref},
            "debtor_id": row.debtor_id,
            "team": row.team,
            "crew": row.crew,
            "collector": row.collector,
            "collector_name": row.collector_name,
            "timezone": row.timezone,
            "check_in": _place(*row[9:18]),
            "check_out": _place(*row[18:27]),
            "outcome": row.outcome,
            "outcome_at": row.outcome_at,
            "outcome_received_at": row.outcome_received_at,
            "outcome_device_at": row.outcome_device_at,
            "person_met": row.person_met,
            "notes": row.notes,
            "recordings": recordings[row.id],
            "agreements": agreements[row.id],
            "flags": flags[row.id],
        }
        for row in batch
    ]


def visits_page(args: Data, user: User) -> dict[str, Any]:
    """A page of the visit log (keyset on the visit id); the pull is itself logged."""
    rows, next_after = _page(_visits_select(args, user), args, "id")
    items = _visit_records(rows)
    _record_export(user, "visits", "json", args, len(items), items[-1]["id"] if items else None, True)
    record_personal_reads(user, _visit_reads(rows), via="audit.visits")
    return {"items": items, "next_after": next_after}


def _visit_reads(batch):
    """A visit's check-in and check-out places are at the debtor's door; its notes are about them."""
    return [(row.debtor_id, row.case_id, ("lat", "lon", "notes")) for row in batch]


VISIT_CSV_HEADER = (
    "id",
    "task_id",
    "visit_date",
    "case_id",
    "loan_ref",
    "debtor_id",
    "team",
    "crew",
    "collector",
    "check_in_at",
    "check_in_received_at",
    "check_in_device_at",
    "check_in_time_basis",
    "check_in_lat",
    "check_in_lon",
    "check_in_accuracy_m",
    "check_in_distance_m",
    "check_in_mock",
    "check_out_at",
    "check_out_received_at",
    "check_out_device_at",
    "check_out_time_basis",
    "check_out_lat",
    "check_out_lon",
    "check_out_accuracy_m",
    "check_out_distance_m",
    "check_out_mock",
    "outcome",
    "outcome_at",
    "outcome_received_at",
    "outcome_device_at",
    "person_met",
    "notes",
    "recording_sha256",
    "agreement_kind",
    "agreement_status",
    "agreement_total",
    "agreement_currency",
    "flag_kinds",
    "flag_rule_ids",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Free text typed on a phone, made safe to open in a spreadsheet (OWASP CSV injection)."""
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _joined(items, key):
    return ";".join(str(item[key]) for item in items)


def _place_cells(place):
    place = place or {}
    return (
        _iso(place.get("at")),
        _iso(place.get("received_at")),
        _iso(place.get("device_at")),
        place.get("time_basis"),
        place.get("lat"),
        place.get("lon"),
        place.get("accuracy_m"),
        place.get("distance_m"),
        place.get("mock"),
    )


def _visit_csv_row(v):
    return (
        v["id"],
        v["task_id"],
        v["visit_date"].isoformat(),
        v["case"]["id"],
        v["case"]["loan_ref"],
        v["debtor_id"],
        v["team"],
        v["crew"],
        v["collector"],
        *_place_cells(v["check_in"]),
        *_place_cells(v["check_out"]),
        spreadsheet_safe(v["outcome"]),
        _iso(v["outcome_at"]),
        _iso(v["outcome_received_at"]),
        _iso(v["outcome_device_at"]),
        spreadsheet_safe(v["person_met"]),
        spreadsheet_safe(v["notes"]),
        _joined(v["recordings"], "sha256"),
        *(_joined(v["agreements"], k) for k in ("kind", "status", "total", "currency")),
        _joined(v["flags"], "kind"),
        _joined(v["flags"], "rule_id"),
    )


def _visits_csv(batch):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(_visit_csv_row(v) for v in _visit_records(batch))
    return out.getvalue()


def _json_default(value):
    return value.isoformat()


def _visits_ndjson(batch):
    return "".join(
        json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=_json_default) + "\n"
        for v in _visit_records(batch)
    )


def export_visits(
    args: Data,
    user: User,
    fmt: str,
    summary: dict[str, Any] | None = None,
    entity: tuple[str, int] | None = None,
    bom: bool = True,
) -> Iterator[str]:
    """The filtered visit log as CSV or NDJSON text chunks, by visit id. ``bom``: the CSV
    starts with a byte order mark (the default, for downloads and export jobs alike), which
    Excel needs to read UTF-8 (the notes are Chinese)."""
    stmt = _visits_select(args, user)
    if args.get("limit"):
        stmt = stmt.limit(args["limit"])
    if fmt == "csv":
        return _prefixed(
            ("\ufeff" if bom else "") + ",".join(VISIT_CSV_HEADER) + "\n",
            _stream(stmt, user, "visits", fmt, args, _visits_csv, "id", summary, reads_of=_visit_reads, entity=entity),
        )
    return _stream(stmt, user, "visits", fmt, args, _visits_ndjson, "id", summary, reads_of=_visit_reads, entity=entity)


# ---------------------------------------------------------------- proof of integrity


def verify(workers: int | None = None) -> dict[str, Any]:
    """The chain recomputed link by link, its personal values checked against their
    commitments, and the whole checked against every external anchor."""
    from app import anchors

    result = audit.verify_chain(workers=workers or current_app.config.get("AUDIT_VERIFY_WORKERS", 1))
    return anchors.check(result)


def head(day: date | None = None) -> dict[str, Any]:
    """The live chain head, or the head as of the end of a UTC day that has ended."""
    if day is None:
        return {"date": None, "as_of": clock.now(), "final": False, **audit.chain_head()}
    if day >= clock.now().date():
        raise ValidationFailed(
            "That day has not ended yet (UTC).", fields={"date": ["must be a UTC day that has ended"]}
        )
    result = audit.daily_head(day)
    return {
        "date": result["date"],
        "as_of": result["end"],
        "final": result["final"],
        "seq": result["seq"],
        "hash": result["hash"],
        **({"chains": result["chains"]} if "chains" in result else {}),
    }
