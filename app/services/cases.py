"""Debtors, their overdue cases, contact attempts and flags."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, crypto, geo, money
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Case, ContactAttempt, Debtor
from app.services import door, geocoding, ledger
from app.services.common import apply, paginate, snapshot, unique_or_fail
from app.services.org import check_timezone

# The case lifecycle (PRODUCT.md): which stage may follow which.
TRANSITIONS = {
    "notice": {"remote_contact", "field_visit", "resolved", "closed"},
    "remote_contact": {"field_visit", "agreement", "resolved", "closed"},
    "field_visit": {"remote_contact", "agreement", "resolved", "closed"},
    "agreement": {"field_visit", "remote_contact", "resolved", "closed"},
    "resolved": set(),
    "closed": set(),
}

DEBTOR_FIELDS = (
    "name",
    "phone",
    "national_id",
    "address",
    "lat",
    "lon",
    "location_status",
    "timezone",
    "language",
    "availability",
    "flags",
    "places",
)
DEBTOR_EDITABLE = ("name", "phone", "address", "lat", "lon", "timezone", "language", "availability", "places")
CASE_FIELDS = (
    "loan_ref",
    "product",
    "currency",
    "principal_minor",
    "outstanding_minor",
    "days_past_due",
    "stage",
    "priority",
    "priority_source",
    "team_id",
    "debtor_id",
)


def minor_amount(data, key, currency, field=None):
    try:
        return money.to_minor(data[key], currency)
    except money.MoneyError as exc:
        raise ValidationFailed("Amount is not valid.", fields={field or key: [str(exc)]}) from None


def resolve_timezone(data, team):
    """The debtor's zone: as given, else from the coordinates, else the team's region."""
    if data.get("timezone"):
        return check_timezone(data["timezone"], "debtor.timezone")
    if data.get("lat") is None:  # address only: the team's region until it is placed
        return team.region.timezone
    return geo.timezone_at(data["lat"], data["lon"]) or team.region.timezone


def _new_debtor(data, team):
    if data.get("national_id"):
        _national_id_free(
            data["national_id"], message="A debtor with this national id exists; refer to it by debtor_id."
        )
    located = data.get("lat") is not None
    where = {"location_status": "located", "location_source": "given"} if located else geocoding.initial_state()
    debtor = Debtor(
        name=data["name"],
        phone=data.get("phone"),
        national_id=data.get("national_id"),
        address=data["address"],
        lat=data.get("lat"),
        lon=data.get("lon"),
        **where,
        timezone=resolve_timezone(data, team),
        language=data.get("language"),
        availability=data.get("availability", []),
        flags=data.get("flags", {}),
        places=data.get("places", []),
    )
    db.session.add(debtor)
    db.session.flush()
    audit.record("debtor.created", debtor, after=snapshot(debtor, DEBTOR_FIELDS))
    return debtor


def _national_id_free(national_id, *, exclude_id=None, message=None):
    """Refuse a national id another debtor has (found by its blind index: stored encrypted)."""
    stmt = select(Debtor.id).where(Debtor.national_id_index == crypto.blind_index(national_id))
    if exclude_id is not None:
        stmt = stmt.where(Debtor.id != exclude_id)
    if db.session.execute(stmt).first() is not None:
        raise ValidationFailed(message or "national_id is already taken.", fields={"national_id": ["already exists"]})


def create_case(data, actor):
    unique_or_fail(Case, "loan_ref", data["loan_ref"])
    team = authz.writable_team(actor, data["team"])
    currency = data["currency"]
    principal = minor_amount(data, "principal", currency)
    outstanding = minor_amount(data, "outstanding", currency)
    if data.get("debtor_id") is not None:
        debtor = authz.get_visible(Debtor, data["debtor_id"], actor, "debtor")
    elif data.get("debtor") is not None:
        debtor = _new_debtor(data["debtor"], team)
        if debtor.lat is None:
            geocoding.after_intake(actor, 1)
    else:
        raise ValidationFailed(
            "Give the debtor, or the id of a known debtor.", fields={"debtor": ["required unless debtor_id is given"]}
        )
    case = Case(
        loan_ref=data["loan_ref"],
        debtor_id=debtor.id,
        team_id=team.id,
        product=data["product"],
        currency=currency,
        principal_minor=principal,
        outstanding_minor=outstanding,
        days_past_due=data["days_past_due"],
        stage=data.get("stage", "notice"),
        priority=data.get("priority", 0),
        # A priority the loan system gives is an override the strategy's score leaves alone.
        priority_source="import" if "priority" in data else "strategy",
    )
    if case.stage == "resolved" and outstanding > 0:
        raise ValidationFailed(
            "A case that still owes money is not resolved.", fields={"stage": ["resolved needs nothing outstanding"]}
        )
    db.session.add(case)
    db.session.flush()
    ledger.open_case(case)
    audit.record("case.created", case, after=snapshot(case, CASE_FIELDS))
    return case


def update_case(case, data, actor):
    amounts = {key: minor_amount(data, key, case.currency) for key in ("outstanding", "principal") if key in data}
    if "outstanding" in amounts or data.get("stage") == "resolved":
        case = ledger.lock_case(case.id)  # the balance moves (or is judged): no payment in between
    before = snapshot(case, CASE_FIELDS)
    if "outstanding" in amounts:
        # A correction of what is owed is a ledger adjustment by this user.
        ledger.adjust_to(case, amounts["outstanding"], "case.updated", note="outstanding corrected", actor=actor)
    if "principal" in amounts:
        case.principal_minor = amounts["principal"]  # the loan's original principal: no balance moves
    if "stage" in data and data["stage"] != case.stage:
        if data["stage"] not in TRANSITIONS[case.stage]:
            raise Conflict(
                f"A case cannot move from {case.stage} to {data['stage']}.",
                fields={"stage": [f"not reachable from {case.stage}"]},
            )
        if data["stage"] == "resolved" and case.outstanding_minor > 0:
            raise Conflict(
                "A case that still owes money is not resolved; record the payment, a waiver or an adjustment first.",
                fields={"stage": ["resolved needs nothing outstanding"]},
            )
        case.stage = data["stage"]
    if "team" in data:
        team = authz.writable_team(actor, data["team"])
        case.team_id = team.id
    apply(case, data, ("product", "days_past_due", "priority"))
    if "priority" in data:
        case.priority_source = "manual"  # set by hand: the nightly score leaves it alone
    elif data.get("priority_source") == "strategy":
        case.priority_source = "strategy"  # handed back: the next nightly run scores it
    db.session.flush()
    audit.record("case.updated", case, before=before, after=snapshot(case, CASE_FIELDS))
    door.withdraw_unlawful(case_ids=[case.id], cause="case.updated")
    return case


def update_debtor(debtor, data):
    before = snapshot(debtor, DEBTOR_FIELDS)
    if "timezone" in data:
        check_timezone(data["timezone"])
    if "national_id" in data and data["national_id"] != debtor.national_id:
        _national_id_free(data["national_id"], exclude_id=debtor.id)
        debtor.national_id = data["national_id"]
    apply(debtor, data, DEBTOR_EDITABLE)
    if "lat" in data and (data["lat"], data["lon"]) != (before["lat"], before["lon"]):
        debtor.location_status, debtor.location_source, debtor.location_note = "located", "given", None
    if "flags" in data:
        # Flags are merged, so one caller setting "dispute" does not clear "cease".
        debtor.flags = {**(debtor.flags or {}), **data["flags"]}
    debtor.updated_at = clock.now()
    db.session.flush()
    audit.record("debtor.updated", debtor, before=before, after=snapshot(debtor, DEBTOR_FIELDS))
    # A flag, a cease request, stated times or places may make committed visits unlawful.
    door.withdraw_unlawful(debtor_ids=[debtor.id], cause="debtor.updated")
    return debtor


def record_contact_attempt(case, data, actor):
    if data["occurred_at"] > clock.now():
        raise ValidationFailed(
            "A contact attempt cannot be in the future.", fields={"occurred_at": ["must not be in the future"]}
        )
    attempt = ContactAttempt(
        case_id=case.id,
        channel=data["channel"],
        purpose=data.get("purpose", "contact"),
        result=data["result"],
        occurred_at=data["occurred_at"],
        planned_visit_date=data.get("planned_visit_date"),
        notes=data.get("notes"),
        recorded_by_id=actor.id,
    )
    db.session.add(attempt)
    if case.stage == "notice" and data.get("purpose", "contact") == "contact":
        case.stage = "remote_contact"
    db.session.flush()
    audit.record(
        "contact_attempt.recorded",
        attempt,
        after={
            **snapshot(attempt, ("channel", "purpose", "result", "occurred_at", "planned_visit_date")),
            "case_id": case.id,
        },
    )
    return attempt


def contact_attempts_stmt(case):
    return select(ContactAttempt).where(ContactAttempt.case_id == case.id)


def list_cases(args, user):
    stmt = authz.scope(select(Case).options(selectinload(Case.debtor), selectinload(Case.team)), Case, user)
    if args.get("stage"):
        stmt = stmt.where(Case.stage == args["stage"])
    if args.get("team"):
        stmt = stmt.where(Case.team.has(code=args["team"]))
    if args.get("loan_ref"):
        stmt = stmt.where(Case.loan_ref == args["loan_ref"])
    if args.get("min_days_past_due") is not None:
        stmt = stmt.where(Case.days_past_due >= args["min_days_past_due"])
    return paginate(stmt, Case, args)


def get_case(case_id, user):
    """A case (its debtor's personal data in the answer is logged as it is serialised)."""
    return authz.get_visible(Case, case_id, user, "case")


def get_debtor(debtor_id, user):
    return authz.get_visible(Debtor, debtor_id, user, "debtor")


def contact_attempts(case_id, user):
    return {"items": authz.get_visible(Case, case_id, user, "case").contact_attempts}
