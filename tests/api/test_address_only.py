"""Cases known only by an address: taken in (JSON and CSV), kept out of the plan with
``no_location`` until geocoded or pinned, the pin queue, a supervisor's pins (audited,
and the geofence follows them), and a 10,000-row import geocoded by the job."""

import json

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Case, Debtor, GeocodeResult
from app.services import geocoding
from tests.api.test_dispatch import DAY, plan, where
from tests.api.test_field import HOME, check_in

HEADER = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,national_id,address,lat,lon\n"


@pytest.fixture()
def team(make):
    return make.team(code="SH-A", region=make.region(code="SH", timezone_name="Asia/Shanghai"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


def new_case(client, headers, loan_ref="AO-1", address="上海市长宁区延安西路1111号", **debtor):
    body = {
        "loan_ref": loan_ref,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "1000.00",
        "outstanding": "800.00",
        "days_past_due": 60,
        "team": "SH-A",
        "stage": "field_visit",
        "debtor": {"name": "王芳", "address": address, **debtor},
    }
    return client.post("/api/v1/cases", json=body, headers=headers)


def upload(client, headers, text, mode="all_or_nothing"):
    return client.post(
        f"/api/v1/cases/import?team=SH-A&mode={mode}",
        data=text.encode("utf-8"),
        headers={**headers, "Content-Type": "text/csv"},
    )


def test_a_case_with_only_an_address_is_taken_and_waits_for_a_place(client, sup):
    response = new_case(client, sup)
    assert response.status_code == 201, response.json
    debtor = response.json["debtor"]
    assert (debtor["lat"], debtor["lon"], debtor["location_status"]) == (None, None, "pending")
    # No geocoder in the embedded default: the reason says a supervisor pins it.
    assert debtor["location_note"]["code"] == "no_geocoder"
    assert "手动标注" in debtor["location_note"]["zh"] and "by hand" in debtor["location_note"]["en"]
    assert debtor["timezone"] == "Asia/Shanghai"  # the team's region's zone until it is placed


def test_lat_without_lon_is_refused_naming_the_missing_field(client, sup, rows):
    response = new_case(client, sup, lat=31.2)
    assert response.status_code == 422
    assert "lon" in response.json["error"]["fields"]["debtor"]
    assert rows(Case) == 0


def test_an_all_or_nothing_import_counts_address_only_rows_as_valid(app, db, client, sup, rows):
    text = HEADER + (
        "AO-1,cash_loan,CNY,100,100,40,王芳,310101199001010011,上海市长宁区延安西路1111号,,\n"
        "AO-2,cash_loan,CNY,100,100,40,李强,310101199001010022,上海市徐汇区1号,31.19,121.44\n"
    )
    report = upload(client, sup, text)
    assert report.status_code == 200, report.json
    assert (report.json["created"], report.json["address_only"], report.json["geocode_job"]) == (2, 1, None)
    debtor = db.session.scalars(sa.select(Debtor).where(Debtor.address == "上海市长宁区延安西路1111号")).one()
    assert (debtor.lat, debtor.location_status, debtor.location_note) == (None, "pending", "no_geocoder")


def test_a_row_with_lat_but_no_lon_is_that_rows_problem(client, sup, rows):
    text = HEADER + "AO-1,cash_loan,CNY,100,100,40,王芳,310101199001010011,上海市长宁区1号,31.2,\n"
    response = upload(client, sup, text)
    assert response.status_code == 422
    assert response.json["error"]["details"]["problems"] == [
        {"row": 2, "column": "lon", "message": "give lat and lon together, or neither (address only)"}
    ]
    assert rows(Case) == 0


def test_the_planner_keeps_an_unplaced_case_out_with_no_location_in_both_languages(client, make, team, sup):
    make.trained_crew(team)
    placed = make.dispatchable_case(team)
    unplaced = make.case(
        team=team, debtor=make.debtor(lat=None, lon=None, location_status="needs_pin", location_note="not_found")
    )
    make.contact(unplaced)
    result = plan(client, sup)
    assert where(result, placed)[0] is not None
    crew, entry = where(result, unplaced)
    assert crew is None and entry["reason"] == "no_location"
    assert "address only" in entry["why"] and "仅有地址" in entry["why_zh"]
    assert entry["location_note"]["code"] == "not_found"
    assert result["summary"]["no_location"] == 1


def test_the_pin_queue_lists_unplaced_debtors_of_my_teams_only(client, make, team, sup):
    mine = make.case(
        team=team, debtor=make.debtor(lat=None, lon=None, location_status="needs_pin", location_note="ambiguous")
    )
    make.case(team=make.team(code="SH-B"), debtor=make.debtor(lat=None, lon=None, location_status="pending"))
    make.dispatchable_case(team)
    response = client.get("/api/v1/pin-queue", headers=sup)
    assert response.status_code == 200
    items = response.json["items"]
    assert [i["id"] for i in items] == [mine.debtor_id]
    assert items[0]["location_note"]["code"] == "ambiguous" and items[0]["cases"][0]["loan_ref"] == mine.loan_ref


def test_an_agent_cannot_see_the_pin_queue_or_place_a_pin(client, make, team):
    agent = make.token(make.user("agent"))
    debtor = make.debtor(lat=None, lon=None, location_status="needs_pin")
    make.case(team=team, debtor=debtor)
    assert client.get("/api/v1/pin-queue", headers=agent).status_code == 403
    assert (
        client.put(f"/api/v1/debtors/{debtor.id}/pin", json={"lat": 31.2, "lon": 121.4}, headers=agent).status_code
        == 403
    )


def test_a_pin_makes_the_case_dispatchable_and_is_audited(app, db, client, make, team, sup):
    make.trained_crew(team)
    case = make.case(
        team=team, debtor=make.debtor(lat=None, lon=None, location_status="needs_pin", location_note="not_found")
    )
    make.contact(case)
    assert where(plan(client, sup), case)[1]["reason"] == "no_location"
    response = client.put(
        f"/api/v1/debtors/{case.debtor_id}/pin", json={"lat": 31.2317, "lon": 121.4846, "note": "小区南门"}, headers=sup
    )
    assert response.status_code == 200, response.json
    assert response.json | {"previous": None, "moved_m": None, "location_source": "pin"} == response.json
    crew, stop = where(plan(client, sup), case)
    assert crew is not None and stop["why"]["rule"] == "dispatch.route"
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "debtor.pinned")).one()
    assert event.entity_id == str(case.debtor_id)
    changes = json.loads(event.changes)
    assert (changes["before"]["location_status"], changes["after"]["location_status"]) == ("needs_pin", "located")
    assert changes["before"]["lat"] is None and "$pii" in changes["after"]["lat"]  # the point is personal data
    assert changes["extra"]["note"] == "小区南门"
    assert client.get("/api/v1/pin-queue", headers=sup).json["items"] == []


