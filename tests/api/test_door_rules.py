"""The rules hold at the door: every visit is judged where it happens, against the state
at that moment, on the server's clock. A plan is a proposal; the door decides.

Each test here stands for a way the first version let harm through (issue 14): it
failed on that code and passes now.
"""

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, ClientEvent, Collector, ConductFlag, Debtor, TrainingRecord, Visit, VisitTask
from tests.api.test_field import HOME, SHANGHAI, TODAY, check_in, check_out, iso, local


def at(text):
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- the server's clock judges


def test_a_check_in_at_23_08_sent_online_with_a_phone_clock_of_20_30_is_refused_at_23_08(client, day):
    response = check_in(client, day, day.tasks[0], at=local(23, 8), device_time=iso(local(20, 30)))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["rule_id"] == "cn.visiting_hours" and "23:08" in error["message"]
    with day.app.app_context():
        event = day.db.session.scalars(sa.select(ClientEvent)).one()
        # The phone's clock is kept as evidence beside the time judged, never instead of it.
        assert (event.judged_at, event.device_time, event.time_basis) == (local(23, 8), local(20, 30), "server")
    assert day.count(Visit) == 0


def test_a_phone_clock_far_from_the_servers_raises_a_clock_skew_flag_naming_its_rule(client, day):
    response = check_in(client, day, day.tasks[0], at=local(10, 0), device_time=iso(local(9, 40)))
    assert response.status_code == 201
    assert [f["rule_id"] for f in response.json["flags"]] == ["cn.clock_skew"]
    visit = day.get(Visit, response.json["visit"]["id"])
    assert (visit.check_in_at, visit.check_in_device_at) == (local(10, 0), local(9, 40))


def test_a_phone_clock_within_the_profiles_tolerance_raises_no_flag(client, day):
    response = check_in(client, day, day.tasks[0], at=local(10, 0), device_time=iso(local(9, 55)))
    assert response.status_code == 201 and response.json["flags"] == []


