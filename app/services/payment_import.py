"""Payment files from the servicing system: many payments in one request, CSV or JSON.

Semantics (docs/money.md, "Payment files"):

* Each row is read by the same schema and money rule as ``POST /payments``
  (``load_row``, given by the API edge), so a file and a request are judged alike.
* Idempotent by reference: a reference already stored with the same case, amount and
  currency is a ``duplicate`` (nothing written); with other details it is a ``conflict``
  (a problem). The same reference twice in one file is judged the same way.
* A loan reference that names no case is ``unmatched``: kept (``unmatched_payments``),
  listed in the day's reconciliation, never posted to a case.
* ``all_or_nothing`` (default): any problem and nothing is written. ``valid_rows``: the
  good rows are written, the others reported.
* Every payment is posted as ``POST /payments`` posts it (ledger row, allocations to the
  oldest open instalment of active agreements, a credit beyond the balance, the case
  resolved at zero, an audit event), in bulk: the cases are locked in id order, their
  ledgers read once, and rows written with bulk statements.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from app import audit, clock, money
from app.errors import ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    Instalment,
    LedgerEntry,
    Payment,
    PaymentAllocation,
    RepaymentAgreement,
    UnmatchedPayment,
    User,
)
from app.services.allocation import allocate
from app.services.importer import _allocate_ids, _chunks
from app.services.ledger import LedgerMismatch

COLUMNS = ("reference", "loan_ref", "amount", "currency", "paid_at")
MAX_ROWS = 100_000


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _among(column, values):
    """Conditions for rows whose ``column`` is one of ``values``: one array parameter on
    PostgreSQL (one round trip for a whole file), chunks below SQLite's parameter limit."""
    values = list(values)
    if not values:
        return []
    if _postgres():
        return [column == any_(bindparam(None, values, type_=ARRAY(column.type)))]
    return [column.in_(chunk) for chunk in _chunks(values)]


class Report:
    def __init__(self, mode: str, dry_run: bool) -> None:
        self.mode, self.dry_run, self.committed = mode, dry_run, False
        self.rows = self.created = self.duplicate = self.unmatched = self.rejected = 0
        self.problems: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    def problem(self, row: int, column: str | None, message: str) -> None:
        self.problems.append({"row": row, "column": column, "message": message})


