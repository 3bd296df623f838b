"""The day at the door through the agent API: route, check-in/out, outcomes,
agreements, recordings and offline sync."""

import hashlib
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import audit
from app.models import (
    AuditEvent,
    Case,
    ClientEvent,
    Collector,
    ConductFlag,
    Debtor,
    RepaymentAgreement,
    Visit,
    VisitTask,
)
from tests.conftest import TEST_NOW

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOME = (31.2317, 121.4846)
TODAY = TEST_NOW.astimezone(SHANGHAI).date()  # the server's day in Shanghai when a test begins


def local(hour, minute=0, second=0, day=None):
    """A moment on the test's day (or ``day``) at this Shanghai wall-clock time."""
    return datetime.combine(day or TODAY, time(hour, minute, second), SHANGHAI)


def iso(moment):
    return moment.isoformat()


class Day:
    """A committed day for one crew: tasks in order, an agent on the crew."""

    def __init__(self, app, db, make, clock):
        self.app, self.db, self.make, self.clock = app, db, make, clock
        self.team = make.team(code="SH-A", region=make.region(code="SH"))
        self.crew = make.trained_crew(self.team)
        self.agent = make.user("agent", username="agent-a")
        with app.app_context():
            member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == self.crew.id)).first()
            member.user_id = self.agent.id
            db.session.commit()
        self.headers = make.token(self.agent)
        self.sup = make.token(make.user("supervisor", team=self.team))
        self.date = TODAY
        self.cases = [make.dispatchable_case(self.team, lat=HOME[0] + i * 0.01, lon=HOME[1]) for i in range(3)]
        self.tasks = [self.task(case, seq) for seq, case in enumerate(self.cases, start=1)]
        self.seq = 0

    def task(self, case, seq, crew=None, status="assigned", visit_date=None):
        crew = crew or self.crew
        start = datetime.combine(visit_date or self.date, time(9 + seq), SHANGHAI).astimezone(UTC)
        return self.make._save(
            VisitTask(
                case_id=case.id,
                visit_date=visit_date or self.date,
                status=status,
                crew_id=crew.id,
                sequence=seq,
                priority=50,
                planned_start=start,
                planned_end=start + timedelta(minutes=30),
                crew_history=[crew.id],
            )
        )

    def position(self, event_id, lat=HOME[0], lon=HOME[1], at=None, **extra):
        """A check-in or check-out body; the phone's clock reads ``at`` (default: the server's now)."""
        return {
            "client_event_id": event_id,
            "lat": lat,
            "lon": lon,
            "accuracy_m": 12.0,
            "device_time": iso(at or self.clock()),
            **extra,
        }

    def phone_headers(self, device_time=None, seq_high=None):
        """What the field app sends with every request: this phone, its clock, its outbox mark."""
        return {
            **self.headers,
            "X-Device-Id": "phone-agent-a-0001",
            "X-Device-Time": iso(device_time or self.clock()),
            "X-Device-Seq": str(seq_high or self.seq),
        }

    def sync(self, client, events, device_time=None):
        """Send queued events as the phone does: numbered in its outbox, with its clock."""
        numbered = []
        for event in events:
            if "seq" not in event:
                self.seq += 1
                event = {**event, "seq": self.seq}
            numbered.append(event)
        return client.post(
            "/api/v1/agent/sync",
            json={"events": numbered},
            headers=self.phone_headers(device_time, max([self.seq] + [e["seq"] for e in numbered])),
        )

    def count(self, model):
        with self.app.app_context():
            return self.db.session.scalar(sa.select(sa.func.count()).select_from(model))

    def get(self, model, ident):
        with self.app.app_context():
            row = self.db.session.get(model, ident)
            self.db.session.expunge_all()
            return row


def check_in(client, day, task, event_id="evt-checkin-1", at=None, **kw):
    """A check-in sent online: the server judges it when it arrives, so the server's clock
    is moved to ``at`` (the phone's clock agreeing) unless ``device_time`` says otherwise."""
    if at is not None:
        day.clock.set(at)
    return client.post(
        f"/api/v1/agent/tasks/{task.id}/check-in", json=day.position(event_id, **kw), headers=day.headers
    )


# ---------------------------------------------------------------- the route


