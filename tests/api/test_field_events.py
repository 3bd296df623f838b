"""Field events: nothing the phone sends is lost, half-applied or silently dropped.

Each test stands for a way the first version lost or misanswered what a phone sent
(issue 15): it failed on that code and passes now."""

import json

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, ClientEvent, ConductFlag, Visit, VisitTask
from tests.api.test_field import HOME, check_in, iso, local


def good_check_in(day, event_id="evt-good-check-in", task=None, **kw):
    return {"type": "check_in", "task_id": (task or day.tasks[0]).id, **day.position(event_id, at=local(10), **kw)}


def results(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.json["results"]


# ---------------------------------------------------------------- every element answered


@pytest.mark.parametrize("bad_task_id", ["abc", {}, [], 2**63, -1, 0, None, 1.5, True])
def test_one_event_with_a_wrong_task_id_does_not_hold_back_the_good_one(client, day, bad_task_id):
    bad = {"type": "visit", "task_id": bad_task_id, "client_event_id": "evt-bad-task-id", "outcome": "not_home"}
    answers = results(day.sync(client, [good_check_in(day), bad]))
    assert [a["status"] for a in answers] == ["accepted", "rejected"]
    assert "task_id" in answers[1]["error"]["fields"] and answers[1]["task_id"] is None
    assert day.count(Visit) == 1


@pytest.mark.parametrize("element", ["garbage", 17, None, [1, 2], True])
def test_an_element_that_is_not_an_object_is_answered_and_the_rest_applied(client, day, element):
    response = client.post(
        "/api/v1/agent/sync",
        json={"events": [element, good_check_in(day) | {"seq": 2}]},
        headers=day.phone_headers(seq_high=2),
    )
    answers = results(response)
    assert [a["status"] for a in answers] == ["rejected", "accepted"]
    assert answers[0]["error"]["fields"] == {"_event": ["must be an object"]}
    assert day.count(Visit) == 1


def post(client, day, events):
    """A batch as it is, numbered or not, with the phone's headers."""
    return client.post("/api/v1/agent/sync", json={"events": events}, headers=day.phone_headers(seq_high=9))


@pytest.mark.parametrize(
    "element,field",
    [
        ({"type": "teleport", "task_id": 1, "client_event_id": "evt-unknown-type"}, "type"),
        ({"task_id": 1, "client_event_id": "evt-no-type-at-all"}, "type"),
        ({"type": "check_in", "client_event_id": "evt-no-task-given"}, "task_id"),
        ({"type": "check_in", "task_id": 1, "client_event_id": "evt-no-position"}, "lat"),
        ({"type": "visit", "task_id": 1, "client_event_id": "evt-huge-seq", "seq": 2**63}, "seq"),
        ({"type": "visit", "task_id": 1, "client_event_id": 12345678}, "client_event_id"),
    ],
)
def test_every_kind_of_bad_element_is_rejected_naming_its_field(client, day, element, field):
    answer = results(post(client, day, [element]))[0]
    assert answer["status"] == "rejected" and field in answer["error"]["fields"], answer


def test_only_the_body_limits_and_a_body_that_is_not_json_refuse_a_whole_batch(client, day):
    assert (
        client.post(
            "/api/v1/agent/sync", data="{not json", content_type="application/json", headers=day.phone_headers()
        ).status_code
        == 400
    )
    too_many = [{"type": "visit"}] * 501
    assert client.post("/api/v1/agent/sync", json={"events": too_many}, headers=day.phone_headers()).status_code == 422


# ---------------------------------------------------------------- stored once, answered the same


def test_an_event_refused_before_it_reaches_a_task_is_kept_and_a_resend_gets_the_same_answer(client, day):
    bad = {
        "type": "check_in",
        "task_id": day.tasks[0].id,
        "client_event_id": "evt-no-lat",
        "lon": 121.4,
        "device_time": iso(local(10)),
    }
    first = results(day.sync(client, [bad]))[0]
    again = results(day.sync(client, [bad]))[0]
    assert first["status"] == "rejected" and again["status"] == "duplicate"
    assert again["original_status"] == "rejected" and again["error"] == first["error"]
    with day.app.app_context():
        stored = day.db.session.scalars(sa.select(ClientEvent)).one()
        assert (stored.status, stored.kind) == ("rejected", "check_in")
        assert json.loads(stored.raw)["lon"] == 121.4 and stored.payload_sha256


def test_an_event_for_no_task_of_the_crew_is_kept_and_answered_the_same_on_resend(client, day):
    lost = {
        "type": "visit",
        "task_id": 999999,
        "client_event_id": "evt-no-such-task",
        "outcome": "not_home",
        "person_met": "nobody",
    }
    first = results(day.sync(client, [lost]))[0]
    assert first["status"] == "rejected" and first["http_status"] == 404
    assert results(day.sync(client, [lost]))[0]["status"] == "duplicate"
    assert day.count(ClientEvent) == 1


def test_a_resent_batch_is_answered_with_the_same_bytes_every_time(client, day):
    batch = [
        good_check_in(day, seq=1),
        {
            "type": "visit",
            "task_id": day.tasks[0].id,
            "seq": 2,
            "client_event_id": "evt-visit-x",
            "outcome": "met_debtor",
            "person_met": "debtor",
        },
        {"type": "visit", "task_id": "abc", "seq": 3, "client_event_id": "evt-visit-bad"},
    ]
    day.seq = 3
    first = day.sync(client, batch)
    second, third = day.sync(client, batch), day.sync(client, batch)
    assert second.get_data() == third.get_data()
    for before, after in zip(first.json["results"], second.json["results"]):
        assert after == {**before, "status": "duplicate", "original_status": before["status"]}


def test_an_element_without_a_usable_id_is_answered_and_counted(client, day):
    def counted():
        text = client.get("/metrics").get_data(as_text=True)
        line = next(
            (line for line in text.splitlines() if line.startswith("fieldcollect_field_events_without_id_total ")), None
        )
        return float(line.split()[1]) if line else 0.0

    before = counted()
    answers = results(
        post(client, day, [{"type": "visit", "task_id": day.tasks[0].id}, "garbage", {"client_event_id": "short"}])
    )
    assert [a["status"] for a in answers] == ["rejected"] * 3
    assert all(a["client_event_id"] is None for a in answers)
    assert counted() - before == 3
    assert day.count(ClientEvent) == 0


# ---------------------------------------------------------------- same id, other content


def test_the_same_id_with_another_outcome_is_a_conflict_and_the_first_stands(client, day):
    assert check_in(client, day, day.tasks[0]).status_code == 201
    first = {
        "type": "visit",
        "task_id": day.tasks[0].id,
        "client_event_id": "evt-outcome-1",
        "outcome": "not_home",
        "person_met": "nobody",
    }
    other = {**first, "outcome": "refused", "person_met": "debtor"}
    assert results(day.sync(client, [first]))[0]["status"] == "accepted"
    answer = results(day.sync(client, [other]))[0]
    assert answer["status"] == "conflict" and answer["error"]["code"] == "event_payload_mismatch"
    assert answer["error"]["first_payload_sha256"] != answer["error"]["this_payload_sha256"]
    with day.app.app_context():
        assert day.db.session.scalars(sa.select(Visit.outcome)).one() == "not_home"
        flag = day.db.session.scalars(sa.select(ConductFlag).where(ConductFlag.kind == "event_payload_mismatch")).one()
        assert flag.rule_id == "cn.event_payload_mismatch"
        assert {flag.details["first"], flag.details["this"]} == {
            answer["error"]["first_payload_sha256"],
            answer["error"]["this_payload_sha256"],
        }
        event = day.db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "field.event_payload_mismatch")
        ).one()
        assert answer["error"]["this_payload_sha256"] in event.changes
    # The same other content again: the same answer, and no second flag.
    assert results(day.sync(client, [other]))[0] == {**answer, "index": 0}
    assert day.count(ConductFlag) == 1
    # The first content again is still a plain duplicate.
    assert results(day.sync(client, [first]))[0]["status"] == "duplicate"


