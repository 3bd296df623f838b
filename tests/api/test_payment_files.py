"""Payment files from the servicing system (CSV and JSON batches) and the daily
reconciliation report, whose totals tie back to the ledger."""

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.models import Case, LedgerEntry, Payment, UnmatchedPayment
from tests.api.test_payments_and_conduct import agreement_with
from tests.conftest import TEST_NOW

TODAY = TEST_NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
HEADER = "reference,loan_ref,amount,currency,paid_at\n"


@pytest.fixture()
def team(make):
    return make.team(code="PF-A", region=make.region(code="PF"))


@pytest.fixture()
def admin(make):
    return make.token(make.user("admin"))


def send_csv(client, headers, text, **query):
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(
        f"/api/v1/payments/import?{params}", headers={**headers, "Content-Type": "text/csv"}, data=text.encode()
    )


def line(reference, loan_ref, amount, currency="CNY"):
    return f"{reference},{loan_ref},{amount},{currency},2026-11-20T10:00:00+08:00\n"


def test_a_payment_file_posts_each_payment_like_a_single_request(app, db, client, make, team, admin):
    first = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    second = make.case(team=team, outstanding_minor=5_000)
    agreement_with(make, first, [30000, 30000], TODAY)
    response = send_csv(
        client,
        admin,
        HEADER
        + line("F-1", first.loan_ref, "450.00")
        + line("F-2", second.loan_ref, "80.00")
        + line("F-3", "NO-SUCH-LOAN", "12.00"),
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["unmatched"], body["duplicate"], body["rejected"]) == (2, 1, 0, 0)
    assert [(r["row"], r["status"]) for r in body["results"]] == [(2, "created"), (3, "created"), (4, "unmatched")]
    with app.app_context():
        assert db.session.get(Case, first.id).outstanding_minor == 55_000
        stored = db.session.get(Case, second.id)
        assert (stored.outstanding_minor, stored.credit_minor, stored.stage) == (0, 3_000, "resolved")
        kinds = db.session.scalars(
            sa.select(LedgerEntry.kind).where(LedgerEntry.case_id == first.id).order_by(LedgerEntry.id)
        ).all()
        assert kinds == ["principal", "payment", "allocation", "allocation"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UnmatchedPayment)) == 1


def test_sending_the_same_file_again_records_nothing_more(client, make, team, admin, rows):
    case = make.case(team=team)
    text = HEADER + line("AG-1", case.loan_ref, "10.00") + line("AG-2", "NOBODY", "5.00")
    assert send_csv(client, admin, text).json["created"] == 1
    again = send_csv(client, admin, text).json
    assert (again["created"], again["duplicate"], again["unmatched"]) == (0, 2, 0)
    assert rows(Payment) == 1 and rows(UnmatchedPayment) == 1


def test_all_or_nothing_refuses_the_file_naming_each_bad_row(client, make, team, admin, rows):
    case = make.case(team=team)
    text = (
        HEADER
        + line("AN-1", case.loan_ref, "10.00")
        + line("AN-2", case.loan_ref, "1e999999")
        + line("AN-3", case.loan_ref, "10.001")
        + line("AN-4", case.loan_ref, "5.00", "USD")
    )
    response = send_csv(client, admin, text)
    assert response.status_code == 422
    problems = {(p["row"], p["column"]) for p in response.json["error"]["details"]["problems"]}
    assert problems == {(3, "amount"), (4, "amount"), (5, "currency")}
    assert rows(Payment) == 0 and rows(LedgerEntry) == 0


def test_valid_rows_records_the_good_ones_and_reports_the_rest(client, make, team, admin, rows):
    case = make.case(team=team)
    text = HEADER + line("VR-1", case.loan_ref, "10.00") + line("VR-2", case.loan_ref, "-3.00")
    response = send_csv(client, admin, text, mode="valid_rows")
    assert response.status_code == 200
    assert (response.json["created"], response.json["rejected"]) == (1, 1)
    assert response.json["problems"] == [{"row": 3, "column": "amount", "message": "must not be negative"}]
    assert rows(Payment) == 1


def test_a_reference_reused_with_other_details_is_a_problem(client, make, team, admin):
    case = make.case(team=team)
    send_csv(client, admin, HEADER + line("RU-1", case.loan_ref, "10.00"))
    response = send_csv(client, admin, HEADER + line("RU-1", case.loan_ref, "11.00"), mode="valid_rows")
    assert response.json["problems"] == [
        {"row": 2, "column": "reference", "message": "already recorded with other details"}
    ]


