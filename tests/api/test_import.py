"""Bulk CSV import of cases as a loan system exports them."""

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Case, Debtor

HEADER = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,phone,national_id,address,lat,lon\n"
GOOD = [
    "LN-1,cash_loan,CNY,1000.00,900.50,45,王芳,13800000001,310101199001010011,上海市徐汇区1号,31.19,121.44\n",
    "LN-2,cash_loan,CNY,2000,2000,61,李强,13800000002,310101199001010022,上海市长宁区2号,31.22,121.42\n",
    "LN-3,credit_card,CNY,300.1,10,31,王芳,13800000001,310101199001010011,上海市徐汇区1号,31.19,121.44\n",
]


@pytest.fixture()
def sup(make):
    team = make.team(code="TEAM-A", region=make.region(code="RA"))
    make.team(code="TEAM-B")
    return make.token(make.user("supervisor", team=team))


def upload(client, headers, text, query="team=TEAM-A"):
    return client.post(
        f"/api/v1/cases/import?{query}", data=text.encode("utf-8"), headers={**headers, "Content-Type": "text/csv"}
    )


def test_a_clean_file_creates_every_case_and_shares_debtors_by_national_id(app, db, client, sup, rows):
    response = upload(client, sup, HEADER + "".join(GOOD))
    assert response.status_code == 200, response.json
    assert response.json | {"problems": []} == response.json
    assert (response.json["created"], response.json["committed"]) == (3, True)
    assert rows(Case) == 3 and rows(Debtor) == 2
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.loan_ref == "LN-1")).one()
        assert case.outstanding_minor == 90050 and case.stage == "notice"
        assert case.debtor.timezone == "Asia/Shanghai"


def test_reimporting_the_same_file_changes_nothing(app, db, client, sup, rows):
    upload(client, sup, HEADER + "".join(GOOD))
    with app.app_context():
        before = [
            (c.loan_ref, c.outstanding_minor, c.updated_at)
            for c in db.session.scalars(sa.select(Case).order_by(Case.id))
        ]
    again = upload(client, sup, HEADER + "".join(GOOD)).json
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    with app.app_context():
        after = [
            (c.loan_ref, c.outstanding_minor, c.updated_at)
            for c in db.session.scalars(sa.select(Case).order_by(Case.id))
        ]
    assert after == before and rows(Debtor) == 2


def test_a_newer_export_updates_the_amounts_of_known_loans(app, db, client, sup):
    upload(client, sup, HEADER + "".join(GOOD))
    newer = GOOD[0].replace("900.50,45", "700.00,75")
    report = upload(client, sup, HEADER + newer).json
    assert (report["created"], report["updated"]) == (0, 1)
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.loan_ref == "LN-1")).one()
        assert (case.outstanding_minor, case.days_past_due) == (70000, 75)
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "case.updated_by_import")).one()
        assert '"outstanding_minor":90050' in event.changes and '"outstanding_minor":70000' in event.changes


BAD_ROWS = (
    HEADER
    + GOOD[0]
    + (
        "LN-4,cash_loan,CNY,-5,10,31,赵六,,,地址,31.2,121.4\n"  # row 3: negative money
        "LN-5,cash_loan,CNY,10,10,31,钱七,,,地址,95,121.4\n"  # row 4: latitude out of range
        "LN-6,cash_loan,CNY,10.001,10,thirty,孙八,,,地址,31.2,121.4\n"  # row 5: 3 decimals, dpd not a number
        "LN-1,cash_loan,CNY,10,10,31,周九,,,地址,31.2,121.4\n"  # row 6: repeats row 2's loan ref
    )
)


def test_a_file_with_bad_rows_is_refused_whole_with_a_report_of_each_problem(client, sup, rows):
    response = upload(client, sup, BAD_ROWS)
    assert response.status_code == 422
    problems = [(p["row"], p["column"]) for p in response.json["error"]["details"]["problems"]]
    assert problems == [(3, "principal"), (4, "lat"), (5, "days_past_due"), (6, "loan_ref")]
    assert rows(Case) == 0 and rows(Debtor) == 0 and rows(AuditEvent) == 0


def test_valid_rows_mode_imports_the_good_rows_and_reports_the_rest(client, sup, rows):
    report = upload(client, sup, BAD_ROWS, "team=TEAM-A&mode=valid_rows").json
    assert (report["created"], report["rejected"], report["committed"]) == (1, 4, True)
    assert rows(Case) == 1


def test_money_with_more_decimals_than_the_currency_has_is_reported(client, sup):
    text = HEADER + GOOD[0].replace("1000.00", "1000.001")
    problems = upload(client, sup, text).json["error"]["details"]["problems"]
    assert problems == [{"row": 2, "column": "principal", "message": "CNY has at most 2 decimal places"}]


def test_a_dry_run_reports_without_writing(client, sup, rows):
    report = upload(client, sup, HEADER + "".join(GOOD), "team=TEAM-A&dry_run=true").json
    assert (report["created"], report["committed"], report["dry_run"]) == (3, False, True)
    assert rows(Case) == 0