def test_the_route_lists_the_crews_stops_in_order_with_what_to_know(client, day, make):
    make.contact(day.cases[0], days_ago=2, result="reached")
    response = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers)
    assert response.status_code == 200
    route = response.json
    assert route["crew"] == day.crew.code and route["profile"] == "cn@2026.1"
    assert [s["task_id"] for s in route["stops"]] == [t.id for t in day.tasks]
    stop = route["stops"][0]
    assert stop["case"]["amount_due"] == "8000.00" and stop["case"]["currency"] == "CNY"
    assert "****" in stop["debtor"]["phone"] and stop["debtor"]["address"]
    assert (stop["debtor"]["lat"], stop["debtor"]["lon"]) == HOME
    assert stop["history"]["last_contacts"][0]["result"] == "reached"
    assert any("Disclose nothing" in r for r in route["reminders"]["en"])
    assert any("不向任何人透露" in r for r in route["reminders"]["zh"])
    assert {"dispute_raised", "third_party_only"} <= {o["code"] for o in route["outcomes"]}


def test_the_route_tells_the_phone_what_each_outcome_needs_and_the_limits_it_warns_about(client, day):
    route = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json
    outcomes = {o["code"]: o for o in route["outcomes"]}
    assert outcomes["agreement_signed"]["person_met"] == "debtor"
    assert outcomes["agreement_signed"]["agreement"] == "instalment"
    assert outcomes["promise_to_pay"]["agreement"] == "promise"
    assert (outcomes["not_home"]["person_met"], outcomes["not_home"]["agreement"]) == ("nobody", None)
    assert outcomes["third_party_only"]["person_met"] == "third_party"
    assert route["limits"] == {
        "visiting_hours": {"start": "08:00", "end": "22:00"},
        "geofence_radius_m": 200,
        "max_distance_m": 1000,
        "max_accuracy_m": 100,
        "recording_required": True,
        "recording_min_seconds": 60,
        "waiver_limit_percent": 20,
    }


def test_planned_times_on_the_route_are_iso_8601_with_offset(client, day):
    stop = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json["stops"][0]
    start = datetime.fromisoformat(stop["planned_start"])
    assert start == datetime.combine(day.date, time(10), SHANGHAI)
    assert start.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(stop["planned_end"]) - start == timedelta(minutes=30)


def test_an_agent_sees_nothing_of_another_crew(client, day, make):
    other = make.trained_crew(day.team)
    foreign = day.task(make.dispatchable_case(day.team), 4, crew=other)
    route = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json
    assert foreign.id not in [s["task_id"] for s in route["stops"]]
    assert check_in(client, day, foreign).status_code == 404


def test_supervisors_do_not_use_the_agent_api(client, day):
    assert client.get("/api/v1/agent/route", headers=day.sup).status_code == 403


# ---------------------------------------------------------------- check-in


def test_a_check_in_at_the_door_opens_the_visit_keeping_both_clocks(client, day):
    at = local(10, 15)
    phone = at - timedelta(seconds=40)  # the phone's clock runs a little behind
    response = check_in(client, day, day.tasks[0], at=at, device_time=iso(phone))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "accepted" and body["flags"] == []
    visit = day.get(Visit, body["visit"]["id"])
    assert visit.check_in_device_at == phone
    assert visit.check_in_distance_m == 0.0
    # Sent online: judged when the server received it, the phone's time kept beside it.
    assert visit.check_in_at == visit.check_in_received_at == at and visit.check_in_basis == "server"
    assert day.get(VisitTask, day.tasks[0].id).status == "checked_in"
    with day.app.app_context():
        event = day.db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "visit.checked_in")).one()
        position = audit.personal_values([event.seq])[event.seq]
        assert (position["/position/lat"][1], position["/position/lon"][1]) == HOME and event.actor_role == "agent"
        assert (event.lat, event.lon) == (None, None)  # the door's position is kept out of the hashed bytes


def test_the_distance_to_the_registered_address_is_measured_on_the_ellipsoid(client, day):
    body = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.001).json
    assert 110 < body["visit"]["check_in_distance_m"] < 112  # 0.001° of latitude ≈ 110.9 m


def test_sending_the_same_check_in_again_answers_duplicate_and_changes_nothing(client, day):
    first = check_in(client, day, day.tasks[0])
    again = check_in(client, day, day.tasks[0])
    assert again.status_code == 200
    assert again.json["status"] == "duplicate" and again.json["original_status"] == "accepted"
    assert again.json["visit"] == first.json["visit"]
    assert day.count(Visit) == 1


