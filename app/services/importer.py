"""Bulk import of overdue cases from a loan system's CSV export.

Semantics (documented in docs/api.md, "Bulk CSV import of cases"):

* The file must be UTF-8 CSV with a header row; columns are named as in ``COLUMNS``;
  other columns are ignored and listed in the report.
* Every row is checked before anything is written, by the rules POST /cases applies: the
  row is loaded through the API's schema (``CaseIn``, its money field and all). The report
  names each problem by row (the header is row 1), column and reason.
* ``all_or_nothing`` (the default): if any row has a problem, nothing is written.
  ``valid_rows``: the good rows are written, the bad ones reported and skipped.
* Idempotent on ``loan_ref``: a row whose case exists with the same values is
  ``unchanged``; one whose amounts, days past due, product, priority or team moved is
  ``updated``; only new loan refs are ``created``. Re-importing a file changes nothing.
* Debtors are matched by national id (within the file and against the database);
  a debtor already on file keeps their stored details.

Rows are written with bulk statements and one audit event per created or updated case.
"""

import csv
import io
import json
import re

from marshmallow import ValidationError, fields
from sqlalchemy import func, insert, select, update
from sqlalchemy import text as sa_text

from app import audit, authz, clock, crypto, geo, money
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, CaseDpdMark, Debtor, Team, dpd_mark_rows
from app.services import geocoding, ledger
from app.services.org import check_timezone

REQUIRED = ("loan_ref", "product", "currency", "principal", "outstanding", "days_past_due", "debtor_name", "address")
# lat and lon: both or neither. A row with only the address is valid: its debtor waits
# for the geocoder (or a supervisor's pin) before the case can be planned.
OPTIONAL = ("lat", "lon", "stage", "priority", "team", "phone", "national_id", "timezone", "language")
COLUMNS = REQUIRED + OPTIONAL
CHUNK = 900  # below SQLite's bound-parameter limit for IN lists
UPDATABLE = ("product", "principal_minor", "outstanding_minor", "days_past_due", "priority", "team_id")


# Where each column sits in the body POST /cases takes: a row is loaded through the API's
# own schema (``api.schemas.cases.CaseIn``, with its money, currency, code and coordinate fields),
# so a file and a request are judged by one set of rules.
PLACES = {
    "loan_ref": ("loan_ref",),
    "product": ("product",),
    "currency": ("currency",),
    "principal": ("principal",),
    "outstanding": ("outstanding",),
    "days_past_due": ("days_past_due",),
    "stage": ("stage",),
    "priority": ("priority",),
    "team": ("team",),
    "debtor_name": ("debtor", "name"),
    "address": ("debtor", "address"),
    "lat": ("debtor", "lat"),
    "lon": ("debtor", "lon"),
    "phone": ("debtor", "phone"),
    "national_id": ("debtor", "national_id"),
    "timezone": ("debtor", "timezone"),
    "language": ("debtor", "language"),
}
COLUMN_AT = {place: column for column, place in PLACES.items()}
# A cell is text; where the schema takes a number it is read as the JSON number it spells
# ("45", "31.2"), so "45.0" is no whole number and "thirty" no number, exactly as in JSON.
_JSON_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def _row_schema():
    from api.schemas.cases import CaseIn  # the HTTP edge's schema; imported late, as api imports the services

    schema = CaseIn()
    number_at = {place for place in COLUMN_AT if isinstance(_field_at(schema, place), fields.Number)}
    return schema, number_at


def _field_at(schema, place):
    field = schema.fields[place[0]]
    return field.schema.fields[place[1]] if len(place) == 2 else field


def _as_body(values, number_at):
    """The row's cells as the JSON body of POST /cases."""
    body = {"debtor": {}}
    for column, text in values.items():
        place = PLACES[column]
        value = json.loads(text) if place in number_at and _JSON_NUMBER.match(text) else text
        (body["debtor"] if len(place) == 2 else body)[place[-1]] = value
    return body


def _from_body(data):
    """The loaded body back as {column: value}."""
    debtor = data.pop("debtor", {})
    return {
        **{k: v for k, v in data.items() if k in PLACES},
        **{COLUMN_AT[("debtor", k)]: v for k, v in debtor.items() if ("debtor", k) in COLUMN_AT},
    }


def _problems(messages, prefix=()):
    """marshmallow's messages as [(column, reason)]."""
    for key, value in messages.items():
        if isinstance(value, dict):
            yield from _problems(value, (*prefix, key))
        else:
            yield COLUMN_AT.get((*prefix, key), key), "; ".join(value)


class Report:
    def __init__(self, mode, dry_run):
        self.mode, self.dry_run, self.committed = mode, dry_run, False
        self.rows = self.created = self.updated = self.unchanged = self.rejected = 0
        self.problems = []
        self.ignored_columns = []
        self.address_only = 0
        self.geocode_job = None
        # Outside a request the caller commits, then calls this to start the geocoding job.
        self.start_geocoding = None

    def problem(self, row, column, message):
        self.problems.append({"row": row, "column": column, "message": message})