def rows_from_csv(content: bytes | str) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line, {column: text}) of a CSV file whose header names ``COLUMNS``."""
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The file is not UTF-8 text.", fields={"file": [f"not UTF-8 at byte {exc.start}"]}
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(
            "Required columns are missing.", fields={"file": [f"missing column: {c}" for c in missing]}
        )
    reader.fieldnames = header
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            yield line, None
            continue
        yield line, {k: v.strip() for k, v in raw.items() if k in COLUMNS and v is not None and v.strip() != ""}


def import_payments(
    rows: Iterable[tuple[int, Any]],
    load_row: Callable[[dict[str, Any]], dict[str, Any]],
    actor: User,
    *,
    mode: str = "all_or_nothing",
    dry_run: bool = False,
) -> Report:
    """``rows``: (row number, raw values or None); ``load_row(values)`` → the loaded payment or
    raises ValidationFailed naming its fields."""
    report = Report(mode, dry_run)
    loaded = []
    for line, values in rows:
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise ValidationFailed(f"At most {MAX_ROWS} payments per file.", fields={"file": ["too many rows"]})
        if not isinstance(values, dict):
            report.problem(
                line,
                None,
                "not a payment (a CSV line with more fields than the header, or a JSON element that is not an object)",
            )
            continue
        try:
            data = load_row(values)
        except ValidationFailed as exc:
            for column, messages in exc.fields.items():
                for message in messages if isinstance(messages, list) else [str(messages)]:
                    report.problem(line, column, message)
            continue
        loaded.append((line, data))

    cases = _cases(
        {d["loan_ref"] for _, d in loaded if d.get("loan_ref")}, {d["case_id"] for _, d in loaded if d.get("case_id")}
    )
    stored = _stored_references({d["reference"] for _, d in loaded})
    seen, plan = {}, []
    for line, data in loaded:
        case = cases["by_ref"].get(data["loan_ref"]) if data.get("loan_ref") else cases["by_id"].get(data["case_id"])
        currency = case["currency"] if case else data["currency"]
        try:
            amount = money.to_minor(data["amount"], currency)
        except money.MoneyError as exc:
            report.problem(line, "amount", str(exc))
            continue
        if amount <= 0:
            report.problem(line, "amount", "must be positive")
            continue
        if case is not None and data["currency"] != case["currency"]:
            report.problem(line, "currency", f"the case is in {case['currency']}")
            continue
        key = (case["id"] if case else None, data.get("loan_ref"), amount, data["currency"])
        previous = stored.get(data["reference"]) or seen.get(data["reference"])
        if previous is not None:
            if previous != key:
                report.problem(line, "reference", "already recorded with other details")
            else:
                report.duplicate += 1
                report.results.append({"row": line, "reference": data["reference"], "status": "duplicate"})
            continue
        seen[data["reference"]] = key
        plan.append((line, data, case, amount))

    report.problems.sort(key=lambda p: (p["row"], p["column"] or ""))
    report.rejected = len({p["row"] for p in report.problems})
    if (report.problems and mode == "all_or_nothing") or dry_run:
        report.created = sum(1 for _, _, case, _ in plan if case)
        report.unmatched = sum(1 for _, _, case, _ in plan if not case)
        if report.problems and mode == "all_or_nothing":
            report.created = report.unmatched = 0
        return report
    _write(plan, report)
    audit.record(
        "payments.imported",
        entity_type="import",
        entity_id=None,
        actor=actor,
        extra={
            "rows": report.rows,
            "created": report.created,
            "duplicate": report.duplicate,
            "unmatched": report.unmatched,
            "rejected": report.rejected,
            "mode": mode,
        },
    )
    report.committed = True
    report.results.sort(key=lambda r: r["row"])
    return report


def _cases(loan_refs, case_ids):
    """The named cases (id, loan_ref, currency)."""
    by_ref, by_id = {}, {}
    columns = (Case.id, Case.loan_ref, Case.currency)
    for condition in _among(Case.loan_ref, loan_refs):
        for row in db.session.execute(select(*columns).where(condition)):
            by_ref[row.loan_ref] = by_id[row.id] = row._asdict()
    for condition in _among(Case.id, case_ids - set(by_id)):
        for row in db.session.execute(select(*columns).where(condition)):
            by_ref[row.loan_ref] = by_id[row.id] = row._asdict()
    return {"by_ref": by_ref, "by_id": by_id}


def _stored_references(references):
    """{reference: (case id, loan ref, amount, currency)} of payments already stored."""
    stored = {}
    for condition in _among(Payment.reference, references):
        for row in db.session.execute(
            select(Payment.reference, Payment.case_id, Case.loan_ref, Payment.amount_minor, Payment.currency)
            .join(Case, Case.id == Payment.case_id)
            .where(condition)
        ):
            stored[row.reference] = (row.case_id, row.loan_ref, row.amount_minor, row.currency)
    for condition in _among(UnmatchedPayment.reference, references):
        for row in db.session.execute(
            select(
                UnmatchedPayment.reference,
                UnmatchedPayment.loan_ref,
                UnmatchedPayment.amount_minor,
                UnmatchedPayment.currency,
            ).where(condition)
        ):
            stored[row.reference] = (None, row.loan_ref, row.amount_minor, row.currency)
    return stored


def _write(plan, report):
    now = clock.now()
    case_ids = sorted({case["id"] for _, _, case, _ in plan if case})
    # Locked in id order (two files touching the same cases queue rather than deadlock),
    # read fresh under the lock.
    state = {}
    for condition in _among(Case.id, case_ids):
        for row in db.session.execute(
            select(Case.id, Case.currency, Case.outstanding_minor, Case.credit_minor, Case.stage)
            .where(condition)
            .order_by(Case.id)
            .with_for_update(of=Case)
        ):
            state[row.id] = {
                "currency": row.currency,
                "outstanding": row.outstanding_minor,
                "credit": row.credit_minor,
                "stage": row.stage,
                "changed": False,
            }
    last = {}
    for condition in _among(LedgerEntry.case_id, case_ids):
        latest = select(func.max(LedgerEntry.id)).where(condition).group_by(LedgerEntry.case_id)
        for case_id, balance in db.session.execute(
            select(LedgerEntry.case_id, LedgerEntry.balance_minor).where(LedgerEntry.id.in_(latest))
        ):
            last[case_id] = balance
    open_parts = {}
    for condition in _among(RepaymentAgreement.case_id, case_ids):
        for part, case_id in db.session.execute(
            select(Instalment, RepaymentAgreement.case_id)
            .join(RepaymentAgreement)
            .where(condition, RepaymentAgreement.status == "active", Instalment.status.in_(("open", "late")))
            .order_by(Instalment.due_date, Instalment.agreement_id, Instalment.seq)
        ):
            open_parts.setdefault(case_id, []).append(part)

    payments = [(line, data, case, amount) for line, data, case, amount in plan if case]
    unmatched = [(line, data, amount) for line, data, case, amount in plan if not case]
    ids = _allocate_ids(Payment, len(payments))
    payment_rows, ledger_rows, allocation_rows, touched_parts = [], [], [], {}
    for (line, data, case, amount), payment_id in zip(payments, ids):
        s = state[case["id"]]
        balance = s["outstanding"] - s["credit"]
        if case["id"] not in last:
            if balance:
                ledger_rows.append(
                    _ledger(
                        case["id"],
                        s["currency"],
                        "principal" if balance > 0 else "adjustment",
                        abs(balance),
                        balance,
                        balance,
                        "opening",
                        now,
                        note="balance when the ledger began",
                    )
                )
            last[case["id"]] = balance
        elif last[case["id"]] != balance:
            raise LedgerMismatch(f"case {case['id']}: balance {balance} but ledger {last[case['id']]}")
        source = f"payment:{data['reference']}"[:80]
        payment_rows.append(
            {
                "id": payment_id,
                "reference": data["reference"],
                "case_id": case["id"],
                "amount_minor": amount,
                "currency": s["currency"],
                "paid_at": data["paid_at"],
                "received_at": now,
            }
        )
        after = balance - amount
        ledger_rows.append(
            _ledger(case["id"], s["currency"], "payment", amount, -amount, after, source, now, payment_id=payment_id)
        )
        new_credit = max(-after, 0) - max(-balance, 0)
        if new_credit > 0:
            ledger_rows.append(
                _ledger(
                    case["id"],
                    s["currency"],
                    "credit",
                    new_credit,
                    0,
                    after,
                    source,
                    now,
                    payment_id=payment_id,
                    note="paid beyond the balance: held for a refund decision",
                )
            )
        allocations = []
        for part, portion in allocate(amount, open_parts.get(case["id"], [])):
            touched_parts[part.id] = part
            allocation_rows.append({"payment_id": payment_id, "instalment_id": part.id, "amount_minor": portion})
            ledger_rows.append(
                _ledger(
                    case["id"],
                    s["currency"],
                    "allocation",
                    portion,
                    0,
                    after,
                    source,
                    now,
                    payment_id=payment_id,
                    agreement_id=part.agreement_id,
                    instalment_id=part.id,
                )
            )
            allocations.append([part.id, portion])
        before = {"outstanding_minor": s["outstanding"], "credit_minor": s["credit"], "stage": s["stage"]}
        s["outstanding"], s["credit"], s["changed"] = max(after, 0), max(-after, 0), True
        if s["outstanding"] == 0 and s["stage"] not in ("resolved", "closed"):
            s["stage"] = "resolved"
        last[case["id"]] = after
        audit.record(
            "payment.recorded",
            entity_type="payments",
            entity_id=payment_id,
            before=before,
            after={
                "outstanding_minor": s["outstanding"],
                "credit_minor": s["credit"],
                "stage": s["stage"],
                "amount_minor": amount,
                "reference": data["reference"],
                "allocations": allocations,
            },
            extra={"via": "import"},
        )
        report.results.append(
            {"row": line, "reference": data["reference"], "status": "created", "payment_id": payment_id}
        )
    # Parts were read as objects: written with the bulk update below, not by the session.
    for part in touched_parts.values():
        db.session.expunge(part)
    for model, rows in ((Payment, payment_rows), (PaymentAllocation, allocation_rows), (LedgerEntry, ledger_rows)):
        _insert(model.__table__, rows)
    changed = [
        {
            "id": case_id,
            "outstanding_minor": s["outstanding"],
            "credit_minor": s["credit"],
            "stage": s["stage"],
            "updated_at": now,
        }
        for case_id, s in state.items()
        if s["changed"]
    ]
    parts = [{"id": p.id, "paid_minor": p.paid_minor, "status": p.status} for p in touched_parts.values()]
    if _postgres():
        # One statement each, from arrays, rather than one UPDATE per row.
        if changed:
            db.session.execute(
                text(
                    "UPDATE cases SET outstanding_minor = v.o, credit_minor = v.c, stage = v.s, updated_at = :now "
                    "FROM unnest(CAST(:ids AS integer[]), CAST(:o AS bigint[]), CAST(:c AS bigint[]), "
                    "CAST(:s AS varchar[])) AS v(id, o, c, s) WHERE cases.id = v.id"
                ),
                {
                    "now": now,
                    "ids": [r["id"] for r in changed],
                    "o": [r["outstanding_minor"] for r in changed],
                    "c": [r["credit_minor"] for r in changed],
                    "s": [r["stage"] for r in changed],
                },
            )
        if parts:
            db.session.execute(
                text(
                    "UPDATE instalments SET paid_minor = v.p, status = v.s FROM unnest(CAST(:ids AS integer[]), "
                    "CAST(:p AS bigint[]), CAST(:s AS varchar[])) AS v(id, p, s) WHERE instalments.id = v.id"
                ),
                {
                    "ids": [r["id"] for r in parts],
                    "p": [r["paid_minor"] for r in parts],
                    "s": [r["status"] for r in parts],
                },
            )
    else:
        if changed:
            db.session.execute(update(Case), changed)
        if parts:
            db.session.execute(update(Instalment), parts)
    if unmatched:
        _insert(
            UnmatchedPayment.__table__,
            [
                {
                    "reference": data["reference"],
                    "loan_ref": data.get("loan_ref") or f"case:{data.get('case_id')}",
                    "amount_minor": amount,
                    "currency": data["currency"],
                    "paid_at": data["paid_at"],
                    "received_at": now,
                }
                for _, data, amount in unmatched
            ],
        )
        for line, data, _ in unmatched:
            report.results.append({"row": line, "reference": data["reference"], "status": "unmatched"})
    report.created, report.unmatched = len(payment_rows), len(unmatched)


def _insert(table, rows):
    """Many uniform rows: COPY on PostgreSQL (in this transaction, on its connection), a
    Core executemany elsewhere (the ORM's bulk insert splits rows whose None values differ)."""
    if not rows:
        return
    if not _postgres():
        db.session.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _ledger(case_id, currency, kind, amount, delta, balance, source, now, **links):
    return {
        "case_id": case_id,
        "kind": kind,
        "amount_minor": amount,
        "delta_minor": delta,
        "balance_minor": balance,
        "currency": currency,
        "source": source,
        "payment_id": links.get("payment_id"),
        "agreement_id": links.get("agreement_id"),
        "instalment_id": links.get("instalment_id"),
        "approved_by_id": None,
        "note": links.get("note"),
        "created_at": now,
    }