def test_an_event_id_reused_for_another_action_is_a_conflict_and_the_first_stands(client, day):
    check_in(client, day, day.tasks[0], event_id="evt-shared-1")
    response = check_in(client, day, day.tasks[1], event_id="evt-shared-1")
    assert response.status_code == 409 and response.json["error"]["code"] == "event_payload_mismatch"
    assert day.get(VisitTask, day.tasks[1].id).status == "assigned"


def test_a_check_in_at_22_00_local_is_refused_naming_the_rule_and_kept_on_record(client, day):
    response = check_in(client, day, day.tasks[0], at=local(22, 0))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["rule_id"] == "cn.visiting_hours" and "22:00" in error["message"]
    assert day.get(VisitTask, day.tasks[0].id).status == "assigned" and day.count(Visit) == 0
    with day.app.app_context():
        stored = day.db.session.scalars(sa.select(ClientEvent)).one()
        assert stored.status == "rejected" and stored.payload["lat"] == HOME[0]
    again = check_in(client, day, day.tasks[0])
    assert again.status_code == 200 and again.json["original_status"] == "rejected"


def test_a_check_in_at_21_59_local_is_in_time(client, day):
    assert check_in(client, day, day.tasks[0], at=local(21, 59, 59)).status_code == 201


def test_recorded_consent_lets_a_late_check_in_stand_with_a_flag(client, day, app, db):
    with app.app_context():
        debtor = db.session.get(Debtor, day.cases[0].debtor_id)
        debtor.flags = {"out_of_hours_consent": True}
        db.session.commit()
    response = check_in(client, day, day.tasks[0], at=local(22, 30))
    assert response.status_code == 201
    assert [f["kind"] for f in response.json["flags"]] == ["out_of_hours"]


def test_far_from_the_address_inaccurate_or_mocked_check_ins_are_accepted_but_flagged(client, day):
    response = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.005, accuracy_m=500.0, mock_location=True)
    assert response.status_code == 201
    assert [f["rule_id"] for f in response.json["flags"]] == ["cn.off_geofence", "cn.poor_accuracy", "cn.mock_location"]
    assert day.count(ConductFlag) == 3


def test_impossible_travel_between_check_ins_is_flagged(client, day, make):
    far = day.task(make.dispatchable_case(day.team, lat=HOME[0] + 0.3, lon=HOME[1]), 4)  # 33 km north
    first_at = local(10, 0)
    check_in(client, day, day.tasks[0], event_id="evt-travel-1", at=first_at)
    check_out(client, day, day.tasks[0], event_id="evt-travel-1-out", at=first_at + timedelta(minutes=2))
    response = check_in(
        client, day, far, event_id="evt-travel-2", at=first_at + timedelta(minutes=5), lat=HOME[0] + 0.3
    )
    assert [f["kind"] for f in response.json["flags"]] == ["impossible_travel"]
    check_out(client, day, far, event_id="evt-travel-2-out", at=first_at + timedelta(minutes=7), lat=HOME[0] + 0.3)
    calm = check_in(
        client, day, day.tasks[2], event_id="evt-travel-3", at=first_at + timedelta(hours=2), lat=HOME[0] + 0.02
    )
    assert calm.json["flags"] == []


def test_a_task_moved_to_another_crew_while_offline_answers_conflict_and_is_kept(client, day, make, app, db):
    other = make.trained_crew(day.team)
    with app.app_context():
        task = db.session.get(VisitTask, day.tasks[0].id)
        task.crew_id, task.crew_history = other.id, [day.crew.id, other.id]
        db.session.commit()
    response = check_in(client, day, day.tasks[0])
    assert response.status_code == 409
    assert response.json["error"]["code"] == "task_reassigned"
    assert other.code in response.json["error"]["message"]
    with app.app_context():
        assert db.session.scalars(sa.select(ClientEvent.status)).one() == "conflict"


# ---------------------------------------------------------------- outcome and agreements


def visit(client, day, task, body, event_id="evt-visit-1"):
    return client.post(
        f"/api/v1/agent/tasks/{task.id}/visit", json={"client_event_id": event_id, **body}, headers=day.headers
    )