def test_a_supervisor_cannot_import_into_another_team(client, sup, rows):
    response = upload(client, sup, HEADER + GOOD[0], "team=TEAM-B")
    assert response.status_code == 422
    assert response.json["error"]["details"]["problems"][0]["column"] == "team"
    assert rows(Case) == 0


def test_missing_columns_are_named(client, sup):
    response = upload(client, sup, "loan_ref,product\nX,cash_loan\n")
    assert response.status_code == 422
    assert "missing column: currency" in response.json["error"]["fields"]["file"]


def test_extra_columns_are_ignored_and_listed(client, sup):
    text = HEADER.replace("\n", ",branch\n") + GOOD[0].replace("\n", ",Xuhui\n")
    report = upload(client, sup, text).json
    assert report["created"] == 1 and report["ignored_columns"] == ["branch"]


def test_a_file_sent_as_a_form_upload_is_accepted(client, sup):
    import io

    data = {"file": (io.BytesIO((HEADER + GOOD[0]).encode()), "cases.csv")}
    response = client.post(
        "/api/v1/cases/import?team=TEAM-A", data=data, headers=sup, content_type="multipart/form-data"
    )
    assert response.status_code == 200 and response.json["created"] == 1


def test_a_cell_with_a_nul_character_is_a_problem_of_its_row_and_nothing_is_written(client, sup, rows):
    # Was stored as is on SQLite and a 500 (DataError) on PostgreSQL.
    response = upload(client, sup, HEADER + GOOD[0] + GOOD[1].replace("李强", "李\x00强"))
    assert response.status_code == 422
    assert {"row": 3, "column": "debtor_name", "message": "contains the NUL character (U+0000)"} in response.json[
        "error"
    ]["details"]["problems"]
    assert rows(Case) == 0 and rows(Debtor) == 0


# ---------------------------------------------------------------- one rule for a file and a request

ONE_ROW = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon,phone,{column}\n"
ROW_VALUES = {
    "loan_ref": "LN-9",
    "product": "cash_loan",
    "currency": "CNY",
    "principal": "1000.00",
    "outstanding": "900.00",
    "days_past_due": "40",
    "debtor_name": "Li Lei",
    "address": "1 Road",
    "lat": "31.2",
    "lon": "121.4",
    "phone": "13800000009",
}


def _api_body(column, value):
    body = {
        "loan_ref": "LN-9",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "1000.00",
        "outstanding": "900.00",
        "days_past_due": 40,
        "team": "TEAM-A",
        "debtor": {"name": "Li Lei", "address": "1 Road", "lat": 31.2, "lon": 121.4, "phone": "13800000009"},
    }
    debtor_side = {
        "debtor_name": "name",
        "address": "address",
        "lat": "lat",
        "lon": "lon",
        "phone": "phone",
        "national_id": "national_id",
        "language": "language",
    }
    if column in debtor_side:
        body["debtor"][debtor_side[column]] = value
    else:
        body[column] = value
    return body


@pytest.mark.parametrize(
    ("column", "cell", "json_value"),
    [
        ("phone", "call me", "call me"),
        ("national_id", "12-34", "12-34"),
        ("team", "TEAM A!", "TEAM A!"),  # the API's team code rule, not just a length
        ("stage", "lawsuit", "lawsuit"),
        ("days_past_due", "45.5", 45.5),  # a whole number, as in JSON
        ("days_past_due", "thirty", "thirty"),
        ("priority", "101", 101),
        ("lat", "91", 91),
        ("lon", "1e999", float("inf")),  # a JSON number, but not a finite one
        ("principal", "1.5e3", "1.5e3"),  # the one money field: no exponent
        ("currency", "XYZ", "XYZ"),
        ("loan_ref", "L" * 81, "L" * 81),
    ],
)
def test_a_csv_cell_is_refused_with_the_same_reason_the_api_gives_for_that_field(
    client, make, sup, rows, column, cell, json_value
):
    admin = make.token(make.user("admin"))
    api = client.post("/api/v1/cases", headers=admin, json=_api_body(column, json_value))
    assert api.status_code == 422, api.json
    fields = api.json["error"]["fields"]
    side = "debtor" if column in ("lat", "lon", "phone", "national_id") else None
    api_reason = "; ".join(fields[side][column] if side else fields[column])
    values = {**ROW_VALUES, column: cell}
    header = ONE_ROW.format(column=column) if column not in ROW_VALUES else ONE_ROW.replace(",{column}", "")
    text = header + ",".join(values[c] for c in header.strip().split(",")) + "\n"
    response = upload(client, sup, text)
    assert response.status_code == 422, response.json
    assert response.json["error"]["details"]["problems"] == [{"row": 2, "column": column, "message": api_reason}]
    assert rows(Case) == 0 and rows(Debtor) == 0


def test_a_row_without_a_team_and_no_team_for_the_file_says_how_to_give_one(client, sup, rows):
    response = upload(client, sup, HEADER + GOOD[0], query="")
    assert response.status_code == 422
    assert response.json["error"]["details"]["problems"] == [
        {"row": 2, "column": "team", "message": "required (or give ?team= for the whole file)"}
    ]
    assert rows(Case) == 0