def test_an_offline_check_in_cannot_claim_a_time_before_the_phones_last_contact(client, day):
    """The phone fetched its route at 22:30 (outbox numbered up to 0); a check-in numbered
    after that contact claims 21:00 — it was queued after 22:30, so 22:30 is the earliest
    the server can place it, and at 22:30 the door is closed."""
    day.clock.set(local(22, 30))
    assert client.get(f"/api/v1/agent/route?date={TODAY}", headers=day.phone_headers()).status_code == 200
    day.clock.set(local(23, 0))
    lie = {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-backdated", at=local(21, 0))}
    result = day.sync(client, [lie]).json["results"][0]
    assert result["status"] == "rejected" and result["error"]["rule_id"] == "cn.visiting_hours"
    assert at(result["judged_at"]) == local(22, 30) and result["time_basis"] == "device_bounded"


def test_an_offline_check_in_queued_before_the_last_contact_keeps_its_corrected_time(client, day):
    """Queued at 21:00 (numbered 1), still in the outbox when the phone fetched its route at
    22:30 (reporting mark 1): the server cannot push it later than it is."""
    day.seq = 1
    event = {"type": "check_in", "task_id": day.tasks[0].id, "seq": 1, **day.position("evt-queued", at=local(21, 0))}
    day.clock.set(local(22, 30))
    assert client.get(f"/api/v1/agent/route?date={TODAY}", headers=day.phone_headers(seq_high=1)).status_code == 200
    day.clock.set(local(23, 0))
    result = day.sync(client, [event]).json["results"][0]
    assert result["status"] == "accepted", result
    visit = day.get(Visit, result["visit"]["id"])
    assert (visit.check_in_at, visit.check_in_basis) == (local(21, 0), "device_corrected")


def test_an_offline_event_is_corrected_by_the_phones_measured_clock_offset(client, day):
    """The phone's clock runs 2 h 38 min slow: its 20:30 was the server's 23:08."""
    slow = timedelta(hours=2, minutes=38)
    day.clock.set(local(23, 20))
    event = {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-slow", at=local(20, 30))}
    result = day.sync(client, [event], device_time=local(23, 20) - slow).json["results"][0]
    assert result["status"] == "rejected" and result["error"]["rule_id"] == "cn.visiting_hours"
    assert at(result["judged_at"]) == local(23, 8)


def test_an_offline_event_cannot_claim_a_time_after_it_arrived(client, day):
    day.clock.set(local(10, 0))
    event = {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-future", at=local(15, 0))}
    result = day.sync(client, [event]).json["results"][0]
    assert result["status"] == "accepted"
    visit = day.get(Visit, result["visit"]["id"])
    assert (visit.check_in_at, visit.check_in_basis) == (local(10, 0), "device_bounded")
    assert [f["rule_id"] for f in result["flags"]] == ["cn.clock_skew"]


def test_a_sync_batch_must_say_which_phone_and_what_its_clock_reads(client, day):
    event = {"type": "check_in", "task_id": day.tasks[0].id, "seq": 1, **day.position("evt-anon")}
    response = client.post("/api/v1/agent/sync", json={"events": [event]}, headers=day.headers)
    assert response.status_code == 422 and "X-Device-Id" in response.json["error"]["fields"]
    no_clock = {**day.phone_headers()}
    del no_clock["X-Device-Time"]
    response = client.post("/api/v1/agent/sync", json={"events": [event]}, headers=no_clock)
    assert response.status_code == 422 and "X-Device-Time" in response.json["error"]["fields"]
    unnumbered = {k: v for k, v in event.items() if k != "seq"}
    response = client.post("/api/v1/agent/sync", json={"events": [unnumbered]}, headers=day.phone_headers())
    assert response.json["results"][0]["error"]["fields"] == {"seq": ["Missing data for required field."]}
    assert day.count(Visit) == 0


def test_the_route_tells_the_phone_the_servers_time(client, day):
    route = client.get(f"/api/v1/agent/route?date={TODAY}", headers=day.phone_headers()).json
    assert at(route["server_time"]) == local(10)


# ---------------------------------------------------------------- the planned day


def test_a_check_in_on_a_task_planned_for_another_day_is_refused(client, day, make):
    tomorrow = day.task(make.dispatchable_case(day.team), 4, visit_date=TODAY + timedelta(days=1))
    response = check_in(client, day, tomorrow)
    assert response.status_code == 422 and response.json["error"]["rule_id"] == "cn.planned_day"
    assert "2026-06-11" in response.json["error"]["message"]


def test_the_planned_day_is_the_debtors_not_the_servers(client, day):
    """00:30 on the 11th in Shanghai is still the 10th in UTC: the day judged is Shanghai's."""
    response = check_in(client, day, day.tasks[0], at=local(0, 30, day=TODAY + timedelta(days=1)))
    assert response.json["error"]["rule_id"] == "cn.planned_day"


def test_a_task_whose_day_ended_unstarted_is_withdrawn_and_its_case_planned_again(client, day, make):
    yesterday = day.task(make.dispatchable_case(day.team), 4, visit_date=TODAY - timedelta(days=1))
    response = client.post("/api/v1/dispatch/plans", json={"date": TODAY.isoformat(), "team": "SH-A"}, headers=day.sup)
    assert response.status_code == 201
    stale = day.get(VisitTask, yesterday.id)
    assert stale.status == "withdrawn" and stale.reason["rule_id"] == "cn.planned_day"
    planned = [s["case_id"] for r in response.json["routes"] for s in r["stops"]]
    assert yesterday.case_id in planned


# ---------------------------------------------------------------- every rule again at check-in


def set_flags(day, case, **flags):
    with day.app.app_context():
        debtor = day.db.session.get(Debtor, case.debtor_id)
        debtor.flags = {**debtor.flags, **flags}
        day.db.session.commit()


@pytest.mark.parametrize("flag", ["dispute", "cease", "deceased", "capacity_concern"])
def test_a_blocking_flag_set_after_the_plan_is_judged_at_the_door(client, day, flag):
    set_flags(day, day.cases[0], **{flag: True})  # behind the service's back: the door still sees it
    response = check_in(client, day, day.tasks[0])
    assert response.status_code == 422 and response.json["error"]["rule_id"] == "cn.blocking_flag"
    assert response.json["error"]["reason_zh"]


def members(day, crew=None):
    with day.app.app_context():
        return day.db.session.scalars(
            sa.select(Collector).where(Collector.crew_id == (crew or day.crew).id).order_by(Collector.id)
        ).all()


def change_collector(day, collector_id, **values):
    with day.app.app_context():
        collector = day.db.session.get(Collector, collector_id)
        for key, value in values.items():
            setattr(collector, key, value)
        day.db.session.commit()


def test_a_crew_down_to_one_active_member_cannot_check_in(client, day):
    change_collector(day, members(day)[1].id, active=False)
    response = check_in(client, day, day.tasks[0])
    assert response.json["error"]["rule_id"] == "cn.crew_size"


def test_a_deactivated_collector_cannot_check_in_even_in_a_crew_still_big_enough(client, day, make):
    agent_member = members(day)[0]
    extra = make.collector(team=day.team, crew=day.crew)
    for module in ("law_compliance", "communication"):
        make.training(extra, module=module)
    change_collector(day, agent_member.id, active=False)
    response = check_in(client, day, day.tasks[0])
    assert response.json["error"]["rule_id"] == "cn.collector_inactive"


def test_background_clearance_withdrawn_is_judged_at_the_door(client, day):
    change_collector(day, members(day)[1].id, background_cleared=False)
    assert check_in(client, day, day.tasks[0]).json["error"]["rule_id"] == "cn.background"


def test_training_that_expired_since_the_plan_is_judged_at_the_door(client, day):
    with day.app.app_context():
        record = day.db.session.scalars(
            sa.select(TrainingRecord).where(
                TrainingRecord.collector_id == members(day)[1].id, TrainingRecord.module == "communication"
            )
        ).one()
        record.expires_at = TODAY  # valid through yesterday
        day.db.session.commit()
    assert check_in(client, day, day.tasks[0]).json["error"]["rule_id"] == "cn.qualification"


def test_an_open_complaint_against_a_crew_member_keeps_the_crew_from_that_door(client, day):
    from app.models import Complaint

    day.make._save(
        Complaint(
            debtor_id=day.cases[0].debtor_id,
            case_id=day.cases[0].id,
            collector_id=members(day)[1].id,
            channel="phone",
            category="rudeness",
            text="x",
            status="under_review",
        )
    )
    assert check_in(client, day, day.tasks[0]).json["error"]["rule_id"] == "cn.complaint_under_review"


def test_a_case_no_longer_in_field_visits_is_not_visited(client, day):
    from app.models import Case

    with day.app.app_context():
        day.db.session.get(Case, day.cases[0].id).stage = "resolved"
        day.db.session.commit()
    assert check_in(client, day, day.tasks[0]).json["error"]["rule_id"] == "cn.case_stage"


def test_a_second_visit_to_a_debtor_within_the_frequency_window_is_refused_whoever_made_the_first(client, day, make):
    other_crew = make.trained_crew(day.team)
    earlier = make._save(
        VisitTask(
            case_id=day.cases[0].id,
            visit_date=TODAY - timedelta(days=6),
            status="done",
            crew_id=other_crew.id,
            priority=1,
        )
    )
    make._save(
        Visit(
            task_id=earlier.id,
            crew_id=other_crew.id,
            collector_id=members(day, other_crew)[0].id,
            check_in_at=local(11, day=TODAY - timedelta(days=6)),
            check_in_lat=HOME[0],
            check_in_lon=HOME[1],
        )
    )
    response = check_in(client, day, day.tasks[0])
    assert response.json["error"]["rule_id"] == "cn.frequency_cap"
    assert "2026-06-04" in response.json["error"]["message"]


def test_seven_days_after_a_visit_the_next_is_allowed(client, day, make):
    earlier = make._save(
        VisitTask(
            case_id=day.cases[0].id,
            visit_date=TODAY - timedelta(days=7),
            status="done",
            crew_id=day.crew.id,
            priority=1,
        )
    )
    make._save(
        Visit(
            task_id=earlier.id,
            crew_id=day.crew.id,
            collector_id=members(day)[0].id,
            check_in_at=local(11, day=TODAY - timedelta(days=7)),
            check_in_lat=HOME[0],
            check_in_lon=HOME[1],
        )
    )
    assert check_in(client, day, day.tasks[0]).status_code == 201


def test_the_debtors_stated_availability_is_honoured_at_the_door(client, day):
    with day.app.app_context():
        debtor = day.db.session.get(Debtor, day.cases[0].debtor_id)
        debtor.availability = [{"start": "18:00", "end": "21:00"}]
        day.db.session.commit()
    response = check_in(client, day, day.tasks[0], at=local(10, 0))
    assert response.json["error"]["rule_id"] == "cn.stated_availability"
    assert check_in(client, day, day.tasks[0], event_id="evt-evening", at=local(18, 30)).status_code == 201


def test_every_refusal_names_profile_version_and_rule_in_english_and_chinese_and_is_kept(client, day):
    set_flags(day, day.cases[0], cease=True)
    response = check_in(client, day, day.tasks[0], at=local(23, 0))
    error = response.json["error"]
    assert error["profile_version"] == "cn@2026.1" and error["rule_id"] == "cn.blocking_flag"
    assert {r["rule_id"] for r in error["rules"]} == {"cn.blocking_flag", "cn.visiting_hours"}
    assert all(r["reason_zh"] and r["reason_en"] for r in error["rules"])
    with day.app.app_context():
        refused = day.db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "field.check_in.rejected")
        ).one()
        assert "cn.blocking_flag" in refused.changes


# ---------------------------------------------------------------- the place


def test_a_check_in_30_km_from_the_registered_address_is_refused(client, day):
    response = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.27)
    assert response.status_code == 422 and response.json["error"]["rule_id"] == "cn.registered_address_only"
    assert day.count(Visit) == 0 and day.count(ConductFlag) == 0