def test_moving_a_pin_reports_the_distance_and_the_geofence_follows_it(app, db, client, day):
    debtor_id = day.cases[0].debtor_id
    moved = client.put(
        f"/api/v1/debtors/{debtor_id}/pin", json={"lat": HOME[0] + 0.01, "lon": HOME[1]}, headers=day.sup
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["previous"] == {"lat": HOME[0], "lon": HOME[1]}
    assert 1100 < moved.json["moved_m"] < 1120  # 0.01° of latitude
    # Checked in at the new pin, 1.1 km from the old point: on the geofence (200 m) it now draws.
    at_pin = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.01)
    assert at_pin.status_code == 201, at_pin.json
    assert at_pin.json["flags"] == []


def test_a_check_in_at_the_old_point_after_the_pin_moved_is_refused_as_away_from_the_address(client, day):
    client.put(
        f"/api/v1/debtors/{day.cases[0].debtor_id}/pin", json={"lat": HOME[0] + 0.01, "lon": HOME[1]}, headers=day.sup
    )
    at_old = check_in(client, day, day.tasks[0])
    assert at_old.status_code == 422
    assert at_old.json["error"]["rule_id"] == "cn.registered_address_only"
    assert at_old.json["error"]["rules"][0]["details"]["limit_m"] == 1000


