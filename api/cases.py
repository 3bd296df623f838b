"""Debtors, cases, contact attempts and the CSV import."""

from flask import Blueprint, current_app, g, render_template, request

from api.base import endpoint, page_of, printable
from api.privacy_schemas import SubjectAccessOut, SubjectAccessQuery
from api.schemas.cases import (
    CaseIn,
    CaseOut,
    CaseQuery,
    CaseUpdate,
    ContactIn,
    ContactList,
    ContactOut,
    DebtorOut,
    DebtorUpdate,
    ImportQuery,
    ImportReport,
)
from api.schemas.money import LedgerOut, RefundIn
from app.authz import get_visible
from app.errors import ValidationFailed
from app.models import Case, Debtor
from app.services import cases, importer, ledger
from app.services import subject_access as subject_access_service

bp = Blueprint("cases", __name__)


@bp.get("/cases")
@endpoint(permission="cases:read", query=CaseQuery, response=page_of(CaseOut))
def list_cases(args):
    """Cases of the caller's teams, filtered by stage, team, loan ref or days past due."""
    return cases.list_cases(args, g.user)


@bp.post("/cases")
@endpoint(permission="cases:write", body=CaseIn, response=CaseOut, status=201)
def create_case(data):
    """Open a case for a new debtor or a known one."""
    return cases.create_case(data, g.user)


@bp.get("/cases/<id:case_id>")
@endpoint(permission="cases:read", response=CaseOut)
def get_case(case_id):
    """One case with its debtor."""
    return cases.get_case(case_id, g.user)


@bp.patch("/cases/<id:case_id>")
@endpoint(permission="cases:write", body=CaseUpdate, response=CaseOut, partial=True)
def update_case(case_id, data):
    """Move a case along its lifecycle or update its amounts."""
    return cases.update_case(get_visible(Case, case_id, g.user, "case"), data, g.user)


@bp.post("/cases/import")
@endpoint(permission="cases:import", query=ImportQuery, response=ImportReport, raw_body="text/csv")
def import_cases(args):
    """Import a loan system's CSV export (idempotent on loan_ref); answers a per-row report."""
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    content = upload.read() if upload is not None else request.get_data()
    if not content:
        raise ValidationFailed("Send the CSV file as the body or as form field 'file'.", fields={"file": ["missing"]})
    report = importer.import_cases(
        content, g.user, default_team=args.get("team"), mode=args["mode"], dry_run=args["dry_run"]
    )
    if report.problems and not report.committed and args["mode"] == "all_or_nothing":
        raise ValidationFailed(
            f"{report.rejected} row(s) have problems; nothing was imported.",
            fields={"file": [f"row {p['row']}, {p['column'] or 'line'}: {p['message']}" for p in report.problems[:50]]},
            details={"problems": report.problems, "rows": report.rows, "rejected": report.rejected},
        )
    return report


@bp.get("/debtors/<id:debtor_id>")
@endpoint(permission="cases:read", response=DebtorOut)
def get_debtor(debtor_id):
    """A debtor; phone and national id masked unless the caller's role needs them."""
    return cases.get_debtor(debtor_id, g.user)


@bp.patch("/debtors/<id:debtor_id>")
@endpoint(permission="cases:write", body=DebtorUpdate, response=DebtorOut, partial=True)
def update_debtor(debtor_id, data):
    """Update a debtor's details, availability or flags (dispute, cease, vulnerable, …)."""
    return cases.update_debtor(get_visible(Debtor, debtor_id, g.user, "debtor"), data)


@bp.get("/debtors/<id:debtor_id>/subject-access")
@endpoint(
    permission="privacy:subject_access",
    query=SubjectAccessQuery,
    response=SubjectAccessOut,
    streams={"text/html": "format=html: the same, as a printable page."},
)
def subject_access(debtor_id, args):
    """Everything held on one debtor, for their request for their data (the export is itself logged)."""
    held = subject_access_service.subject_access(debtor_id, g.user, args["format"])
    if args["format"] == "html":
        return printable(render_template("subject_access.html", held=held), f"subject-access-{debtor_id}.html")
    return held


@bp.get("/cases/<id:case_id>/contact-attempts")
@endpoint(permission="cases:read", response=ContactList)
def list_contact_attempts(case_id):
    """Calls, messages and notices on a case, oldest first."""
    return cases.contact_attempts(case_id, g.user)


@bp.post("/cases/<id:case_id>/contact-attempts")
@endpoint(permission="contacts:write", body=ContactIn, response=ContactOut, status=201)
def record_contact_attempt(case_id, data):
    """Record a call, message or notice made before a visit."""
    return cases.record_contact_attempt(get_visible(Case, case_id, g.user, "case"), data, g.user)


@bp.get("/cases/<id:case_id>/ledger")
@endpoint(permission="ledger:read", response=LedgerOut)
def get_ledger(case_id):
    """Every movement of the case's balance, oldest first, with the running balance."""
    return ledger.case_ledger(case_id, g.user)


@bp.post("/cases/<id:case_id>/refunds")
@endpoint(permission="refunds:approve", body=RefundIn, response=LedgerOut, status=201)
def refund_credit(case_id, data):
    """Refund (part of) a credit paid beyond the balance; you are its approver."""
    return ledger.refund_case(case_id, data, g.user)