def test_between_the_geofence_and_the_hard_limit_a_check_in_is_accepted_and_flagged(client, day):
    response = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.008)  # about 890 m
    assert response.status_code == 201 and [f["rule_id"] for f in response.json["flags"]] == ["cn.off_geofence"]


def test_a_check_in_at_the_debtors_workplace_is_refused_even_near_home(client, day):
    workplace = {"kind": "workplace", "address": "Office tower", "lat": HOME[0] + 0.004, "lon": HOME[1]}
    patch(client, day, f"/api/v1/debtors/{day.cases[0].debtor_id}", {"places": [workplace]})
    response = check_in(client, day, day.tasks[0], lat=HOME[0] + 0.004)  # 440 m from home, at the office
    assert response.json["error"]["rule_id"] == "cn.workplace"
    assert check_in(client, day, day.tasks[0], event_id="evt-home").status_code == 201


def test_a_known_place_out_of_range_is_refused_by_name(client, day):
    response = client.patch(
        f"/api/v1/debtors/{day.cases[0].debtor_id}",
        headers=day.sup,
        json={"places": [{"kind": "workplace", "lat": 95, "lon": 121.0}]},
    )
    assert response.status_code == 422 and "places" in response.json["error"]["fields"]
    response = client.patch(
        f"/api/v1/debtors/{day.cases[0].debtor_id}",
        headers=day.sup,
        json={"places": [{"kind": "casino", "lat": 31.0, "lon": 121.0}]},
    )
    assert response.status_code == 422 and "places" in response.json["error"]["fields"]


