"""Money that reconciles: a ledger per case, kept is not resolved, overpayments held as a
credit and refunded with an approver, waivers decided within tiered limits, and
supervisors evaluating their own teams' agreements."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Case, LedgerEntry, RepaymentAgreement
from tests.api.test_payments_and_conduct import agreement_with, evaluate, pay
from tests.conftest import TEST_NOW

TODAY = TEST_NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture()
def region(make):
    return make.region(code="SH-M")


@pytest.fixture()
def team(make, region):
    return make.team(code="SH-A", region=region)


@pytest.fixture()
def admin(make):
    return make.token(make.user("admin"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def case_row(app, db, case_id):
    with app.app_context():
        case = db.session.get(Case, case_id)
        db.session.expunge(case)
        return case


def ledger_of(client, headers, case_id):
    response = client.get(f"/api/v1/cases/{case_id}/ledger", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


# ---------------------------------------------------------------- the ledger


def test_the_ledger_shows_every_movement_with_its_running_balance(client, make, team, admin, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement_with(make, case, [30000, 30000], TODAY)
    pay(client, admin, "L-1", "450.00", case)
    pay(client, admin, "L-2", "100.00", case)
    ledger = ledger_of(client, sup, case.id)
    assert [(e["kind"], e["delta"], e["balance"]) for e in ledger["entries"]] == [
        ("principal", "1000.00", "1000.00"),
        ("payment", "-450.00", "550.00"),
        ("allocation", "0.00", "550.00"),
        ("allocation", "0.00", "550.00"),
        ("payment", "-100.00", "450.00"),
        ("allocation", "0.00", "450.00"),
    ]
    assert [e["source"] for e in ledger["entries"]][1:3] == ["payment:L-1", "payment:L-1"]
    assert ledger["balanced"] is True and ledger["outstanding"] == "450.00"
    assert ledger["totals"] | {} == {
        "principal": "1000.00",
        "payments": "550.00",
        "allocated": "550.00",
        "waivers": "0.00",
        "credits": "0.00",
        "refunds": "0.00",
        "adjustments": "0.00",
    }


def test_a_new_case_opens_its_ledger_with_what_it_owes(client, make, team, sup):
    response = client.post(
        "/api/v1/cases",
        headers=sup,
        json={
            "loan_ref": "NEW-1",
            "product": "cash_loan",
            "currency": "CNY",
            "principal": "1000.00",
            "outstanding": "900.00",
            "days_past_due": 40,
            "team": "SH-A",
            "debtor": {"name": "Li Lei", "address": "1 Road", "lat": 31.2, "lon": 121.4},
        },
    )
    assert response.status_code == 201
    ledger = ledger_of(client, sup, response.json["id"])
    assert [(e["kind"], e["amount"], e["balance"]) for e in ledger["entries"]] == [("principal", "900.00", "900.00")]


def test_correcting_what_is_owed_is_an_adjustment_by_its_author(client, make, team, sup):
    case = make.case(team=team, outstanding_minor=100_000)
    assert client.patch(f"/api/v1/cases/{case.id}", headers=sup, json={"outstanding": "1200.00"}).status_code == 200
    entries = ledger_of(client, sup, case.id)["entries"]
    assert [(e["kind"], e["delta"], e["balance"]) for e in entries] == [
        ("principal", "1000.00", "1000.00"),
        ("adjustment", "200.00", "1200.00"),
    ]
    assert entries[1]["approved_by_id"] is not None


def test_another_teams_supervisor_does_not_see_the_ledger(client, make, team):
    case = make.case(team=team)
    outsider = make.token(make.user("supervisor", team=make.team(code="SH-Z")))
    assert client.get(f"/api/v1/cases/{case.id}/ledger", headers=outsider).status_code == 404


# ---------------------------------------------------------------- overpayment and refunds


def test_paying_more_than_owed_keeps_the_excess_as_a_credit_for_a_refund_decision(
    app, db, client, make, team, admin, sup
):
    case = make.case(team=team, outstanding_minor=500_000)
    response = pay(client, admin, "OVER-1", "9000.00", case)
    assert response.status_code == 201
    stored = case_row(app, db, case.id)
    assert (stored.outstanding_minor, stored.credit_minor, stored.stage) == (0, 400_000, "resolved")
    shown = client.get(f"/api/v1/cases/{case.id}", headers=sup).json
    assert (shown["outstanding"], shown["credit"]) == ("0.00", "4000.00")
    ledger = ledger_of(client, sup, case.id)
    assert [(e["kind"], e["amount"], e["balance"]) for e in ledger["entries"]][1:] == [
        ("payment", "9000.00", "-4000.00"),
        ("credit", "4000.00", "-4000.00"),
    ]
    assert ledger["totals"]["credits"] == "4000.00" and ledger["balanced"]


def test_a_refund_pays_back_the_credit_and_names_its_approver(app, db, client, make, team, admin):
    approver = make.user("supervisor", team=team)
    case = make.case(team=team, outstanding_minor=500_000)
    pay(client, admin, "OVER-2", "9000.00", case)
    response = client.post(
        f"/api/v1/cases/{case.id}/refunds",
        headers=make.token(approver),
        json={"amount": "4000.00", "note": "returned to the debtor's card", "reference": "RF-1"},
    )
    assert response.status_code == 201, response.json
    refund = response.json["entries"][-1]
    assert (refund["kind"], refund["delta"], refund["balance"], refund["approved_by_id"]) == (
        "refund",
        "4000.00",
        "0.00",
        approver.id,
    )
    assert response.json["credit"] == "0.00" and response.json["balanced"]
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "case.refunded")).one()
        assert event.actor_user_id == approver.id


def test_a_refund_beyond_the_credit_is_refused_and_nothing_moves(client, make, team, admin, sup, rows):
    case = make.case(team=team, outstanding_minor=500_000)
    pay(client, admin, "OVER-3", "5100.00", case)
    before = rows(LedgerEntry)
    response = client.post(f"/api/v1/cases/{case.id}/refunds", headers=sup, json={"amount": "100.01", "note": "x"})
    assert response.status_code == 422 and "amount" in response.json["error"]["fields"]
    assert rows(LedgerEntry) == before


def test_auditors_read_the_ledger_but_do_not_approve_refunds(client, make, team, admin):
    case = make.case(team=team, outstanding_minor=500)
    pay(client, admin, "OVER-4", "10.00", case)
    auditor = make.token(make.user("auditor"))
    assert client.get(f"/api/v1/cases/{case.id}/ledger", headers=auditor).status_code == 200
    assert (
        client.post(
            f"/api/v1/cases/{case.id}/refunds", headers=auditor, json={"amount": "5.00", "note": "x"}
        ).status_code
        == 403
    )


# ---------------------------------------------------------------- kept is not resolved


def test_a_kept_promise_for_less_than_owed_does_not_resolve_the_case(app, db, client, make, team, admin):
    case = make.case(team=team, stage="agreement", outstanding_minor=300_000)
    agreement = agreement_with(make, case, [200_000], TODAY)
    pay(client, admin, "KEPT-1", "2000.00", case)
    evaluate(app, TODAY)
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).status == "kept"
        stored = db.session.get(Case, case.id)
        # The cn profile sends a remainder back to remote contact.
        assert (stored.stage, stored.outstanding_minor) == ("remote_contact", 100_000)


def test_a_kept_agreement_whose_waiver_covers_the_rest_resolves_the_case(app, client, make, day):
    from tests.api.test_field import ACK, PROMISE_DAY, check_in, visit

    check_in(client, day, day.tasks[0])
    owed = day.cases[0].outstanding_minor
    total = owed * 85 // 100  # a 15 % waiver: within the agent's 20 %, no approval needed
    waiver = owed - total
    to = lambda minor: f"{minor // 100}.{minor % 100:02d}"  # noqa: E731
    answer = visit(
        client,
        day,
        day.tasks[0],
        {
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "agreement": {
                "kind": "promise",
                "total": to(total),
                "waiver": to(waiver),
                "due_date": PROMISE_DAY,
                "acknowledgement": ACK,
            },
        },
    )
    assert answer.status_code == 200 and answer.json["agreement"]["status"] == "active"
    assert day.get(Case, day.cases[0].id).outstanding_minor == total  # the waiver is off the balance
    pay(client, make.token(make.user("admin")), "KEPT-2", to(total), day.cases[0])
    day.clock.set(day.clock() + timedelta(days=1))
    evaluate(app, TODAY + timedelta(days=1))
    assert day.get(Case, day.cases[0].id).stage == "resolved"


def test_a_broken_agreement_withdraws_its_waiver(app, db, client, make, team, admin, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = make._save(
        RepaymentAgreement(
            case_id=case.id,
            kind="promise",
            status="pending_approval",
            currency="CNY",
            total_minor=70_000,
            waiver_minor=30_000,
            owed_minor=100_000,
        )
    )
    from app.models import Instalment

    make._save(Instalment(agreement_id=agreement.id, seq=1, due_date=TODAY, amount_minor=70_000))
    assert (
        client.post(f"/api/v1/agreements/{agreement.id}/approve", headers=sup, json={"note": "hardship"}).status_code
        == 200
    )
    assert case_row(app, db, case.id).outstanding_minor == 70_000
    evaluate(app, TODAY + timedelta(days=30))
    stored = case_row(app, db, case.id)
    assert (stored.stage, stored.outstanding_minor) == ("field_visit", 100_000)
    kinds = [(e["kind"], e["delta"]) for e in ledger_of(client, sup, case.id)["entries"]]
    assert kinds[-2:] == [("waiver", "-300.00"), ("adjustment", "300.00")]


def test_a_case_that_owes_money_cannot_be_marked_resolved_by_hand(client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    response = client.patch(f"/api/v1/cases/{case.id}", headers=sup, json={"stage": "resolved"})
    assert response.status_code == 409 and "stage" in response.json["error"]["fields"]
    settled = client.patch(f"/api/v1/cases/{case.id}", headers=sup, json={"outstanding": "0.00", "stage": "resolved"})
    assert settled.status_code == 200 and settled.json["stage"] == "resolved"


STAGES = ("notice", "remote_contact", "field_visit", "agreement", "resolved", "closed")
ALLOWED = {
    "notice": {"remote_contact", "field_visit", "resolved", "closed"},
    "remote_contact": {"field_visit", "agreement", "resolved", "closed"},
    "field_visit": {"remote_contact", "agreement", "resolved", "closed"},
    "agreement": {"field_visit", "remote_contact", "resolved", "closed"},
    "resolved": set(),
    "closed": set(),
}


@pytest.mark.parametrize("source", STAGES)
@pytest.mark.parametrize("target", STAGES)
def test_every_case_stage_transition_is_allowed_or_refused_as_the_diagram_draws_it(
    client, make, team, sup, source, target
):
    if source == target:
        pytest.skip("staying in a stage is no transition")
    case = make.case(team=team, stage=source, outstanding_minor=0 if target == "resolved" else 100)
    response = client.patch(f"/api/v1/cases/{case.id}", headers=sup, json={"stage": target})
    assert response.status_code == (200 if target in ALLOWED[source] else 409), response.json


# ---------------------------------------------------------------- waivers


def pending(make, case, waiver_minor, owed_minor=100_000):
    from app.models import Instalment

    agreement = make._save(
        RepaymentAgreement(
            case_id=case.id,
            kind="promise",
            status="pending_approval",
            currency="CNY",
            total_minor=owed_minor - waiver_minor,
            waiver_minor=waiver_minor,
            owed_minor=owed_minor,
        )
    )
    make._save(
        Instalment(
            agreement_id=agreement.id, seq=1, due_date=TODAY + timedelta(days=5), amount_minor=owed_minor - waiver_minor
        )
    )
    return agreement


@pytest.mark.parametrize(
    "percent,who,status",
    [
        (35, "supervisor", 200),
        (45, "supervisor", 422),
        (45, "regional", 200),
        (65, "regional", 422),
        (65, "admin", 200),
        (90, "admin", 200),
    ],
)
def test_waiver_approval_limits_are_tiered_by_role_in_the_profile(client, make, team, region, percent, who, status):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, percent * 1000)
    user = {
        "supervisor": lambda: make.user("supervisor", team=team),
        "regional": lambda: make.user("supervisor", region=region),
        "admin": lambda: make.user("admin"),
    }[who]()
    response = client.post(f"/api/v1/agreements/{agreement.id}/approve", headers=make.token(user), json={"note": "ok"})
    assert response.status_code == status, response.json
    if status == 422:
        assert response.json["error"]["rule_id"] == "cn.waiver_approval_limit"


def test_an_approval_is_audited_with_its_limit_and_rule(app, db, client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    client.post(f"/api/v1/agreements/{agreement.id}/approve", headers=sup, json={"note": "hardship"})
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "agreement.approved")).one()
        import json

        extra = json.loads(event.changes)["extra"]
    assert (extra["rule_id"], extra["limit_percent"], extra["tier"]) == ("cn.waiver_approval_limit", 40, "supervisor")


def test_a_waiver_can_be_rejected_with_a_reason_and_the_balance_stays(app, db, client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    response = client.post(
        f"/api/v1/agreements/{agreement.id}/reject", headers=sup, json={"reason": "no hardship evidence"}
    )
    assert response.status_code == 200
    assert (response.json["status"], response.json["decision_note"]) == ("rejected", "no hardship evidence")
    assert case_row(app, db, case.id).outstanding_minor == 100_000
    again = client.post(f"/api/v1/agreements/{agreement.id}/approve", headers=sup, json={"note": "changed mind"})
    assert again.status_code == 409


def test_a_waiver_can_be_countered_within_the_callers_limit(client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 50_000)
    too_much = client.post(
        f"/api/v1/agreements/{agreement.id}/counter", headers=sup, json={"waiver": "450.00", "note": "meet halfway"}
    )
    assert too_much.status_code == 422 and too_much.json["error"]["rule_id"] == "cn.waiver_approval_limit"
    response = client.post(
        f"/api/v1/agreements/{agreement.id}/counter", headers=sup, json={"waiver": "300.00", "note": "we can do 300"}
    )
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["counter_waiver"]) == ("countered", "300.00")


def test_a_counter_offer_must_waive_less_than_was_asked(client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    response = client.post(
        f"/api/v1/agreements/{agreement.id}/counter", headers=sup, json={"waiver": "300.00", "note": "same"}
    )
    assert response.status_code == 422 and "waiver" in response.json["error"]["fields"]


def test_payments_are_not_allocated_to_an_agreement_pending_approval(app, db, client, make, team, admin):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    pay(client, admin, "PEND-1", "100.00", case)
    with app.app_context():
        assert db.session.get(RepaymentAgreement, agreement.id).instalments[0].paid_minor == 0
        assert db.session.get(Case, case.id).outstanding_minor == 90_000


# ---------------------------------------------------------------- supervisors evaluate


def test_a_supervisor_evaluates_their_own_teams_agreements_only(app, db, client, make, team, sup):
    other = make.team(code="SH-B")
    mine = agreement_with(make, make.case(team=team, stage="agreement"), [10000], TODAY - timedelta(days=30))
    theirs = agreement_with(make, make.case(team=other, stage="agreement"), [10000], TODAY - timedelta(days=30))
    response = client.post("/api/v1/agreements/evaluate", headers=sup, json={"date": TODAY.isoformat()})
    assert response.status_code == 200, response.json
    assert response.json["broken"] == 1 and response.json["teams"] == ["SH-A"]
    with app.app_context():
        assert db.session.get(RepaymentAgreement, mine.id).status == "broken"
        assert db.session.get(RepaymentAgreement, theirs.id).status == "active"
    refused = client.post("/api/v1/agreements/evaluate", headers=sup, json={"teams": ["SH-B"]})
    assert refused.status_code == 422 and "teams" in refused.json["error"]["fields"]


# ---------------------------------------------------------------- the phone hears the answer


def _ask_waiver(client, day, waiver="3000.00", total="5000.00"):
    from tests.api.test_field import ACK, PROMISE_DAY, check_in, visit

    check_in(client, day, day.tasks[0])
    response = visit(
        client,
        day,
        day.tasks[0],
        {
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "agreement": {
                "kind": "promise",
                "total": total,
                "waiver": waiver,
                "due_date": PROMISE_DAY,
                "acknowledgement": ACK,
            },
        },
    )
    assert "agreement" in response.json, response.json
    assert response.json["agreement"]["status"] == "pending_approval", response.json
    return response.json["agreement"]["id"]


def test_the_agent_reads_a_refused_waiver_and_its_reason_on_the_route(client, day):
    agreement_id = _ask_waiver(client, day)
    client.post(f"/api/v1/agreements/{agreement_id}/reject", headers=day.sup, json={"reason": "no payslips"})
    stop = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json["stops"][0]
    assert stop["history"]["waiver_answer"] == {
        "agreement_id": agreement_id,
        "status": "rejected",
        "note": "no payslips",
        "counter_waiver": None,
    }


def test_the_agent_reads_a_counter_offer_on_the_route(client, day):
    agreement_id = _ask_waiver(client, day)
    client.post(
        f"/api/v1/agreements/{agreement_id}/counter", headers=day.sup, json={"waiver": "1500.00", "note": "half of it"}
    )
    route = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json
    answer = route["stops"][0]["history"]["waiver_answer"]
    assert (answer["status"], answer["counter_waiver"], answer["note"]) == ("countered", "1500.00", "half of it")
    assert route["currency_digits"] == {"CNY": 2}


@pytest.mark.parametrize("status", ["active", "kept", "broken", "cancelled", "rejected", "countered"])
@pytest.mark.parametrize(
    "decision,body",
    [("approve", {"note": "ok"}), ("reject", {"reason": "no"}), ("counter", {"waiver": "0.01", "note": "x"})],
)
def test_only_an_agreement_pending_approval_can_be_decided(client, make, team, sup, status, decision, body):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    from app.models import RepaymentAgreement as Agreement

    with make.app.app_context():
        make.db.session.get(Agreement, agreement.id).status = status
        make.db.session.commit()
    response = client.post(f"/api/v1/agreements/{agreement.id}/{decision}", headers=sup, json=body)
    assert response.status_code == 409 and "status" in response.json["error"]["fields"]


def test_a_refused_waiver_sends_the_case_back_to_the_door(app, db, client, make, team, sup):
    case = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement = pending(make, case, 30_000)
    client.post(f"/api/v1/agreements/{agreement.id}/reject", headers=sup, json={"reason": "no"})
    assert case_row(app, db, case.id).stage == "field_visit"


# ---------------------------------------------------------------- the decision closes the flag


@pytest.mark.parametrize(
    "decision,body",
    [
        ("approve", {"note": "payslips seen"}),
        ("reject", {"reason": "no payslips"}),
        ("counter", {"waiver": "1000.00", "note": "a third of it"}),
    ],
)
def test_deciding_a_waiver_closes_the_flag_that_asked_for_it_with_the_decision(app, db, client, day, decision, body):
    from app.models import ConductFlag

    agreement_id = _ask_waiver(client, day)
    open_flags = client.get("/api/v1/conduct/flags?status=open&kind=waiver_above_limit", headers=day.sup).json
    assert [f["details"]["agreement_id"] for f in open_flags["items"]] == [agreement_id]
    response = client.post(f"/api/v1/agreements/{agreement_id}/{decision}", headers=day.sup, json=body)
    assert response.status_code == 200, response.json
    assert client.get("/api/v1/conduct/flags?status=open&kind=waiver_above_limit", headers=day.sup).json["items"] == []
    with app.app_context():
        flag = db.session.scalars(sa.select(ConductFlag).where(ConductFlag.kind == "waiver_above_limit")).one()
        assert flag.status == "resolved" and flag.reviewed_by_id is not None
        assert flag.review_notes.startswith(
            {"approve": "waiver approved", "reject": "waiver rejected", "counter": "waiver countered"}[decision]
        )
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "conduct_flag.reviewed")).one()
        assert event.entity_id == str(flag.id)


def test_a_refused_decision_leaves_the_flag_open(client, day, make):
    agreement_id = _ask_waiver(client, day, waiver="4000.00", total="4000.00")  # 50 %: above a supervisor's 40 %
    response = client.post(f"/api/v1/agreements/{agreement_id}/approve", headers=day.sup, json={"note": "ok"})
    assert response.status_code in (403, 409, 422), response.json
    assert (
        len(client.get("/api/v1/conduct/flags?status=open&kind=waiver_above_limit", headers=day.sup).json["items"]) == 1
    )