def test_a_pin_off_the_map_is_refused_naming_the_field(client, make, team, sup):
    debtor = make.debtor(lat=None, lon=None, location_status="needs_pin")
    make.case(team=team, debtor=debtor)
    response = client.put(f"/api/v1/debtors/{debtor.id}/pin", json={"lat": 91, "lon": 121.4}, headers=sup)
    assert response.status_code == 422 and "lat" in response.json["error"]["fields"]
    assert client.get(f"/api/v1/debtors/{debtor.id}", headers=sup).json["location_status"] == "needs_pin"


def test_with_a_geocoder_a_new_address_only_case_is_geocoded_by_the_job(client, sup, geocoder):
    response = new_case(client, sup)
    assert response.status_code == 201
    debtor = client.get(f"/api/v1/debtors/{response.json['debtor']['id']}", headers=sup).json
    assert debtor["location_status"] == "located" and debtor["location_source"] == "geocoded"


@pytest.mark.slow
def test_ten_thousand_address_only_rows_are_geocoded_by_the_job_with_progress(
    app, db, client, sup, geocoder, monkeypatch
):
    seen = []
    record = geocoding._progress

    def watch(job, stats):
        record(job, stats)
        seen.append(dict(stats))

    monkeypatch.setattr(geocoding, "_progress", watch)
    # 2,500 addresses, each on four loans (so the cache is asked 7,500 times), 10 of them unknown.
    lines = [
        f"AO-{n:05d},cash_loan,CNY,100,100,40,债务人{n},{310101199000000000 + n},"
        f"{'上海市无此地址' if n % 2500 < 10 else '上海市长宁区测试路'}{n % 2500}号,,\n"
        for n in range(10_000)
    ]
    report = upload(client, sup, HEADER + "".join(lines))
    assert report.status_code == 200, report.json
    assert (report.json["created"], report.json["address_only"]) == (10_000, 10_000)
    job = client.get(f"/api/v1/jobs/{report.json['geocode_job']}", headers=sup).json
    assert job["status"] == "finished", job
    assert job["progress"] == {"total": 10_000, "done": 10_000, "located": 9_960, "needs_pin": 40, "retry_later": 0}
    assert len(seen) > 10 and [s["done"] for s in seen] == sorted(s["done"] for s in seen)
    assert len(geocoder.server.searches) == 2_500  # every address asked once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeocodeResult)) == 2_500
    queue = client.get("/api/v1/pin-queue?limit=500", headers=sup).json["items"]
    assert len(queue) == 40 and {i["location_note"]["code"] for i in queue} == {"not_found"}


def test_a_committed_task_without_a_place_cannot_be_moved_to_any_crew(app, db, client, make, team, sup):
    crew = make.trained_crew(team)
    case = make.case(
        team=team, debtor=make.debtor(lat=None, lon=None, location_status="needs_pin", location_note="not_found")
    )
    make.contact(case)
    draft = plan(client, sup)
    assert client.post(f"/api/v1/dispatch/plans/{draft['id']}/commit", headers=sup).status_code == 200
    task = client.get(f"/api/v1/tasks?date={DAY.isoformat()}", headers=sup).json["items"][0]
    assert task["status"] == "open" and task["reason"]["reason"] == "no_location" and task["reason"]["text_zh"]
    options = client.get(f"/api/v1/tasks/{task['id']}/move-options", headers=sup).json
    assert [o["allowed"] for o in options["crews"]] == [False]
    moved = client.post(f"/api/v1/tasks/{task['id']}/assign", json={"crew": crew.code, "reason": "closer"}, headers=sup)
    assert moved.status_code == 409 and moved.json["error"]["code"] == "no_location"