# ---------------------------------------------------------------- one door at a time


def test_a_crew_is_at_one_door_at_a_time(client, day):
    assert check_in(client, day, day.tasks[0]).status_code == 201
    response = check_in(client, day, day.tasks[1], event_id="evt-second-door", lat=HOME[0] + 0.01, at=local(10, 10))
    assert response.json["error"]["rule_id"] == "cn.one_visit_at_a_time"
    check_out(client, day, day.tasks[0], at=local(10, 40))
    assert (
        check_in(
            client, day, day.tasks[1], event_id="evt-second-door-2", lat=HOME[0] + 0.01, at=local(10, 50)
        ).status_code
        == 201
    )


# ---------------------------------------------------------------- changes withdraw what they make unlawful


def patch(client, day, path, body):
    response = client.patch(path, json=body, headers=day.sup)
    assert response.status_code == 200, response.json
    return response


def test_a_dispute_withdraws_the_debtors_tasks_at_once_and_the_phone_learns_why(client, day):
    later = day.task(day.cases[0], 9, visit_date=TODAY + timedelta(days=8))
    patch(client, day, f"/api/v1/debtors/{day.cases[0].debtor_id}", {"flags": {"dispute": True}})
    for task in (day.tasks[0], later):
        withdrawn = day.get(VisitTask, task.id)
        assert withdrawn.status == "withdrawn" and withdrawn.reason["rule_id"] == "cn.blocking_flag"
    route = client.get(f"/api/v1/agent/route?date={TODAY}", headers=day.phone_headers()).json
    assert day.tasks[0].id not in [s["task_id"] for s in route["stops"]]
    gone = route["withdrawn"][0]
    assert gone["task_id"] == day.tasks[0].id and gone["rule_id"] == "cn.blocking_flag" and gone["reason_zh"]
    assert [s["sequence"] for s in route["stops"]] == [1, 2]
    with day.app.app_context():
        actions = day.db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action == "task.withdrawn")
        ).all()
        assert len(actions) == 2
    # A check-in queued before the phone heard of it is refused, naming the rule.
    assert check_in(client, day, day.tasks[0]).json["error"]["rule_id"] == "cn.blocking_flag"