PROMISE_DAY = (TODAY + timedelta(days=10)).isoformat()
ACK = {"kind": "otp", "ref": "OTP-884201"}


def test_an_outcome_needs_a_check_in_first(client, day):
    response = visit(client, day, day.tasks[0], {"outcome": "not_home", "person_met": "nobody"})
    assert response.status_code == 409 and response.json["error"]["code"] == "not_checked_in"


def test_a_promise_to_pay_records_the_agreement_and_moves_the_case(client, day):
    check_in(client, day, day.tasks[0])
    response = visit(
        client,
        day,
        day.tasks[0],
        {
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "notes": "will pay after payday",
            "agreement": {"kind": "promise", "total": "2000.00", "due_date": PROMISE_DAY, "acknowledgement": ACK},
        },
    )
    assert response.status_code == 200, response.json
    agreement = response.json["agreement"]
    assert agreement["status"] == "active" and agreement["instalments"] == [
        {"seq": 1, "due_date": PROMISE_DAY, "amount": "2000.00"}
    ]
    assert day.get(Case, day.cases[0].id).stage == "agreement"


def test_an_instalment_plan_sums_to_the_total_to_the_fen(client, day):
    check_in(client, day, day.tasks[0])
    response = visit(
        client,
        day,
        day.tasks[0],
        {
            "outcome": "agreement_signed",
            "person_met": "debtor",
            "agreement": {
                "kind": "instalment",
                "total": "1000.00",
                "first_due_date": PROMISE_DAY,
                "count": 3,
                "frequency": "monthly",
                "acknowledgement": {"kind": "signature", "ref": "a" * 64},
            },
        },
    )
    instalments = response.json["agreement"]["instalments"]
    assert [i["amount"] for i in instalments] == ["333.34", "333.33", "333.33"]
    first = date.fromisoformat(PROMISE_DAY)
    assert [i["due_date"] for i in instalments][1] == (
        first.replace(month=first.month % 12 + 1, year=first.year + (first.month == 12))
    ).isoformat()


def test_a_waiver_above_the_limit_waits_for_a_supervisors_approval(client, day):
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
                "total": "5000.00",
                "waiver": "3000.00",
                "due_date": PROMISE_DAY,
                "acknowledgement": ACK,
            },
        },
    )
    agreement = response.json["agreement"]
    assert agreement["status"] == "pending_approval"
    assert day.count(ConductFlag) == 1
    pending = client.get("/api/v1/agreements?status=pending_approval", headers=day.sup).json["items"]
    assert [a["id"] for a in pending] == [agreement["id"]]
    approved = client.post(
        f"/api/v1/agreements/{agreement['id']}/approve", json={"note": "hardship verified"}, headers=day.sup
    )
    assert approved.status_code == 200 and approved.json["status"] == "active"


def test_an_agreement_larger_than_the_debt_is_refused(client, day):
    check_in(client, day, day.tasks[0])
    response = visit(
        client,
        day,
        day.tasks[0],
        {
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "agreement": {"kind": "promise", "total": "9000.00", "due_date": PROMISE_DAY, "acknowledgement": ACK},
        },
    )
    assert response.status_code == 422 and "agreement" in response.json["error"]["fields"]
    assert day.count(RepaymentAgreement) == 0


def test_a_dispute_raised_at_the_door_flags_the_debtor_and_stops_later_visits(client, day, make):
    later = day.task(day.cases[0], 9, visit_date=day.date + timedelta(days=8))
    check_in(client, day, day.tasks[0])
    response = visit(
        client,
        day,
        day.tasks[0],
        {"outcome": "dispute_raised", "person_met": "debtor", "notes": "says the loan was repaid"},
    )
    assert response.status_code == 200
    assert day.get(Debtor, day.cases[0].debtor_id).flags == {"dispute": True}
    later = day.get(VisitTask, later.id)
    assert later.status == "withdrawn" and later.reason["rule_id"] == "cn.blocking_flag"


@pytest.mark.parametrize(
    "outcome,person,field",
    [
        ("not_home", "debtor", "person_met"),
        ("third_party_only", "debtor", "person_met"),
        ("refused", "neighbour", "person_met"),
        ("promise_to_pay", "debtor", "agreement"),
    ],
)
def test_an_outcome_that_contradicts_who_was_met_is_refused(client, day, outcome, person, field):
    check_in(client, day, day.tasks[0])
    response = visit(client, day, day.tasks[0], {"outcome": outcome, "person_met": person})
    assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_an_unknown_outcome_code_is_refused_by_name(client, day):
    check_in(client, day, day.tasks[0])
    response = visit(client, day, day.tasks[0], {"outcome": "threatened", "person_met": "debtor"})
    assert response.status_code == 422 and "outcome" in response.json["error"]["fields"]


