"""One money rule for every amount the service takes: digits, an optional point and at
most the currency's minor digits; no exponent, no sign, a bound. Anything else is a 422
naming the field and nothing is written (an exponent such as 1e999999 was a 500 on
every route that takes money). Currencies are the ISO 4217 codes in use, from CLDR."""

import pytest

from app.models import Case, Payment, RepaymentAgreement
from tests.api.test_field import ACK, PROMISE_DAY, check_in, visit

BAD_AMOUNTS = [
    "1e999999",
    "1E3",
    "-5.00",
    "+5.00",
    " 5",
    "5.",
    ".5",
    "0x10",
    "NaN",
    "Infinity",
    "1_000",
    "1000000000000000",
    "12.3456",
    "",
    1e308,
    12.5,
    True,
    None,
    [],
    {},
]


@pytest.fixture()
def admin(make):
    return make.token(make.user("admin"))


def _case_body(**amounts):
    return {
        "loan_ref": "MONEY-1",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "1000.00",
        "outstanding": "900.00",
        "days_past_due": 40,
        "team": "MONEY-T",
        "debtor": {"name": "Li Lei", "address": "1 Road", "lat": 31.2, "lon": 121.4},
        **amounts,
    }


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_payment_amount_that_is_not_plain_digits_is_refused_naming_it(client, make, admin, rows, amount):
    case = make.case()
    response = client.post(
        "/api/v1/payments",
        headers=admin,
        json={
            "reference": "BAD-1",
            "loan_ref": case.loan_ref,
            "amount": amount,
            "currency": "CNY",
            "paid_at": "2026-11-20T10:00:00+08:00",
        },
    )
    assert response.status_code == 422, response.json
    assert "amount" in response.json["error"]["fields"]
    assert rows(Payment) == 0


@pytest.mark.parametrize("field", ["principal", "outstanding"])
@pytest.mark.parametrize("amount", ["1e999999", "-1.00", "1.001", "99999999999999999999"])
def test_a_new_cases_amounts_are_read_by_the_money_rule(client, make, admin, rows, field, amount):
    make.team(code="MONEY-T")
    before = rows(Case)
    response = client.post("/api/v1/cases", headers=admin, json=_case_body(**{field: amount}))
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert rows(Case) == before


@pytest.mark.parametrize("field", ["principal", "outstanding"])
@pytest.mark.parametrize("amount", ["1e999999", "-1.00", "1.001"])
def test_a_cases_amounts_cannot_be_changed_to_something_that_is_not_money(client, make, admin, app, db, field, amount):
    case = make.case()
    response = client.patch(f"/api/v1/cases/{case.id}", headers=admin, json={field: amount})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    with app.app_context():
        assert db.session.get(Case, case.id).outstanding_minor == 800_000


@pytest.mark.parametrize("field", ["total", "waiver"])
@pytest.mark.parametrize("amount", ["1e999999", "-1.00", "1.001"])
def test_an_agreement_at_the_door_reads_its_total_and_waiver_by_the_money_rule(client, day, field, amount):
    check_in(client, day, day.tasks[0])
    agreement = {"kind": "promise", "total": "100.00", "due_date": PROMISE_DAY, "acknowledgement": ACK, field: amount}
    response = visit(
        client, day, day.tasks[0], {"outcome": "promise_to_pay", "person_met": "debtor", "agreement": agreement}
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]["agreement"]
    assert day.count(RepaymentAgreement) == 0


def test_an_agreement_sent_offline_with_an_exponent_is_that_elements_problem(client, day):
    check_in(client, day, day.tasks[0])
    response = day.sync(
        client,
        [
            {
                "type": "visit",
                "task_id": day.tasks[0].id,
                "client_event_id": "money-sync-1",
                "outcome": "promise_to_pay",
                "person_met": "debtor",
                "agreement": {"kind": "promise", "total": "1e999999", "due_date": PROMISE_DAY, "acknowledgement": ACK},
            }
        ],
    )
    assert response.status_code == 200, response.json
    result = response.json["results"][0]
    assert result["status"] == "rejected" and result["http_status"] == 422
    assert "total" in result["error"]["fields"]["agreement"]
    assert day.count(RepaymentAgreement) == 0


@pytest.mark.parametrize(
    "currency,good,bad",
    [
        ("KWD", "10.125", "10.1255"),
        ("VND", "250000", "250000.5"),
        ("ISK", "1500", "1500.50"),
        ("CLP", "9990", "9990.5"),
        ("JPY", "1200", "1200.5"),
        ("BHD", "1.500", "1.5005"),
    ],
)
def test_each_currency_takes_as_many_decimals_as_cldr_gives_it(client, make, admin, currency, good, bad):
    make.team(code="MONEY-T")
    ok = client.post(
        "/api/v1/cases", headers=admin, json=_case_body(currency=currency, principal=good, outstanding=good)
    )
    assert ok.status_code == 201, ok.json
    assert ok.json["outstanding"] == good
    refused = client.post(
        "/api/v1/cases",
        headers=admin,
        json=_case_body(loan_ref="MONEY-2", currency=currency, principal=good, outstanding=bad),
    )
    assert refused.status_code == 422 and "outstanding" in refused.json["error"]["fields"]


@pytest.mark.parametrize("currency", ["XYZ", "cny", "DEM", "ZWL", "CN", ""])
def test_a_currency_that_is_not_an_active_iso_4217_code_is_refused(client, make, admin, rows, currency):
    make.team(code="MONEY-T")
    before = rows(Case)
    response = client.post("/api/v1/cases", headers=admin, json=_case_body(currency=currency))
    assert response.status_code == 422 and "currency" in response.json["error"]["fields"]
    assert rows(Case) == before


def test_a_csv_row_with_an_exponent_or_an_unknown_currency_is_reported_by_column(client, make, admin, rows):
    make.team(code="MONEY-T")
    before = rows(Case)
    csv = (
        b"loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon,team\n"
        b"CSV-1,cash_loan,CNY,1e999999,90.00,31,Wang Fang,2 Road,31.2,121.4,MONEY-T\n"
        b"CSV-2,cash_loan,XYZ,100.00,90.00,31,Wang Fang,2 Road,31.2,121.4,MONEY-T\n"
        b"CSV-3,cash_loan,KWD,100.000,90.0001,31,Wang Fang,2 Road,31.2,121.4,MONEY-T\n"
    )
    response = client.post(
        "/api/v1/cases/import?mode=valid_rows", headers={**admin, "Content-Type": "text/csv"}, data=csv
    )
    assert response.status_code == 200, response.json
    problems = {(p["row"], p["column"]) for p in response.json["problems"]}
    assert problems == {(2, "principal"), (3, "currency"), (4, "outstanding")}
    assert rows(Case) == before
