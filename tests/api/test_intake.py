"""Collectors, crews, training records, debtors, cases and contact attempts."""

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, AuditPersonalValue, Case, Debtor


@pytest.fixture()
def team(make):
    return make.team(code="TEAM-A", region=make.region(code="RA"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def new_case(client, headers, loan_ref="L-1", **overrides):
    body = {
        "loan_ref": loan_ref,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "12000.50",
        "outstanding": "9876.54",
        "days_past_due": 45,
        "team": "TEAM-A",
        "debtor": {
            "name": "张伟",
            "phone": "13812345678",
            "national_id": "310101199001011234",
            "address": "上海市黄浦区南京东路1号",
            "lat": 31.2317,
            "lon": 121.4846,
        },
    }
    body.update(overrides)
    return client.post("/api/v1/cases", json=body, headers=headers)


def test_a_case_keeps_money_exactly_and_answers_it_as_decimal_strings(app, db, client, sup):
    response = new_case(client, sup)
    assert response.status_code == 201
    assert response.json["principal"] == "12000.50"
    assert response.json["outstanding"] == "9876.54"
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
        assert (case.principal_minor, case.outstanding_minor) == (1200050, 987654)


def test_a_new_debtors_time_zone_comes_from_their_coordinates(client, sup):
    response = new_case(client, sup, debtor={"name": "Sam", "address": "5th Ave", "lat": 40.7128, "lon": -74.006})
    assert response.json["debtor"]["timezone"] == "America/New_York"


def test_the_supervisor_sees_the_whole_phone_but_a_masked_national_id(client, sup):
    debtor = new_case(client, sup).json["debtor"]
    assert debtor["phone"] == "13812345678"
    assert debtor["national_id"] == "**************1234"


def test_the_auditor_sees_phone_and_national_id_masked(client, make, sup):
    case_id = new_case(client, sup).json["id"]
    auditor = make.token(make.user("auditor"))
    debtor = client.get(f"/api/v1/cases/{case_id}", headers=auditor).json["debtor"]
    assert debtor["phone"] == "138****5678"
    assert debtor["national_id"].endswith("1234") and "310101" not in debtor["national_id"]


def test_the_admin_sees_the_whole_national_id(client, make, sup):
    case_id = new_case(client, sup).json["id"]
    admin = make.token(make.user("admin"))
    assert client.get(f"/api/v1/cases/{case_id}", headers=admin).json["debtor"]["national_id"] == "310101199001011234"


def test_a_duplicate_loan_ref_is_refused_by_name(client, sup):
    assert new_case(client, sup).status_code == 201
    response = new_case(client, sup)
    assert response.status_code == 422
    assert "loan_ref" in response.json["error"]["fields"]


def test_a_second_loan_of_a_known_debtor_refers_to_them_by_id(client, sup, rows):
    first = new_case(client, sup).json
    body = {
        "loan_ref": "L-2",
        "product": "credit_card",
        "currency": "CNY",
        "principal": "500",
        "outstanding": "500",
        "days_past_due": 31,
        "team": "TEAM-A",
        "debtor_id": first["debtor"]["id"],
    }
    response = client.post("/api/v1/cases", json=body, headers=sup)
    assert response.status_code == 201
    assert response.json["debtor"]["id"] == first["debtor"]["id"]
    assert rows(Debtor) == 1


def test_a_supervisor_cannot_open_a_case_in_another_team(client, make, sup):
    make.team(code="TEAM-B")
    response = new_case(client, sup, team="TEAM-B")
    assert response.status_code == 422
    assert "team" in response.json["error"]["fields"]


def test_a_case_moves_only_along_its_lifecycle(client, sup):
    case_id = new_case(client, sup).json["id"]
    assert client.patch(f"/api/v1/cases/{case_id}", json={"stage": "remote_contact"}, headers=sup).status_code == 200
    assert client.patch(f"/api/v1/cases/{case_id}", json={"stage": "closed"}, headers=sup).status_code == 200
    response = client.patch(f"/api/v1/cases/{case_id}", json={"stage": "field_visit"}, headers=sup)
    assert response.status_code == 409
    assert "stage" in response.json["error"]["fields"]


def test_debtor_flags_are_merged_not_replaced(client, sup):
    debtor_id = new_case(client, sup).json["debtor"]["id"]
    client.patch(f"/api/v1/debtors/{debtor_id}", json={"flags": {"cease": True}}, headers=sup)
    response = client.patch(f"/api/v1/debtors/{debtor_id}", json={"flags": {"dispute": True}}, headers=sup)
    assert response.json["flags"] == {"cease": True, "dispute": True}


def test_a_contact_attempt_moves_a_notice_case_to_remote_contact(client, sup):
    case_id = new_case(client, sup, stage="notice").json["id"]
    response = client.post(
        f"/api/v1/cases/{case_id}/contact-attempts",
        headers=sup,
        json={"channel": "call", "result": "no_answer", "occurred_at": "2026-06-01T10:00:00+08:00"},
    )
    assert response.status_code == 201
    assert response.json["occurred_at"] == "2026-06-01T02:00:00+00:00"
    assert client.get(f"/api/v1/cases/{case_id}", headers=sup).json["stage"] == "remote_contact"
    listed = client.get(f"/api/v1/cases/{case_id}/contact-attempts", headers=sup).json["items"]
    assert [a["channel"] for a in listed] == ["call"]


def test_a_visit_notice_must_name_the_visit_date(client, sup):
    case_id = new_case(client, sup).json["id"]
    response = client.post(
        f"/api/v1/cases/{case_id}/contact-attempts",
        headers=sup,
        json={
            "channel": "letter",
            "purpose": "visit_notice",
            "result": "delivered",
            "occurred_at": "2026-11-20T10:00:00+08:00",
        },
    )
    assert response.status_code == 422
    assert "planned_visit_date" in response.json["error"]["fields"]


def test_collectors_crews_and_trainings_are_registered(client, sup):
    for code in ("C-1", "C-2"):
        response = client.post(
            "/api/v1/collectors",
            headers=sup,
            json={
                "code": code,
                "name": f"Collector {code}",
                "team": "TEAM-A",
                "home": {"lat": 31.2, "lon": 121.45},
                "languages": ["zh", "wuu"],
                "shift_start": "09:00",
                "shift_end": "18:00",
                "daily_capacity": 8,
            },
        )
        assert response.status_code == 201, response.json
    collector = response.json
    assert collector["home"] == {"lat": 31.2, "lon": 121.45} and collector["shift_end"] == "18:00"
    crew = client.post("/api/v1/crews", headers=sup, json={"code": "K-1", "team": "TEAM-A", "members": ["C-1", "C-2"]})
    assert crew.status_code == 201
    assert [m["code"] for m in crew.json["members"]] == ["C-1", "C-2"]
    again = client.post("/api/v1/crews", headers=sup, json={"code": "K-2", "team": "TEAM-A", "members": ["C-1"]})
    assert again.status_code == 422 and "members" in again.json["error"]["fields"]
    training = client.post(
        f"/api/v1/collectors/{collector['id']}/trainings",
        headers=sup,
        json={
            "module": "law_compliance",
            "passed_at": "2026-03-01",
            "expires_at": "2027-03-01",
            "certificate_ref": "N-1",
        },
    )
    assert training.status_code == 201
    listed = client.get(f"/api/v1/collectors/{collector['id']}/trainings", headers=sup).json["items"]
    assert [(t["module"], t["expires_at"]) for t in listed] == [("law_compliance", "2027-03-01")]


def test_each_change_writes_an_audit_event_with_personal_data_masked(app, db, client, sup):
    case_id = new_case(client, sup).json["id"]
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.action for e in events] == ["debtor.created", "case.created"]
        assert events[1].entity_id == str(case_id) and events[1].actor_role == "supervisor"
        # The hashed changes hold no personal value, not even masked; the masked values are kept beside.
        assert "5678" not in events[0].changes and "1234" not in events[0].changes
        beside = db.session.get(AuditPersonalValue, events[0].seq).values
        assert "13812345678" not in beside and "138****5678" in beside
        assert "310101199001011234" not in beside and "**************1234" in beside


def test_case_list_pages_by_keyset_and_filters(client, sup, make):
    for n in range(5):
        new_case(
            client,
            sup,
            loan_ref=f"P-{n}",
            days_past_due=30 + n,
            debtor={"name": f"D{n}", "address": "x", "lat": 31.2, "lon": 121.4},
        )
    first = client.get("/api/v1/cases?limit=2", headers=sup).json
    second = client.get(f"/api/v1/cases?limit=2&after={first['next_after']}", headers=sup).json
    third = client.get(f"/api/v1/cases?limit=2&after={second['next_after']}", headers=sup).json
    refs = [c["loan_ref"] for page in (first, second, third) for c in page["items"]]
    assert refs == [f"P-{n}" for n in range(5)] and third["next_after"] is None
    filtered = client.get("/api/v1/cases?min_days_past_due=33", headers=sup).json["items"]
    assert [c["loan_ref"] for c in filtered] == ["P-3", "P-4"]


def test_an_empty_list_is_an_empty_page_not_a_404(client, sup):
    response = client.get("/api/v1/cases", headers=sup)
    assert response.status_code == 200
    assert response.json == {"items": [], "next_after": None}


def test_listing_cases_costs_the_same_queries_for_5_or_50(client, sup, make, query_counter, team):
    def count_for_listing():
        with query_counter() as n:
            assert client.get("/api/v1/cases?limit=100", headers=sup).status_code == 200
        return n()

    for _ in range(5):
        make.case(team=team)
    few = count_for_listing()
    for _ in range(45):
        make.case(team=team)
    assert count_for_listing() == few


def test_listing_collectors_and_crews_has_no_n_plus_one(client, sup, make, query_counter, team):
    def count(path):
        with query_counter() as n:
            assert client.get(path, headers=sup).status_code == 200
        return n()

    make.crew(team=team)
    few = (count("/api/v1/collectors"), count("/api/v1/crews"))
    for _ in range(10):
        make.crew(team=team)
    assert (count("/api/v1/collectors"), count("/api/v1/crews")) == few