def test_the_same_id_with_a_check_in_55_km_away_is_a_conflict_also_online(client, day):
    assert check_in(client, day, day.tasks[0], event_id="evt-where-1").status_code == 201
    response = check_in(client, day, day.tasks[0], event_id="evt-where-1", lat=HOME[0] + 0.5)
    assert response.status_code == 409 and response.json["error"]["code"] == "event_payload_mismatch"
    assert response.json["error"]["details"]["status"] == "conflict"
    with day.app.app_context():
        visit = day.db.session.scalars(sa.select(Visit)).one()
        assert visit.check_in_lat == HOME[0]  # the first stands
    assert day.count(ConductFlag) == 1


def test_a_resend_of_the_same_content_with_its_number_and_a_new_clock_reading_is_a_duplicate(client, day):
    event = good_check_in(day, seq=1)
    day.seq = 1
    assert results(day.sync(client, [event]))[0]["status"] == "accepted"
    day.clock.advance(minutes=30)
    assert results(day.sync(client, [event]))[0]["status"] == "duplicate"


# ---------------------------------------------------------------- order per phone


def test_a_gap_in_the_phones_numbers_is_answered_and_recorded(client, day):
    first = results(day.sync(client, [good_check_in(day, seq=1)]))[0]
    assert first["sequence"] == {"status": "in_order"}
    later = {
        "type": "visit",
        "task_id": day.tasks[0].id,
        "seq": 5,
        "client_event_id": "evt-after-gap",
        "outcome": "not_home",
        "person_met": "nobody",
    }
    day.seq = 5
    answer = results(day.sync(client, [later]))[0]
    assert answer["status"] == "accepted" and answer["sequence"] == {"status": "gap", "missing": [2, 4]}
    with day.app.app_context():
        gap = day.db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "field.sequence_gap")).one()
        assert json.loads(gap.changes)["extra"] == {"missing": [2, 4], "seq": 5}


