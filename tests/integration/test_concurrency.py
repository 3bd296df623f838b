"""Real concurrent requests (threads, each its own connection and transaction) on a
database that really commits: one winner per task, capacity holds, one payment per
reference, one record per client event."""

import threading
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    ApiToken,
    Case,
    ClientEvent,
    Collector,
    ContactAttempt,
    Crew,
    Debtor,
    Payment,
    Region,
    Team,
    TrainingRecord,
    User,
    Visit,
    VisitTask,
)
from tests.conftest import TEST_NOW

TODAY = TEST_NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
DAY = TODAY + timedelta(days=1)


@pytest.fixture()
def live(migrated_app):
    """A migrated database with a team, three crews and open tasks, all committed."""
    app = migrated_app
    with app.app_context():
        region = Region(code="SH", name="Shanghai", timezone="Asia/Shanghai")
        db.session.add(region)
        db.session.flush()
        team = Team(code="T", name="T", region_id=region.id)
        db.session.add(team)
        db.session.flush()
        crews = []
        for k in range(3):
            crew = Crew(code=f"K{k}", name=f"K{k}", team_id=team.id)
            db.session.add(crew)
            db.session.flush()
            for n in range(2):
                member = Collector(
                    code=f"C{k}{n}",
                    name="c",
                    team_id=team.id,
                    crew_id=crew.id,
                    home_lat=31.23,
                    home_lon=121.47,
                    languages=["zh"],
                    shift_start=time(8),
                    shift_end=time(21),
                    daily_capacity=3,
                    background_cleared=True,
                )
                db.session.add(member)
                db.session.flush()
                for module in ("law_compliance", "communication"):
                    db.session.add(
                        TrainingRecord(
                            collector_id=member.id,
                            module=module,
                            passed_at=TODAY - timedelta(days=10),
                            expires_at=TODAY + timedelta(days=300),
                        )
                    )
            crews.append(crew)
        tasks = []
        for n in range(8):
            debtor = Debtor(
                name=f"D{n}",
                address="x",
                lat=31.23 + n / 500,
                lon=121.48,
                timezone="Asia/Shanghai",
                availability=[],
                flags={},
            )
            db.session.add(debtor)
            db.session.flush()
            case = Case(
                loan_ref=f"L{n}",
                debtor_id=debtor.id,
                team_id=team.id,
                product="p",
                currency="CNY",
                principal_minor=100000,
                outstanding_minor=100000,
                days_past_due=40,
                stage="field_visit",
            )
            db.session.add(case)
            db.session.flush()
            db.session.add(
                ContactAttempt(
                    case_id=case.id,
                    channel="call",
                    purpose="contact",
                    result="no_answer",
                    occurred_at=TEST_NOW - timedelta(days=2),
                )
            )
            task = VisitTask(case_id=case.id, visit_date=DAY, status="open", priority=10)
            db.session.add(task)
            tasks.append(task)
        from app.auth import hash_password

        supervisors = [
            User(
                username=f"sup{i}",
                password_hash=hash_password("x" * 12),
                role="supervisor",
                team_id=team.id,
                active=True,
            )
            for i in range(2)
        ]
        admin = User(username="admin", password_hash=hash_password("x" * 12), role="admin", active=True)
        db.session.add_all([*supervisors, admin])
        db.session.commit()
        ids = {
            "crews": [c.code for c in crews],
            "crew_ids": [c.id for c in crews],
            "tasks": [t.id for t in tasks],
            "cases": [t.case_id for t in tasks],
            "loan_refs": [f"L{n}" for n in range(8)],
            "supervisors": [s.id for s in supervisors],
            "admin": admin.id,
        }
    tokens = {}
    for key, user_id in [("sup0", ids["supervisors"][0]), ("sup1", ids["supervisors"][1]), ("admin", ids["admin"])]:
        tokens[key] = _token(app, user_id)
    return app, ids, tokens


