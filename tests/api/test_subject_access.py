"""A debtor's request for their data: an admin exports everything held on them."""
from tests.api.test_audit_visits import make_visit


def test_an_admin_exports_everything_held_on_one_debtor_as_json(app, db, client, make):
    team = make.team(code="SAR-T")
    crew = make.crew(team=team, members=0, code="SAR-K")
    collector = make.collector(team=team, crew=crew)
    debtor = make.debtor(name="Wang Fang", phone="13912345678", national_id="31010119800101777X")
    case = make.case(team=team, debtor=debtor, loan_ref="SAR-LOAN-1")
    make.contact(case)
    make_visit(make, case, crew, collector, notes="Met Ms Wang at home.", recordings=("c" * 64,),
               agreement={"kind": "promise", "status": "active", "total_minor": 100_000})
    admin = make.user("admin")
    response = client.get(f"/api/v1/debtors/{debtor.id}/subject-access", headers=make.token(admin))
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    body = response.json
    assert body["debtor"]["name"] == "Wang Fang" and body["debtor"]["national_id"] == "31010119800101777X"
    (held,) = body["cases"]
    assert held["loan_ref"] == "SAR-LOAN-1"
    assert held["visits"][0]["notes"] == "Met Ms Wang at home."
    assert held["visits"][0]["recordings"][0]["sha256"] == "c" * 64
    assert held["agreements"][0]["total"] == "1000.00" and len(held["contact_attempts"]) == 1
