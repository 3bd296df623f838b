"""What one field action costs the database: the statements a check-in sends, counted
with an event listener on the engine, pinned so that a change adding a round trip to the
field path fails here (issue 22 part 1; bench/request_cost.py --trace prints them).

The phone has been seen before (its first request adds its row), as at every door but
the first of a day.
"""

from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event

from app.models import ClientEvent, ConductFlag, Visit, VisitTask
from tests.api.test_field import local

# A check-in sent online with the phone's headers, on PostgreSQL and SQLite alike: the
# token (1), the phone's contact (3: its row locked, updated, the old outbox mark kept),
# the event claimed (1), the task with its case (1), the outbox order noted (1), the crew
# with its members and trainings locked (1), the case with its debtor and team re-read
# with only the debtor locked (1), the day rules' facts (3), the crew's open visit (1),
# the collector's previous check-in (1), the task and the visit (2), the debtor's other
# tasks to re-judge (1), the event's answer (1), the audit append (on PostgreSQL 2: the
# head locked and read, then the event, its personal values and the head moved in one
# statement; on SQLite 4), and one savepoint (2). Before issue 22 it was 34, with two
# savepoints.
CHECK_IN_STATEMENTS = {"postgresql": 22, "sqlite": 24}
# The outcome after it: token, phone (3), claim, task, order, the visit, its change, the
# debtor's tasks re-judged, the answer, the audit append (2; SQLite 3: no position, so no
# personal values), the savepoint (2).
OUTCOME_STATEMENTS = {"postgresql": 15, "sqlite": 16}
# GET /api/v1/me for an agent: the token with its user, collector, team and crew (was 3).
ME_SELECTS = 1


@contextmanager
def statements(db):
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _without_harness(seen):
    """The request's statements without the test harness's: under test the session's
    transaction is a SAVEPOINT inside the test's own (tests/conftest.py), which production
    does not send."""
    if seen and seen[0].startswith("SAVEPOINT") and seen[-1] == f"RELEASE {seen[0]}":
        return seen[1:-1]
    return seen


def _known_phone(client, day):
    assert (
        client.get(f"/api/v1/agent/route?date={day.date.isoformat()}", headers=day.phone_headers()).status_code == 200
    )


def _send(client, day, path, body):
    day.seq += 1
    return client.post(path, json={**body, "seq": day.seq}, headers=day.phone_headers(seq_high=day.seq))


def test_a_check_in_sends_no_more_statements_than_pinned_and_one_savepoint(client, day, db):
    day.clock.set(local(10, 15))
    task = day.tasks[0]
    _known_phone(client, day)
    with statements(db) as seen:
        response = _send(client, day, f"/api/v1/agent/tasks/{task.id}/check-in", day.position("evt-cost-in-1"))
    assert response.status_code == 201, response.json
    work = _without_harness(seen)
    assert len(work) <= CHECK_IN_STATEMENTS[db.engine.dialect.name], "\n".join(work)
    assert sum(s.startswith("SAVEPOINT") for s in work) == 1, "\n".join(work)
    assert day.get(VisitTask, task.id).status == "checked_in"


def test_recording_the_outcome_sends_no_more_statements_than_pinned(client, day, db):
    day.clock.set(local(10, 15))
    task = day.tasks[0]
    _known_phone(client, day)
    assert (
        _send(client, day, f"/api/v1/agent/tasks/{task.id}/check-in", day.position("evt-cost-in-2")).status_code == 201
    )
    day.clock.set(local(10, 25))
    with statements(db) as seen:
        response = _send(
            client,
            day,
            f"/api/v1/agent/tasks/{task.id}/visit",
            {"client_event_id": "evt-cost-visit-2", "outcome": "not_home", "person_met": "nobody"},
        )
    assert response.status_code == 200, response.json
    work = _without_harness(seen)
    assert len(work) <= OUTCOME_STATEMENTS[db.engine.dialect.name], "\n".join(work)
    assert sum(s.startswith("SAVEPOINT") for s in work) == 1, "\n".join(work)


def test_a_refused_check_in_with_one_savepoint_leaves_only_the_event_and_its_audit(client, day, db):
    """The claim of the event id needs no savepoint of its own any more: a check-in the
    door refuses keeps its event with the refusal (and the refusal's audit event), and
    nothing of the visit — no visit, no flag, the task still assigned."""
    task = day.tasks[0]
    day.clock.set(local(22, 30))  # after the visiting hours
    before = {model: day.count(model) for model in (Visit, ConductFlag)}
    response = _send(client, day, f"/api/v1/agent/tasks/{task.id}/check-in", day.position("evt-cost-late"))
    assert response.status_code == 422 and response.json["error"]["rule_id"].endswith("visiting_hours")
    assert {model: day.count(model) for model in (Visit, ConductFlag)} == before
    assert day.get(VisitTask, task.id).status == "assigned"
    with day.app.app_context():
        stored = day.db.session.scalars(
            sa.select(ClientEvent).where(ClientEvent.client_event_id == "evt-cost-late")
        ).one()
        assert stored.status == "rejected" and stored.response["error"]["rule_id"].endswith("visiting_hours")
        assert stored.sequence_note == {"status": "in_order"}


def test_who_am_i_for_an_agent_is_one_statement(client, day, db):
    """The token, its user and the agent's collector with its team and crew in one query."""
    with statements(db) as seen:
        response = client.get("/api/v1/me", headers=day.headers)
    assert response.status_code == 200 and response.json["collector"]["crew"] == day.crew.code
    work = [s for s in _without_harness(seen) if s.startswith("SELECT")]
    assert len(work) <= ME_SELECTS, "\n".join(work)
