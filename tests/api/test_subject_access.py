"""A debtor's request for their data: an admin exports everything held on them."""

import pytest
import sqlalchemy as sa

from app.models import AuditEvent
from tests.api.test_audit_visits import make_visit


def test_an_admin_exports_everything_held_on_one_debtor_as_json(app, db, client, make):
    team = make.team(code="SAR-T")
    crew = make.crew(team=team, members=0, code="SAR-K")
    collector = make.collector(team=team, crew=crew)
    debtor = make.debtor(name="Wang Fang", phone="13912345678", national_id="31010119800101777X")
    case = make.case(team=team, debtor=debtor, loan_ref="SAR-LOAN-1")
    make.contact(case)
    make_visit(
        make,
        case,
        crew,
        collector,
        notes="Met Ms Wang at home.",
        recordings=("c" * 64,),
        agreement={"kind": "promise", "status": "active", "total_minor": 100_000},
    )
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


@pytest.fixture()
def held(make):
    team = make.team(code="SAR-H")
    crew = make.crew(team=team, members=0, code="SAR-HK")
    collector = make.collector(team=team, crew=crew)
    debtor = make.debtor(
        name="Chen Jing", phone="13811112222", national_id="310101199912120000", address="3 <b>Bold</b> Road"
    )
    case = make.case(team=team, debtor=debtor, loan_ref="SAR-H-1")
    make_visit(make, case, crew, collector, notes="<script>alert(1)</script> met Ms Chen", recordings=("e" * 64,))
    return {
        "debtor": debtor,
        "case": case,
        "admin": make.token(make.user("admin")),
        "auditor": make.token(make.user("auditor")),
        "supervisor": make.token(make.user("supervisor", team=team)),
    }


def test_the_export_lists_who_read_the_debtors_data_and_when(app, db, client, held):
    assert client.get(f"/api/v1/cases/{held['case'].id}", headers=held["auditor"]).status_code == 200
    body = client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access", headers=held["admin"]).json
    (read,) = body["reads"]
    assert read["actor_role"] == "auditor" and read["via"] == "cases.get_case"
    assert read["masked"] == ["national_id", "phone"] and "address" in read["fields"]
    assert any(e["action"] == "pii.read" for e in body["audit_events"])


def test_the_export_is_itself_an_audited_read(app, db, client, held):
    import json

    client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access?format=html", headers=held["admin"])
    with app.app_context():
        (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "pii.read")).all()
    extra = json.loads(event.changes)["extra"]
    assert extra["via"] == "debtors.subject_access" and extra["debtors"] == [held["debtor"].id]
    assert event.actor_role == "admin"


def test_the_printable_page_holds_the_same_and_runs_no_script(client, held):
    response = client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access?format=html", headers=held["admin"])
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Chen Jing" in page and "13811112222" in page and "310101199912120000" in page and "SAR-H-1" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; met Ms Chen" in page
    assert "3 &lt;b&gt;Bold&lt;/b&gt; Road" in page and "eeeeeeeeeeeeeeee…" in page
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize("role", ["auditor", "supervisor"])
def test_only_an_admin_answers_a_subject_access_request(client, held, role):
    response = client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access", headers=held[role])
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_an_unknown_debtor_is_404_and_a_bad_format_422(client, held):
    assert client.get("/api/v1/debtors/999999/subject-access", headers=held["admin"]).status_code == 404
    bad = client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access?format=pdf", headers=held["admin"])
    assert bad.status_code == 422 and "format" in bad.json["error"]["fields"]


def test_after_anonymisation_the_export_shows_what_is_left(app, db, client, held, clock):
    from datetime import timedelta

    from app.services import retention
    from tests.conftest import TEST_NOW

    with app.app_context():
        from app.models import Case

        db.session.get(Case, held["case"].id).stage = "closed"
        db.session.commit()
        retention.sweep(TEST_NOW.date() + timedelta(days=3 * 366))
        db.session.commit()
    body = client.get(f"/api/v1/debtors/{held['debtor'].id}/subject-access", headers=held["admin"]).json
    assert body["debtor"]["name"] == "[anonymised]" and body["debtor"]["national_id"] is None
    assert body["debtor"]["anonymised_at"] is not None
    visit = body["cases"][0]["visits"][0]
    assert visit["notes"] is None and visit["recordings"][0]["erased_at"] is not None


def test_a_visit_still_at_the_door_shows_its_check_in_and_no_check_out(client, make):
    team = make.team(code="SAR-O")
    crew = make.crew(team=team, members=0, code="SAR-OK")
    debtor = make.debtor(name="Li Na")
    case = make.case(team=team, debtor=debtor, loan_ref="SAR-O-1")
    make_visit(make, case, crew, make.collector(team=team, crew=crew), checked_out=False, outcome=None)
    response = client.get(f"/api/v1/debtors/{debtor.id}/subject-access", headers=make.token(make.user("admin")))
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    (visit,) = response.json["cases"][0]["visits"]
    assert visit["check_in"]["lat"] == 31.2317 and visit["check_out"] is None
