"""Payment files from the servicing system and the daily reconciliation report."""

from flask import Blueprint, Response, current_app, g, request

from api.base import endpoint, load
from api.money_schemas import (
    PaymentBatchIn,
    PaymentImportOut,
    PaymentImportQuery,
    ReconciliationOut,
    ReconciliationQuery,
)
from api.schemas.money import PaymentIn
from app.errors import ValidationFailed
from app.services import payment_import, reconciliation

bp = Blueprint("money", __name__)


@bp.post("/payments/import")
@endpoint(
    permission="payments:write",
    query=PaymentImportQuery,
    body=PaymentBatchIn,
    raw_body="text/csv",
    response=PaymentImportOut,
)
def import_payments(args, data):
    """A batch of payments (JSON, or a CSV file); idempotent by reference; answered row by row."""
    if data is not None:
        rows = list(enumerate(data["payments"], start=1))
    else:
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
        content = request.get_data()
        if not content:
            raise ValidationFailed("Send the payments as JSON or as a CSV body.", fields={"file": ["missing"]})
        rows = payment_import.rows_from_csv(content)
    schema = PaymentIn()
    report = payment_import.import_payments(
        rows, lambda values: load(schema, values), g.user, mode=args["mode"], dry_run=args["dry_run"]
    )
    if report.problems and not report.committed and args["mode"] == "all_or_nothing":
        raise ValidationFailed(
            f"{report.rejected} row(s) have problems; nothing was recorded.",
            fields={"file": [f"row {p['row']}, {p['column'] or 'line'}: {p['message']}" for p in report.problems[:50]]},
            details={"problems": report.problems, "rows": report.rows, "rejected": report.rejected},
        )
    return report


@bp.get("/reports/reconciliation")
@endpoint(
    permission="reports:reconciliation",
    query=ReconciliationQuery,
    response=ReconciliationOut,
    streams={"text/csv": "format=csv: one row per team and currency, then one per unmatched payment."},
)
def reconciliation_report(args):
    """The day's money per team from the ledger: received, allocated, left on cases, credits, refunds, unmatched."""
    result = reconciliation.report(args["date"], g.user, args.get("team"))
    if args["format"] == "csv":
        response = Response(reconciliation.as_csv(result), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="reconciliation-{args["date"]}.csv"'
        return response
    return result