def test_a_number_arriving_after_a_higher_one_is_applied_where_it_arrives_and_answered_late(client, day):
    check_out = {
        "type": "check_out",
        "task_id": day.tasks[0].id,
        "seq": 3,
        **day.position("evt-out-first", at=local(10, 30)),
    }
    check_in_ = good_check_in(day, seq=2)
    day.seq = 3
    answers = results(day.sync(client, [check_out, check_in_]))
    assert [a["status"] for a in answers] == ["rejected", "accepted"]  # never silently re-ordered
    assert answers[0]["error"]["code"] == "not_checked_in"
    assert answers[1]["sequence"] == {"status": "late", "after": 3}


def test_a_recording_takes_its_place_in_the_phones_sequence(client, day):
    import hashlib
    import io

    results(day.sync(client, [good_check_in(day, seq=1)]))
    content = b"OggS" + b"\x01" * 3000
    day.seq = 2
    response = client.post(
        "/api/v1/agent/recordings",
        headers=day.phone_headers(),
        content_type="multipart/form-data",
        data={
            "file": (io.BytesIO(content), "a.ogg", "audio/ogg"),
            "task_id": str(day.tasks[0].id),
            "sha256": hashlib.sha256(content).hexdigest(),
            "duration_seconds": "90",
            "seq": "2",
        },
    )
    assert response.status_code == 201
    answer = results(
        day.sync(
            client,
            [
                {
                    "type": "check_out",
                    "task_id": day.tasks[0].id,
                    "seq": 3,
                    **day.position("evt-out-after-rec", at=local(10, 30)),
                }
            ],
        )
    )[0]
    assert answer["sequence"] == {"status": "in_order"}


# ---------------------------------------------------------------- the contract


def test_the_phones_answers_are_typed_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    sync = schemas["SyncOut"]["properties"]
    assert sync["results"]["items"]["$ref"].endswith("/FieldEventOut")
    event = schemas["FieldEventOut"]["properties"]
    for name in ("visit", "agreement", "error", "sequence"):
        assert "$ref" in event[name] or "allOf" in event[name], (name, event[name])
    assert event["flags"]["items"]["$ref"].endswith("/ConductFlagBriefOut")
    free = [name for name, prop in event.items() if prop.get("type") == "object" and "properties" not in prop]
    assert free == []


def test_stored_tasks_are_unchanged_by_refused_elements(client, day):
    before = day.get(VisitTask, day.tasks[0].id).status
    day.sync(
        client,
        [
            {
                "type": "check_in",
                "task_id": day.tasks[0].id,
                "client_event_id": "evt-bad-lat",
                "lat": 95,
                "lon": 121.0,
                "device_time": iso(local(10)),
            }
        ],
    )
    assert day.get(VisitTask, day.tasks[0].id).status == before == "assigned"


def test_a_nul_character_in_one_element_is_that_elements_problem_not_the_batchs(client, day):
    bad = {
        "type": "visit",
        "task_id": day.tasks[0].id,
        "seq": 1,
        "client_event_id": "evt-with-nul",
        "outcome": "not\x00home",
    }
    answers = results(post(client, day, [bad, good_check_in(day) | {"seq": 2}]))
    assert [a["status"] for a in answers] == ["rejected", "accepted"]
    assert answers[0]["error"]["fields"] == {"outcome": ["must not contain a NUL character"]}
    assert results(post(client, day, [bad]))[0]["status"] == "duplicate"  # kept, though PostgreSQL stores no NUL