def test_a_json_batch_answers_each_element(client, make, team, admin):
    case = make.case(team=team)
    response = client.post(
        "/api/v1/payments/import?mode=valid_rows",
        headers=admin,
        json={
            "payments": [
                {
                    "reference": "J-1",
                    "loan_ref": case.loan_ref,
                    "amount": "10.00",
                    "currency": "CNY",
                    "paid_at": "2026-11-20T10:00:00+08:00",
                },
                "not a payment",
                {
                    "reference": "J-3",
                    "loan_ref": case.loan_ref,
                    "amount": "1e999999",
                    "currency": "CNY",
                    "paid_at": "2026-11-20T10:00:00+08:00",
                },
            ]
        },
    )
    assert response.status_code == 200, response.json
    assert (response.json["created"], response.json["rejected"]) == (1, 2)
    assert {(p["row"], p["column"]) for p in response.json["problems"]} == {(2, None), (3, "amount")}


def test_an_empty_payment_file_is_refused_naming_the_file_and_records_nothing(client, admin, rows):
    response = send_csv(client, admin, "")
    assert response.status_code == 422
    assert "file" in response.json["error"]["fields"]
    assert rows(Payment) == 0 and rows(UnmatchedPayment) == 0


def test_only_the_integration_admin_sends_payment_files(client, make, team):
    sup = make.token(make.user("supervisor", team=team))
    assert send_csv(client, sup, HEADER).status_code == 403


# ---------------------------------------------------------------- the day's reconciliation


def ledger_sum(app, db, kind, team_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_minor), 0))
            .join(Case, Case.id == LedgerEntry.case_id)
            .where(LedgerEntry.kind == kind, Case.team_id == team_id)
        )


def test_the_days_reconciliation_ties_back_to_the_ledger(app, db, client, make, team, admin):
    instalments = make.case(team=team, stage="agreement", outstanding_minor=100_000)
    agreement_with(make, instalments, [30000, 30000], TODAY)
    plain = make.case(team=team, outstanding_minor=50_000)
    over = make.case(team=team, outstanding_minor=5_000)
    send_csv(
        client,
        admin,
        HEADER
        + line("R-1", instalments.loan_ref, "450.00")
        + line("R-2", plain.loan_ref, "100.00")
        + line("R-3", over.loan_ref, "80.00")
        + line("R-4", "UNKNOWN-9", "7.00"),
    )
    client.post(f"/api/v1/cases/{over.id}/refunds", headers=admin, json={"amount": "10.00", "note": "card"})
    report = client.get(f"/api/v1/reports/reconciliation?date={TODAY.isoformat()}", headers=admin)
    assert report.status_code == 200, report.json
    (line_,) = [t for t in report.json["teams"] if t["team"] == "PF-A"]
    assert line_ == {
        "team": "PF-A",
        "currency": "CNY",
        "payments": 3,
        "received": "630.00",
        "allocated": "450.00",
        "left_on_cases": "150.00",
        "credits": "30.00",
        "refunds": "10.00",
    }
    # Tied back to the ledger, summed here independently.
    assert ledger_sum(app, db, "payment", team.id) == 63_000
    assert ledger_sum(app, db, "allocation", team.id) == 45_000
    assert ledger_sum(app, db, "credit", team.id) == 3_000
    assert ledger_sum(app, db, "refund", team.id) == 1_000
    assert [u["reference"] for u in report.json["unmatched"]] == ["R-4"]
    as_csv = client.get(f"/api/v1/reports/reconciliation?date={TODAY.isoformat()}&format=csv", headers=admin)
    rows_ = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert rows_[0]["received"] == "630.00" and rows_[-1]["reference"] == "R-4"
    later = client.get(
        f"/api/v1/reports/reconciliation?date={(TODAY + timedelta(days=1)).isoformat()}", headers=admin
    ).json
    assert later["teams"] == [] and later["unmatched"] == []


def test_a_supervisor_reconciles_their_own_teams_only(client, make, team, admin):
    other = make.team(code="PF-B")
    send_csv(
        client,
        admin,
        HEADER
        + line("S-1", make.case(team=team).loan_ref, "1.00")
        + line("S-2", make.case(team=other).loan_ref, "2.00"),
    )
    sup = make.token(make.user("supervisor", team=team))
    report = client.get(f"/api/v1/reports/reconciliation?date={TODAY.isoformat()}", headers=sup).json
    assert [t["team"] for t in report["teams"]] == ["PF-A"] and report["unmatched"] == []
    refused = client.get(f"/api/v1/reports/reconciliation?date={TODAY.isoformat()}&team=PF-B", headers=sup)
    assert refused.status_code == 422 and "team" in refused.json["error"]["fields"]