def test_a_complaint_against_a_collector_withdraws_their_crews_visits_to_that_debtor(client, day):
    response = client.post(
        "/api/v1/complaints",
        headers=day.sup,
        json={
            "case_id": day.cases[0].id,
            "collector": members(day)[1].code,
            "channel": "phone",
            "category": "rudeness",
            "text": "shouted at me",
        },
    )
    assert response.status_code == 201
    assert day.get(VisitTask, day.tasks[0].id).reason["rule_id"] == "cn.complaint_under_review"
    assert day.get(VisitTask, day.tasks[1].id).status == "assigned"


def test_deactivating_a_member_of_a_crew_of_two_withdraws_the_crews_day(client, day):
    patch(client, day, f"/api/v1/collectors/{members(day)[1].id}", {"active": False})
    for task in day.tasks:
        task = day.get(VisitTask, task.id)
        assert task.status == "withdrawn" and task.reason["rule_id"] == "cn.crew_size"


def test_withdrawing_a_collectors_clearance_withdraws_their_crews_visits(client, day):
    patch(client, day, f"/api/v1/collectors/{members(day)[0].id}", {"background_cleared": False})
    assert {day.get(VisitTask, t.id).reason["rule_id"] for t in day.tasks} == {"cn.background"}


def test_a_crew_shrunk_below_the_minimum_loses_its_tasks(client, day):
    patch(client, day, f"/api/v1/crews/{day.crew.id}", {"members": [members(day)[0].code]})
    assert {day.get(VisitTask, t.id).status for t in day.tasks} == {"withdrawn"}