def _read(content):
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                "The file is not UTF-8 text.", fields={"file": [f"not UTF-8 at byte {exc.start}"]}
            ) from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if not reader.fieldnames:
        raise ValidationFailed("The file is empty.", fields={"file": ["no header row"]})
    header = [name.strip() for name in reader.fieldnames]
    if any("\x00" in name for name in header):  # PostgreSQL text cannot hold it; a cell's is its row's problem
        raise ValidationFailed(
            "The header row contains a NUL character.", fields={"file": ["NUL character in the header row"]}
        )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed(
            "Required columns are missing.", fields={"file": [f"missing column: {c}" for c in missing]}
        )
    reader.fieldnames = header
    return reader, [c for c in header if c not in COLUMNS]


def _clean(values, seen, schema):
    """The row's typed values and its problems as [(column, reason)]."""
    problems = [
        (column, "contains the NUL character (U+0000)")
        for column in COLUMNS
        if column in values and "\x00" in values[column]
    ]  # PostgreSQL text cannot hold it
    if problems:
        return {}, problems
    row_schema, number_at = schema
    try:
        row = _from_body(row_schema.load(_as_body(values, number_at)))
    except ValidationError as exc:
        return {}, [
            (
                column,
                "required (or give ?team= for the whole file)"
                if column == "team" and "team" not in values
                else message,
            )
            for column, message in _problems(exc.messages)
        ]
    for column in ("principal", "outstanding"):
        try:
            row[f"{column}_minor"] = money.to_minor(row.pop(column), row["currency"])
        except money.MoneyError as exc:
            problems.append((column, str(exc)))
    if row.get("timezone"):
        try:
            check_timezone(row["timezone"])
        except ValidationFailed:
            problems.append(("timezone", "not an IANA time zone"))
    if row["loan_ref"] in seen:
        problems.append(("loan_ref", f"repeats row {seen[row['loan_ref']]}"))
    return row, problems


def _parse(reader, report, default_team):
    """Validate every row; yield (line number, clean values) of the good ones."""
    seen, schema = {}, _row_schema()
    for line, raw in enumerate(reader, start=2):
        report.rows += 1
        if None in raw:
            report.problem(line, None, "more fields than the header has columns")
            continue
        values = {k: v.strip() for k, v in raw.items() if k in COLUMNS and v is not None and v.strip() != ""}
        if default_team:
            values.setdefault("team", default_team)
        row, problems = _clean(values, seen, schema)
        for column, message in problems:
            report.problem(line, column, message)
        if not problems:
            seen[row["loan_ref"]] = line
            yield line, row


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_cases(content, actor, *, default_team=None, mode="all_or_nothing", dry_run=False):
    report = Report(mode, dry_run)
    reader, report.ignored_columns = _read(content)
    good = list(_parse(reader, report, default_team))

    teams = {t.code: t for t in db.session.scalars(select(Team).where(Team.code.in_({row["team"] for _, row in good})))}
    # The CLI operator (actor None) may import into any team, like an admin.
    visible = authz.visible_team_ids(actor) if actor is not None else None
    checked = []
    for line, row in good:
        team = teams.get(row["team"])
        if visible is not None and (team is None or team.id not in visible):
            # One answer for another's team and no team, so codes outside the caller's scope do not leak.
            report.problem(line, "team", "not one of your teams")
        elif team is None:
            report.problem(line, "team", f"no team {row['team']!r}")
        else:
            row["team_id"] = team.id
            checked.append((line, row))
    existing = {}
    for chunk in _chunks(row["loan_ref"] for _, row in checked):
        for case in db.session.scalars(select(Case).where(Case.loan_ref.in_(chunk))):
            existing[case.loan_ref] = case
    creates, updates, unchanged = [], [], 0
    for line, row in checked:
        case = existing.get(row["loan_ref"])
        if case is None:
            creates.append(row)
            continue
        if row["currency"] != case.currency:
            report.problem(line, "currency", f"the case is held in {case.currency}")
            continue
        changed = {k: row[k] for k in UPDATABLE if k in row and row[k] != getattr(case, k)}
        if "priority" in row and case.priority_source != "import":
            changed["priority_source"] = "import"  # the file now sets it: an override from here on
        if changed:
            updates.append((case, changed))
        else:
            unchanged += 1

    report.problems.sort(key=lambda p: (p["row"], p["column"] or ""))
    report.rejected = len({p["row"] for p in report.problems})
    if report.problems and mode == "all_or_nothing":
        return report
    report.unchanged = unchanged
    if dry_run:
        report.created, report.updated = len(creates), len(updates)
        return report

    _write_creates(creates, report, teams)
    _write_updates(updates, report)
    audit.record(
        "cases.imported",
        entity_type="import",
        entity_id=None,
        extra={
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "mode": mode,
            "address_only": report.address_only,
        },
    )
    job, report.start_geocoding = geocoding.after_intake(actor, report.address_only)
    report.geocode_job = job.id if job is not None else None
    report.committed = True
    return report


