"""Who set a case's priority: the strategy's nightly score, or an override it leaves alone."""

import sqlalchemy as sa

from app.models import Case

HEADER = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon"


def upload(client, headers, text):
    return client.post(
        "/api/v1/cases/import?team=TEAM-A", data=text.encode("utf-8"), headers={**headers, "Content-Type": "text/csv"}
    )


def sources(app, db):
    with app.app_context():
        return dict(db.session.execute(sa.select(Case.loan_ref, Case.priority_source)).all())


def test_an_imported_priority_is_an_override_and_a_missing_one_is_left_to_the_strategy(app, db, client, make):
    team = make.team(code="TEAM-A")
    sup = make.token(make.user("supervisor", team=team))
    text = (
        f"{HEADER},priority\nP-1,cash_loan,CNY,10.00,10.00,31,Wang,1 Road,31.2,121.4,70\n"
        "P-2,cash_loan,CNY,10.00,10.00,31,Li,2 Road,31.2,121.4,\n"
    )
    assert upload(client, sup, text).json["created"] == 2
    assert sources(app, db) == {"P-1": "import", "P-2": "strategy"}
    # A later file that gives P-2 a priority (even the one it has) takes it over.
    again = upload(client, sup, f"{HEADER},priority\nP-2,cash_loan,CNY,10.00,10.00,31,Li,2 Road,31.2,121.4,0\n")
    assert again.json["updated"] == 1
    assert sources(app, db)["P-2"] == "import"


def test_a_supervisor_sets_a_priority_by_hand_and_hands_it_back_to_the_strategy(app, db, client, make):
    team = make.team(code="TEAM-A")
    sup = make.token(make.user("supervisor", team=team))
    case = make.case(team=team)
    answer = client.patch(f"/api/v1/cases/{case.id}", json={"priority": 90}, headers=sup)
    assert answer.status_code == 200 and (answer.json["priority"], answer.json["priority_source"]) == (90, "manual")
    answer = client.patch(f"/api/v1/cases/{case.id}", json={"priority_source": "strategy"}, headers=sup)
    assert (answer.json["priority"], answer.json["priority_source"]) == (90, "strategy")


def test_a_priority_and_a_hand_back_together_are_refused_naming_the_field(app, db, client, make):
    team = make.team(code="TEAM-A")
    sup = make.token(make.user("supervisor", team=team))
    case = make.case(team=team, priority=40)
    for body in ({"priority": 90, "priority_source": "strategy"}, {"priority_source": "import"}):
        answer = client.patch(f"/api/v1/cases/{case.id}", json=body, headers=sup)
        assert answer.status_code == 422 and "priority_source" in answer.json["error"]["fields"], answer.json
    with app.app_context():
        assert db.session.get(Case, case.id).priority_source == "strategy"


def test_a_case_created_through_the_api_with_a_priority_keeps_it_as_an_override(app, db, client, make):
    team = make.team(code="TEAM-A")
    sup = make.token(make.user("supervisor", team=team))
    body = {
        "loan_ref": "API-1",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "10.00",
        "outstanding": "10.00",
        "days_past_due": 40,
        "team": "TEAM-A",
        "priority": 66,
        "debtor": {"name": "Wang", "address": "1 Road", "lat": 31.2, "lon": 121.4},
    }
    answer = client.post("/api/v1/cases", json=body, headers=sup)
    assert answer.status_code == 201, answer.json
    assert answer.json["priority_source"] == "import"