# ---------------------------------------------------------------- check-out and recordings


def upload(
    client, day, task, content=b"RIFF....WAVEfmt " + b"\x00" * 2000, content_type="audio/wav", sha=None, duration=120
):
    data = {
        "file": (io.BytesIO(content), "visit.wav", content_type),
        "task_id": str(task.id),
        "sha256": sha or hashlib.sha256(content).hexdigest(),
        "duration_seconds": str(duration),
    }
    return client.post("/api/v1/agent/recordings", data=data, headers=day.headers, content_type="multipart/form-data")


def check_out(client, day, task, event_id="evt-checkout-1", at=None, **kw):
    day.clock.set(at or day.clock() + timedelta(minutes=25))
    return client.post(
        f"/api/v1/agent/tasks/{task.id}/check-out", json=day.position(event_id, **kw), headers=day.headers
    )


def test_a_visit_closed_without_a_recording_is_flagged_until_it_arrives(client, day, app, db):
    check_in(client, day, day.tasks[0])
    response = check_out(client, day, day.tasks[0])
    assert response.status_code == 200
    assert [f["rule_id"] for f in response.json["flags"]] == ["cn.missing_recording"]
    assert day.get(VisitTask, day.tasks[0].id).status == "done"
    assert upload(client, day, day.tasks[0]).status_code == 201
    with app.app_context():
        flag = db.session.scalars(sa.select(ConductFlag)).one()
        assert flag.status == "resolved" and "after check-out" in flag.review_notes


def test_a_recording_uploaded_before_check_out_means_no_flag(client, day):
    check_in(client, day, day.tasks[0])
    assert upload(client, day, day.tasks[0]).status_code == 201
    assert check_out(client, day, day.tasks[0]).json["flags"] == []


def test_a_too_short_recording_is_flagged(client, day):
    check_in(client, day, day.tasks[0])
    upload(client, day, day.tasks[0], duration=20)
    assert [f["kind"] for f in check_out(client, day, day.tasks[0]).json["flags"]] == ["short_recording"]


def test_a_recording_is_stored_under_its_hash_and_kept_once(client, day, app):
    check_in(client, day, day.tasks[0])
    content = b"OggS" + b"\x01" * 5000
    first = upload(client, day, day.tasks[0], content=content, content_type="audio/ogg")
    again = upload(client, day, day.tasks[0], content=content, content_type="audio/ogg")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json["id"] == again.json["id"] and first.json["sha256"] == hashlib.sha256(content).hexdigest()
    from app import storage

    with app.app_context():
        assert storage.current().get(f"recordings/{first.json['sha256'][:2]}/{first.json['sha256']}.oga") == content


@pytest.mark.parametrize(
    "change,field",
    [
        ({"sha": "0" * 64}, "sha256"),
        ({"content_type": "application/x-msdownload"}, "file"),
        ({"content": b""}, "file"),
    ],
)
def test_a_damaged_or_unacceptable_upload_is_refused(client, day, change, field):
    check_in(client, day, day.tasks[0])
    response = upload(client, day, day.tasks[0], **change)
    assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_a_recording_over_the_size_limit_is_refused(client, day, app):
    check_in(client, day, day.tasks[0])
    app.config["RECORDING_MAX_BYTES"], saved = 1000, app.config["RECORDING_MAX_BYTES"]
    try:
        response = upload(client, day, day.tasks[0], content=b"\x00" * 5000)
    finally:
        app.config["RECORDING_MAX_BYTES"] = saved
    assert response.status_code in (413, 422)


# ---------------------------------------------------------------- offline sync


def day_of_events(day, task, prefix="evt-sync"):
    """A visit worked offline from 10:00 to 10:20, sent when the phone is back online at 11:00."""
    day.clock.set(local(11))
    return [
        {"type": "check_in", "task_id": task.id, **day.position(f"{prefix}-1", at=local(10, 0))},
        {
            "type": "visit",
            "task_id": task.id,
            "client_event_id": f"{prefix}-2",
            "outcome": "not_home",
            "person_met": "nobody",
            "device_time": iso(local(10, 10)),
        },
        {"type": "check_out", "task_id": task.id, **day.position(f"{prefix}-3", at=local(10, 20))},
    ]