def _allocate_ids(model, count):
    """Primary keys for ``count`` new rows, so they can be inserted without RETURNING
    (psycopg then pipelines the batch instead of parsing one huge statement)."""
    if count == 0:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        table = model.__tablename__
        return list(
            db.session.scalars(
                sa_text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
                {"n": count},
            )
        )
    # SQLite: the transaction began IMMEDIATE, so no other writer can take these ids meanwhile.
    start = (db.session.scalar(select(func.max(model.id))) or 0) + 1
    return list(range(start, start + count))


def _write_creates(creates, report, teams):
    if not creates:
        return
    # Debtors are matched by national id through its blind index: one index lookup per
    # chunk, nothing decrypted.
    keyring = crypto.keyring()
    indexes = {
        nid: keyring.blind_index(nid, "national_id")
        for nid in {r["national_id"] for r in creates if r.get("national_id")}
    }
    # Keyed by the index, so "…123x" and "…123X" in one file are one debtor, as in the database.
    by_national_id = {}
    for chunk in _chunks(set(indexes.values())):
        for debtor_id, index in db.session.execute(
            select(Debtor.id, Debtor.national_id_index).where(Debtor.national_id_index.in_(chunk))
        ):
            by_national_id[index] = debtor_id

    now = clock.now()
    zones = {t.id: t.region.timezone for t in teams.values()}
    waiting = geocoding.initial_state()
    new_debtors, debtor_rows = [], []
    for row in creates:
        nid = row.get("national_id")
        if nid and indexes[nid] in by_national_id:
            continue
        located = "lat" in row
        debtor = {
            "name": row["debtor_name"],
            "phone": row.get("phone"),
            "national_id": nid,
            "national_id_index": indexes.get(nid),
            "address": row["address"],
            "lat": row.get("lat"),
            "lon": row.get("lon"),
            # Address only: the team's region's zone until the debtor is placed.
            "timezone": row.get("timezone")
            or (geo.timezone_at(row["lat"], row["lon"]) if located else zones.get(row["team_id"]))
            or "UTC",
            "language": row.get("language"),
            "availability": [],
            "flags": {},
            "created_at": now,
            "updated_at": now,
            "location_status": "located",
            "location_source": "given",
            "location_note": None,
            "geocode_attempts": 0,
            **({} if located else waiting),
        }
        report.address_only += 0 if located else 1
        if nid:
            by_national_id[indexes[nid]] = None  # created below; the first row for an id wins
        new_debtors.append(row)
        debtor_rows.append(debtor)
    for row, debtor, debtor_id in zip(new_debtors, debtor_rows, _allocate_ids(Debtor, len(debtor_rows))):
        row["debtor_id"] = debtor["id"] = debtor_id
        if row.get("national_id"):
            by_national_id[indexes[row["national_id"]]] = debtor_id
    if debtor_rows:
        db.session.execute(insert(Debtor), debtor_rows)
    case_rows = []
    for row, case_id in zip(creates, _allocate_ids(Case, len(creates))):
        if "debtor_id" not in row:
            row["debtor_id"] = by_national_id[indexes[row["national_id"]]]
        case_rows.append(
            {
                "id": case_id,
                "loan_ref": row["loan_ref"],
                "debtor_id": row["debtor_id"],
                "team_id": row["team_id"],
                "product": row["product"],
                "currency": row["currency"],
                "principal_minor": row["principal_minor"],
                "outstanding_minor": row["outstanding_minor"],
                "days_past_due": row["days_past_due"],
                "stage": row.get("stage", "notice"),
                "priority": row.get("priority", 0),
                # A priority column is the loan system's override; without it the strategy scores the case.
                "priority_source": "import" if "priority" in row else "strategy",
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(insert(Case), case_rows)
    marks = dpd_mark_rows([(c["id"], None, c["days_past_due"]) for c in case_rows], now)
    if marks:
        db.session.execute(insert(CaseDpdMark), marks)
    ledger.open_imported(case_rows)
    for case in case_rows:
        audit.record(
            "case.imported",
            entity_type="cases",
            entity_id=case["id"],
            after={
                k: case[k]
                for k in (
                    "loan_ref",
                    "debtor_id",
                    "team_id",
                    "product",
                    "currency",
                    "principal_minor",
                    "outstanding_minor",
                    "days_past_due",
                    "stage",
                    "priority",
                    "priority_source",
                )
            },
        )
    report.created = len(case_rows)


def _write_updates(updates, report):
    if not updates:
        return
    now = clock.now()
    for case, changed in updates:
        audit.record(
            "case.updated_by_import",
            entity_type="cases",
            entity_id=case.id,
            before={k: getattr(case, k) for k in changed},
            after=changed,
        )
    for case, changed in updates:
        if "outstanding_minor" in changed:  # the balance moves by a ledger row, not by this update
            ledger.adjust_imported(case, changed["outstanding_minor"])
    marks = dpd_mark_rows(
        [
            (case.id, case.days_past_due, changed["days_past_due"])
            for case, changed in updates
            if "days_past_due" in changed
        ],
        now,
    )
    db.session.execute(
        update(Case),
        [
            {"id": case.id, **{k: v for k, v in changed.items() if k != "outstanding_minor"}, "updated_at": now}
            for case, changed in updates
        ],
    )
    if marks:
        db.session.execute(insert(CaseDpdMark), marks)
    report.updated = len(updates)