def test_the_daily_check_withdraws_what_an_expired_training_made_unlawful(client, day, app):
    later = day.task(day.cases[0], 9, visit_date=TODAY + timedelta(days=8))
    with day.app.app_context():
        record = day.db.session.scalars(
            sa.select(TrainingRecord).where(
                TrainingRecord.collector_id == members(day)[1].id, TrainingRecord.module == "communication"
            )
        ).one()
        record.expires_at = TODAY + timedelta(days=5)
        day.db.session.commit()
    admin = day.make.token(day.make.user("admin"))
    job = client.post("/api/v1/jobs", json={"name": "check_tasks"}, headers=admin)
    assert job.status_code == 202, job.json
    assert day.get(VisitTask, later.id).reason["rule_id"] == "cn.qualification"
    assert day.get(VisitTask, day.tasks[0].id).status == "assigned"  # still valid today


def test_a_visit_made_withdraws_the_debtors_other_tasks_inside_the_frequency_window(client, day):
    soon = day.task(day.cases[0], 9, visit_date=TODAY + timedelta(days=3))
    assert check_in(client, day, day.tasks[0]).status_code == 201
    assert day.get(VisitTask, soon.id).reason["rule_id"] == "cn.frequency_cap"


# ---------------------------------------------------------------- refused supervisor actions


def test_a_refused_manual_move_is_kept_on_the_audit_log(client, day, make):
    lapsed = make.trained_crew(day.team, modules=())
    response = client.post(
        f"/api/v1/tasks/{day.tasks[0].id}/assign", json={"crew": lapsed.code, "reason": "try"}, headers=day.sup
    )
    assert response.status_code == 422 and response.json["error"]["rule_id"] == "cn.qualification"
    with day.app.app_context():
        event = day.db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "task.assign_refused")).one()
        assert "cn.qualification" in event.changes and event.actor_role == "supervisor"
    assert day.get(VisitTask, day.tasks[0].id).crew_id == day.crew.id


def test_a_refused_unassign_is_kept_on_the_audit_log(client, day):
    check_in(client, day, day.tasks[0])
    response = client.post(f"/api/v1/tasks/{day.tasks[0].id}/unassign", json={"reason": "x"}, headers=day.sup)
    assert response.status_code == 409
    with day.app.app_context():
        assert day.db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "task.unassign_refused")).one()


# ---------------------------------------------------------------- what the auditor sees


def test_the_visit_log_shows_the_time_judged_the_servers_receipt_and_the_phones_clock(client, day):
    day.clock.set(local(11))
    event = {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-audit", at=local(10, 5))}
    day.sync(client, [event], device_time=local(11) - timedelta(minutes=2))  # the phone runs 2 min slow
    auditor = day.make.token(day.make.user("auditor"))
    visit = client.get("/api/v1/audit/visits", headers=auditor).json["items"][0]
    assert at(visit["check_in"]["at"]) == local(10, 7)
    assert at(visit["check_in"]["received_at"]) == local(11)
    assert at(visit["check_in"]["device_at"]) == local(10, 5)
    assert visit["check_in"]["time_basis"] == "device_corrected"
    csv_text = client.get("/api/v1/audit/visits?format=csv", headers=auditor).get_data(as_text=True)
    header = csv_text.splitlines()[0].split(",")
    assert {"check_in_at", "check_in_received_at", "check_in_device_at", "check_in_time_basis"} <= set(header)


def test_a_time_from_an_offline_batch_is_the_judged_one_never_the_phones(client, day):
    """Both clocks: an accepted offline check-in is stored at its corrected time."""
    day.clock.set(local(12))
    event = {"type": "check_in", "task_id": day.tasks[0].id, **day.position("evt-fast", at=local(12, 30))}
    result = day.sync(client, [event], device_time=local(12, 40)).json["results"][0]  # 40 min fast
    assert at(result["judged_at"]) == local(11, 50) and result["time_basis"] == "device_corrected"
    assert at(result["visit"]["check_in_at"]) == local(11, 50)
    assert time(11, 50) == at(result["judged_at"]).astimezone(SHANGHAI).time()