def _token(app, user_id):
    import secrets

    from app.auth import _token_digest

    raw = secrets.token_urlsafe(24)
    with app.app_context():
        db.session.add(
            ApiToken(user_id=user_id, token_hash=_token_digest(raw), expires_at=TEST_NOW + timedelta(hours=1))
        )
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def at_once(calls):
    """Run the calls in threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_two_supervisors_moving_the_same_task_at_once_one_wins_the_other_is_told(live):
    app, ids, tokens = live
    task = ids["tasks"][0]

    def move(who, crew):
        return lambda: (
            app.test_client()
            .post(
                f"/api/v1/tasks/{task}/assign",
                headers=tokens[who],
                json={"crew": crew, "reason": who, "from_crew": None},
            )
            .status_code
        )

    statuses = at_once([move("sup0", ids["crews"][0]), move("sup1", ids["crews"][1])])
    assert sorted(statuses) == [200, 409]
    with app.app_context():
        final = db.session.get(VisitTask, task)
        assert final.crew_id == ids["crew_ids"][statuses.index(200)]


def test_parallel_moves_onto_one_crew_never_exceed_its_capacity(live):
    app, ids, tokens = live
    crew = ids["crews"][2]  # capacity 3

    def move(task):
        return lambda: (
            app.test_client()
            .post(f"/api/v1/tasks/{task}/assign", headers=tokens["sup0"], json={"crew": crew, "reason": "rush"})
            .status_code
        )

    statuses = at_once([move(t) for t in ids["tasks"][:6]])
    assert statuses.count(200) == 3 and statuses.count(409) == 3
    assert count(app, VisitTask, VisitTask.crew_id == ids["crew_ids"][2]) == 3


def test_parallel_payments_with_the_same_reference_record_one_payment(live):
    app, ids, tokens = live

    def pay():
        return (
            app.test_client()
            .post(
                "/api/v1/payments",
                headers=tokens["admin"],
                json={
                    "reference": "BANK-42",
                    "loan_ref": ids["loan_refs"][0],
                    "amount": "250.00",
                    "currency": "CNY",
                    "paid_at": "2026-11-20T10:00:00+08:00",
                },
            )
            .status_code
        )

    statuses = at_once([pay for _ in range(6)])
    assert sorted(statuses) == [200] * 5 + [201]
    assert count(app, Payment) == 1
    with app.app_context():
        assert db.session.get(Case, ids["cases"][0]).outstanding_minor == 100000 - 25000


def test_the_same_offline_batch_sent_from_two_connections_at_once_is_recorded_once(live):
    app, ids, tokens = live
    with app.app_context():
        task = db.session.get(VisitTask, ids["tasks"][7])
        task.crew_id, task.status, task.crew_history = ids["crew_ids"][0], "assigned", [ids["crew_ids"][0]]
        task.visit_date = TODAY
        agent = User(username="agent", password_hash="x", role="agent", active=True)
        db.session.add(agent)
        db.session.flush()
        member = db.session.scalars(sa.select(Collector).where(Collector.crew_id == ids["crew_ids"][0])).first()
        member.user_id = agent.id
        debtor = task.case.debtor
        lat, lon, agent_id = debtor.lat, debtor.lon, agent.id
        db.session.commit()
    # The phone's first contact ever, three times at once: one row for the phone, one visit.
    headers = {
        **_token(app, agent_id),
        "X-Device-Id": "phone-race-0001",
        "X-Device-Time": TEST_NOW.isoformat(),
        "X-Device-Seq": "2",
    }
    events = [
        {
            "type": "check_in",
            "task_id": ids["tasks"][7],
            "client_event_id": "race-check-in",
            "seq": 1,
            "lat": lat,
            "lon": lon,
            "accuracy_m": 5.0,
            "device_time": TEST_NOW.isoformat(),
        },
        {
            "type": "visit",
            "task_id": ids["tasks"][7],
            "client_event_id": "race-visit",
            "seq": 2,
            "outcome": "not_home",
            "person_met": "nobody",
        },
    ]

    def send():
        response = app.test_client().post("/api/v1/agent/sync", headers=headers, json={"events": events})
        body = response.json
        return response.status_code, [r["status"] for r in body["results"]] if "results" in body else body

    results = at_once([send, send, send])
    assert all(status == 200 for status, _ in results), results
    assert sorted(r for _, answers in results for r in answers) == ["accepted"] * 2 + ["duplicate"] * 4
    assert count(app, Visit) == 1 and count(app, ClientEvent) == 2


def _agent_on(app, crew_id, username):
    with app.app_context():
        agent = User(username=username, password_hash="x", role="agent", active=True)
        db.session.add(agent)
        db.session.flush()
        member = db.session.scalars(
            sa.select(Collector).where(Collector.crew_id == crew_id, Collector.user_id.is_(None))
        ).first()
        member.user_id = agent.id
        db.session.commit()
        return agent.id


def _check_in(app, headers, task_id, lat, lon, event_id):
    return lambda: app.test_client().post(
        f"/api/v1/agent/tasks/{task_id}/check-in",
        headers=headers,
        json={
            "client_event_id": event_id,
            "lat": lat,
            "lon": lon,
            "accuracy_m": 5.0,
            "device_time": TEST_NOW.isoformat(),
        },
    )


def test_two_crews_checking_in_at_one_debtors_door_at_once_one_wins(live):
    """Two cases of one debtor, on two crews' routes the same day: only one visit happens."""
    app, ids, _ = live
    with app.app_context():
        first = db.session.get(VisitTask, ids["tasks"][0])
        second = db.session.get(VisitTask, ids["tasks"][1])
        second.case.debtor_id = first.case.debtor_id  # the same debtor behind both loans
        for task, crew in ((first, ids["crew_ids"][0]), (second, ids["crew_ids"][1])):
            task.crew_id, task.status, task.crew_history, task.visit_date = crew, "assigned", [crew], TODAY
        debtor = first.case.debtor
        lat, lon = debtor.lat, debtor.lon
        db.session.commit()
    heads = [_token(app, _agent_on(app, ids["crew_ids"][k], f"door-{k}")) for k in range(2)]
    responses = at_once(
        [
            _check_in(app, heads[0], ids["tasks"][0], lat, lon, "door-check-in-0"),
            _check_in(app, heads[1], ids["tasks"][1], lat, lon, "door-check-in-1"),
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 422], [r.json for r in responses]
    loser = next(r for r in responses if r.status_code == 422)
    assert loser.json["error"]["rule_id"] == "cn.frequency_cap"
    assert count(app, Visit) == 1


def test_two_phones_of_one_crew_checking_in_at_two_doors_at_once_one_wins(live):
    app, ids, _ = live
    with app.app_context():
        places = []
        for n in (2, 3):
            task = db.session.get(VisitTask, ids["tasks"][n])
            crew = ids["crew_ids"][2]
            task.crew_id, task.status, task.crew_history, task.visit_date = crew, "assigned", [crew], TODAY
            places.append((task.case.debtor.lat, task.case.debtor.lon))
        db.session.commit()
    heads = [_token(app, _agent_on(app, ids["crew_ids"][2], f"phone-{k}")) for k in range(2)]
    responses = at_once([_check_in(app, heads[k], ids["tasks"][2 + k], *places[k], f"two-doors-{k}") for k in range(2)])
    assert sorted(r.status_code for r in responses) == [201, 422], [r.json for r in responses]
    assert next(r for r in responses if r.status_code == 422).json["error"]["rule_id"] == "cn.one_visit_at_a_time"
    assert count(app, Visit) == 1


def within(seconds, call):
    """``call()``'s result, or a failure if it has not answered within ``seconds``."""
    result, done = {}, threading.Event()

    def run():
        try:
            result["value"] = call()
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(seconds), f"no answer within {seconds} s"
    return result["value"]


@pytest.fixture()
def held_solve(monkeypatch):
    """The engine's first solve (a plan's) held until the test releases it: (solving, release)
    events. Later solves (a manual move's check, a plan's second solve) run at once."""
    import dispatch as engine

    solving, release, real = threading.Event(), threading.Event(), engine.solve

    def solve(problem, **kwargs):
        if not solving.is_set():
            solving.set()
            release.wait(60)
        return real(problem, **kwargs)

    monkeypatch.setattr(engine, "solve", solve)
    yield solving, release
    release.set()


def test_readers_and_writers_are_answered_while_a_plan_is_being_solved(live, held_solve):
    app, ids, tokens = live
    solving, release = held_solve
    answers = {}

    def make_plan():
        answers["plan"] = app.test_client().post(
            "/api/v1/dispatch/plans", headers=tokens["sup0"], json={"date": DAY.isoformat(), "team": "T"}
        )

    planner = threading.Thread(target=make_plan)
    planner.start()
    try:
        assert solving.wait(30), "the plan never reached the engine"
        board = within(
            10, lambda: app.test_client().get(f"/api/v1/board?date={DAY.isoformat()}&team=T", headers=tokens["sup1"])
        )
        assert board.status_code == 200, board.json
        moved = within(
            10,
            lambda: app.test_client().post(
                f"/api/v1/tasks/{ids['tasks'][0]}/assign",
                headers=tokens["sup1"],
                json={"crew": ids["crews"][0], "reason": "urgent"},
            ),
        )
        assert moved.status_code == 200, moved.json
    finally:
        release.set()
        planner.join(60)
    assert answers["plan"].status_code == 201, answers["plan"].json
    assert answers["plan"].json["status"] == "draft"


def test_a_reader_is_answered_while_a_writer_holds_the_write_lock(live):
    """On SQLite a GET begins deferred: it reads beside a writer (a long import, a plan's draft)
    instead of queueing behind it for the write lock. (A read that shows personal data writes
    its audit event, so it does wait for the writer: see the test below.)"""
    app, ids, tokens = live
    job = app.test_client().post("/api/v1/jobs", headers=tokens["admin"], json={"name": "evaluate_agreements"}).json
    with app.app_context():
        writer = db.engine.connect()
        transaction = writer.begin()  # outside a request: a writer, BEGIN IMMEDIATE on SQLite
        writer.execute(sa.update(Team).where(Team.code == "T").values(name="Renamed"))
        try:
            polled = within(10, lambda: app.test_client().get(f"/api/v1/jobs/{job['id']}", headers=tokens["admin"]))
            teams = within(10, lambda: app.test_client().get("/api/v1/teams", headers=tokens["sup1"]))
        finally:
            transaction.rollback()
            writer.close()
    assert polled.status_code == 200 and polled.json["status"] == "finished"
    assert teams.status_code == 200 and "Renamed" not in teams.text  # the writer's change is unseen until it commits


def test_reads_that_log_personal_data_beside_parallel_payments_all_answer_and_the_chain_holds(live):
    """A GET that records what it showed begins as a reader and becomes a writer at its first
    write: beside writers it still queues for the lock rather than failing, and the audit chain
    it appends to has no fork or gap."""
    from app.audit import verify_chain

    app, ids, tokens = live

    def read(case_id):
        return lambda: app.test_client().get(f"/api/v1/cases/{case_id}", headers=tokens["admin"]).status_code

    def pay(n):
        return lambda: (
            app.test_client()
            .post(
                "/api/v1/payments",
                headers=tokens["admin"],
                json={
                    "reference": f"BANK-{n}",
                    "loan_ref": ids["loan_refs"][n],
                    "amount": "10.00",
                    "currency": "CNY",
                    "paid_at": "2026-11-20T10:00:00+08:00",
                },
            )
            .status_code
        )

    statuses = at_once([read(c) for c in ids["cases"][:6]] + [pay(n) for n in range(4)])
    assert statuses == [200] * 6 + [201] * 4
    assert count(app, Payment) == 4
    with app.app_context():
        result = verify_chain()
    assert result["ok"], result


def test_the_answer_to_an_in_process_job_arrives_before_the_job_has_finished(live, monkeypatch):
    import json
    import urllib.request

    from werkzeug.serving import make_server

    from app import jobs
    from app.models import Job

    app, ids, tokens = live
    started, release, real = threading.Event(), threading.Event(), jobs.JOBS["evaluate_agreements"]

    def slow(params, job=None):
        started.set()
        release.wait(60)
        return real(params, job)

    monkeypatch.setitem(jobs.JOBS, "evaluate_agreements", slow)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/api/v1"

    def call(method, path, body=None):
        request = urllib.request.Request(
            base + path,
            method=method,
            headers={**tokens["admin"], "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())

    try:
        status, submitted = call("POST", "/jobs", {"name": "evaluate_agreements"})
        assert status == 202 and not release.is_set()  # answered while the job could not have finished
        assert started.wait(10), "the job never started after its answer"
        assert call("GET", f"/jobs/{submitted['id']}")[1]["status"] == "running"
        release.set()
        finished = threading.Event()
        for _ in range(100):
            if call("GET", f"/jobs/{submitted['id']}")[1]["status"] == "finished":
                finished.set()
                break
            finished.wait(0.1)
        assert finished.is_set()
        with app.app_context():
            assert "date" in db.session.get(Job, submitted["id"]).result
    finally:
        release.set()
        server.shutdown()