def test_a_batch_of_offline_events_is_applied_in_order(client, day):
    response = day.sync(client, day_of_events(day, day.tasks[0]))
    assert response.status_code == 200
    assert [r["status"] for r in response.json["results"]] == ["accepted"] * 3
    assert day.get(VisitTask, day.tasks[0].id).status == "done"
    visit = day.get(Visit, response.json["results"][0]["visit"]["id"])
    # Queued offline: judged at the phone's time (its clock agreed with the server's), received later.
    assert (visit.check_in_at, visit.check_in_received_at, visit.check_in_basis) == (
        local(10),
        local(11),
        "device_corrected",
    )


def test_sending_a_batch_twice_duplicates_nothing(client, day):
    events = day_of_events(day, day.tasks[0])
    day.sync(client, events)
    again = day.sync(client, events).json
    assert again["counts"] == {"accepted": 0, "duplicate": 3, "rejected": 0, "conflict": 0}
    assert day.count(Visit) == 1 and day.count(ClientEvent) == 3


def test_one_bad_event_does_not_lose_the_rest(client, day):
    events = day_of_events(day, day.tasks[0])
    events.insert(
        1,
        {
            "type": "check_in",
            "task_id": day.tasks[1].id,
            "client_event_id": "evt-bad-1",
            "lat": 95,
            "lon": 121.0,
            "device_time": iso(local(10)),
        },
    )
    events.append({"type": "teleport", "task_id": day.tasks[2].id, "client_event_id": "evt-bad-2"})
    results = day.sync(client, events).json["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "accepted", "rejected"]
    assert "lat" in results[1]["error"]["fields"] and "type" in results[4]["error"]["fields"]


def test_a_batch_mixing_refused_and_conflicting_events_answers_each(client, day, make, app, db):
    other = make.trained_crew(day.team)
    with app.app_context():
        task = db.session.get(VisitTask, day.tasks[2].id)
        task.crew_id, task.crew_history = other.id, [day.crew.id, other.id]
        db.session.commit()
    events = [
        {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-mix-1", at=local(23, 0))},
        {"type": "check_in", "task_id": day.tasks[1].id, **day.position("evt-mix-2", at=local(10), lat=HOME[0] + 0.01)},
        {
            "type": "check_in",
            "task_id": day.tasks[2].id,
            **day.position("evt-mix-3", at=local(10, 30), lat=HOME[0] + 0.02),
        },
    ]
    day.clock.set(local(23, 30))
    results = day.sync(client, events).json["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted", "conflict"], results
    assert results[0]["error"]["rule_id"] == "cn.visiting_hours"


def test_an_oversized_batch_is_refused(client, day):
    events = [{"type": "check_in", "task_id": 1, "client_event_id": f"evt-{i:05d}"} for i in range(501)]
    response = day.sync(client, events)
    assert response.status_code in (413, 422)


def test_times_inside_the_route_are_iso_8601_with_offset(client, day):
    stop = client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.headers).json["stops"][0]
    assert datetime.fromisoformat(stop["planned_start"]).utcoffset() == timedelta(0)


def test_an_agreement_made_offline_is_judged_on_the_day_of_the_visit(client, day, make):
    two_days_ago = local(10) - timedelta(days=2)
    task = day.task(make.dispatchable_case(day.team), 5, visit_date=two_days_ago.date())
    due = (two_days_ago.date() + timedelta(days=1)).isoformat()  # already past when it syncs
    results = day.sync(
        client,
        [
            {"type": "check_in", "task_id": task.id, **day.position("evt-old-in", at=two_days_ago)},
            {
                "type": "visit",
                "task_id": task.id,
                "client_event_id": "evt-old-visit",
                "outcome": "promise_to_pay",
                "person_met": "debtor",
                "device_time": iso(two_days_ago + timedelta(minutes=10)),
                "agreement": {"kind": "promise", "total": "100.00", "due_date": due, "acknowledgement": ACK},
            },
        ],
    ).json["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted"], results
    assert results[1]["agreement"]["instalments"][0]["due_date"] == due
