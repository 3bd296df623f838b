"""Auditors pull the audit events, export them, verify the chain and anchor its daily head."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import audit
from app.models import AuditEvent
from app.services import audit_log
from tests.conftest import TEST_NOW


@pytest.fixture()
def people(make):
    team = make.team(code="TEAM-A")
    crew = make.crew(team=team, members=0, code="K-A")
    agent = make.user("agent", username="agent-a")
    collector = make.collector(team=team, crew=crew, user=agent, code="COL-A")
    make.collector(team=team, crew=crew, code="COL-NO-ACCOUNT")
    auditor = make.user("auditor", username="the-auditor")
    admin = make.user("admin", username="the-admin")
    return {
        "agent": agent,
        "collector": collector,
        "auditor": auditor,
        "admin": admin,
        "headers": make.token(auditor),
        "admin_headers": make.token(admin),
    }


def write(app, db, action, at=None, clock=None, **kw):
    """Record an event; with ``clock`` and ``at``, the server's clock shows ``at`` meanwhile."""
    with app.app_context():
        if clock is not None and at is not None:
            clock.set(at)
        audit.record(action, **kw)
        db.session.commit()
        if clock is not None:
            clock.set(TEST_NOW)


def actions(app, db, **criteria):
    with app.app_context():
        stmt = sa.select(AuditEvent).order_by(AuditEvent.seq)
        for name, value in criteria.items():
            stmt = stmt.where(getattr(AuditEvent, name) == value)
        return db.session.scalars(stmt).all()


def pull(client, people, query="", headers=None):
    response = client.get(f"/api/v1/audit/events{query}", headers=headers or people["headers"])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


# ---------------------------------------------------------------- pages and filters


def test_an_auditor_pages_through_every_event_in_chain_order(app, db, client, people):
    for i in range(7):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    seen, after = [], None
    while True:
        page = pull(client, people, f"?limit=3{'' if after is None else f'&after={after}'}").json
        seen += [item["seq"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == list(range(1, 8))


def test_an_event_answers_who_what_when_where_and_its_links(app, db, client, people):
    write(
        app,
        db,
        "case.updated",
        entity_type="cases",
        entity_id=12,
        actor=people["agent"],
        before={"priority": 1, "phone": "13800001111"},
        after={"priority": 9, "phone": "13900002222"},
        lat=31.2,
        lon=121.4,
    )
    item = pull(client, people, "?action=case.updated").json["items"][0]
    assert item["actor_user_id"] == people["agent"].id and item["actor_username"] == "agent-a"
    assert item["actor_role"] == "agent" and item["entity_type"] == "cases" and item["entity_id"] == "12"
    assert item["changes"]["after"] == {"priority": 9, "phone": "139****2222"}
    assert (item["lat"], item["lon"]) == (31.2, 121.4)
    assert item["prev_hash"] == audit.GENESIS_HASH and len(item["hash"]) == 64
    assert datetime.fromisoformat(item["occurred_at"]).utcoffset() == timedelta(0)


def test_events_are_filtered_by_action_entity_and_actor(app, db, client, people):
    write(app, db, "case.updated", entity_type="cases", entity_id=1, actor=people["admin"])
    write(app, db, "case.updated", entity_type="cases", entity_id=2, actor=people["agent"])
    write(app, db, "debtor.updated", entity_type="debtors", entity_id=1, actor=people["agent"])

    def seqs(query):
        return [item["seq"] for item in pull(client, people, query).json["items"]]

    assert seqs("?action=case.updated") == [1, 2]
    assert seqs("?entity_type=cases&entity_id=2") == [2]
    assert seqs("?entity_type=debtors") == [3]
    assert seqs(f"?actor={people['agent'].id}") == [2, 3]
    assert seqs(f"?actor={people['agent'].id}&action=case.updated") == [2]
    assert seqs("?action=nothing.like.this") == []


def test_the_collector_filter_finds_what_their_agent_account_did(app, db, client, people):
    write(app, db, "visit.checked_in", entity_type="visits", entity_id=1, actor=people["agent"])
    write(
        app, db, "collector.updated", entity_type="collectors", entity_id=people["collector"].id, actor=people["admin"]
    )
    page = pull(client, people, "?collector=COL-A").json
    assert [item["action"] for item in page["items"]] == ["visit.checked_in"]
    # Events about the collector are found by entity instead.
    about = pull(client, people, f"?entity_type=collectors&entity_id={people['collector'].id}").json
    assert [item["action"] for item in about["items"]] == ["collector.updated"]
    for unknown in ("COL-NO-ACCOUNT", "NO-SUCH-COLLECTOR"):
        assert pull(client, people, f"?collector={unknown}").json == {"items": [], "next_after": None}


def test_a_time_range_is_on_when_the_event_occurred_and_a_day_as_its_end_includes_that_day(
    app, db, client, people, clock
):
    for stamp in (
        "2026-02-28T23:59:59+00:00",
        "2026-03-01T00:00:00+00:00",
        "2026-03-31T23:59:59.999999+00:00",
        "2026-04-01T00:00:00+00:00",
    ):
        write(app, db, "thing.done", at=datetime.fromisoformat(stamp), clock=clock, entity_type="things")

    def seqs(query):
        return [item["seq"] for item in pull(client, people, query).json["items"]]

    assert seqs("?from=2026-03-01&to=2026-03-31") == [2, 3]
    assert seqs("?from=2026-03-01T08:00:00%2B08:00") == [2, 3, 4]  # 08:00 in Shanghai is midnight UTC
    assert seqs("?to=2026-03-01T00:00:00Z") == [1]


# ---------------------------------------------------------------- exports


def test_an_events_export_in_csv_can_be_rehashed_link_by_link_outside_the_service(app, db, client, people):
    write(
        app,
        db,
        "case.updated",
        entity_type="cases",
        entity_id=1,
        actor=people["agent"],
        after={"notes": 'a "quoted", multi\nline note — 王芳'},
        lat=31.23,
        lon=121.47,
    )
    write(app, db, "thing.done", entity_type="things")
    response = pull(client, people, "?format=csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["seq"] for r in rows] == ["1", "2"]
    previous = audit.GENESIS_HASH

    def maybe(value, kind):
        return None if value == "" else kind(value)

    for r in rows:
        assert r["prev_hash"] == previous
        recomputed = audit.link_hash_values(
            int(r["seq"]),
            r["occurred_at"],
            maybe(r["actor_user_id"], int),
            maybe(r["actor_role"], str),
            r["action"],
            r["entity_type"],
            maybe(r["entity_id"], str),
            r["changes"],
            maybe(r["request_id"], str),
            maybe(r["client_ip"], str),
            maybe(r["lat"], float),
            maybe(r["lon"], float),
            r["prev_hash"],
        )
        assert recomputed == r["hash"]
        previous = r["hash"]
    assert rows[0]["actor_username"] == "agent-a"


def test_the_fast_csv_writer_writes_exactly_what_csv_writer_would():
    awkward = [None, "", "plain", 'say "hi"', "a,b", "line\nbreak", "cr\rhere", "王芳 é", "'quoted'", "tab\there"]
    changes = ["{}", '{"after":{"n":1}}', '{"after":{"note":"a, \\"b\\""}}', 'not json, "really"', "x\ny"]
    names = {1: "agent,one", 2: "plain"}
    batch, n = [], 0
    for role in awkward:
        for text in awkward:
            for change in changes:
                n += 1
                batch.append(
                    (
                        n,
                        datetime(2026, 3, 1, 8, 0, 0, n % 2),
                        (n % 3) or None,
                        role,
                        text or "a",
                        "things",
                        text,
                        change,
                        text,
                        text,
                        (31.0, -0.0, 1e-05, None)[n % 4],
                        121.5 if n % 2 else None,
                        "p" * 64,
                        text or "h",
                    )
                )
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    for r in batch:
        writer.writerow((r[0], r[1].isoformat() + "+00:00", *r[2:], names.get(r[2])))
    assert audit_log._events_csv(names)(batch) == expected.getvalue()


def test_an_altered_changes_text_cannot_add_keys_to_an_exported_line_or_break_a_page(app, db, client, people):
    write(app, db, "thing.done", entity_type="things", after={"i": 1})
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.exec_driver_sql("""UPDATE audit_events SET changes = '{}, "seq": 999' WHERE seq = 1""")
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()
    line = json.loads(pull(client, people, "?format=ndjson").get_data(as_text=True).splitlines()[0])
    assert line["seq"] == 1 and line["changes"] == '{}, "seq": 999'
    assert pull(client, people).json["items"][0]["changes"] == '{}, "seq": 999'


def test_an_events_export_in_ndjson_has_one_event_per_line(app, db, client, people):
    for i in range(3):
        write(app, db, "thing.done", entity_type="things", entity_id=i, after={"i": i})
    response = pull(client, people, "?format=ndjson&action=thing.done")
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[2]["changes"] == {"before": {}, "after": {"i": 2}}
    assert set(lines[0]) == set(pull(client, people).json["items"][0])


def test_an_export_resumes_after_a_sequence_and_stops_at_its_limit(app, db, client, people):
    for i in range(6):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    lines = pull(client, people, "?format=ndjson&action=thing.done&after=2&limit=3").get_data(as_text=True)
    assert [json.loads(line)["seq"] for line in lines.splitlines()] == [3, 4, 5]


def test_an_export_is_itself_logged_with_its_filters_and_row_count(app, db, client, people):
    for i in range(4):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    body = pull(client, people, "?format=csv&action=thing.done&from=2020-01-01").get_data(as_text=True)
    assert len(body.splitlines()) == 1 + 4
    exported = actions(app, db, action="audit.exported")
    assert len(exported) == 1
    event = exported[0]
    assert event.actor_user_id == people["auditor"].id and event.entity_type == "audit_events"
    extra = json.loads(event.changes)["extra"]
    assert extra == {
        "format": "csv",
        "rows": 4,
        "last": 4,
        "complete": True,
        "filters": {"action": "thing.done", "from": "2020-01-01T00:00:00+00:00"},
    }
    with app.app_context():
        assert audit.verify_chain()["ok"]


def test_an_export_the_client_abandons_is_logged_as_incomplete(app, db, client, people, monkeypatch):
    monkeypatch.setattr(audit_log, "EXPORT_BATCH", 2)
    for i in range(6):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    response = client.get("/api/v1/audit/events?format=ndjson", headers=people["headers"], buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    assert len(first.splitlines()) == 2
    response.close()
    event = actions(app, db, action="audit.exported")[0]
    extra = json.loads(event.changes)["extra"]
    assert extra["complete"] is False and extra["rows"] == 2 and extra["last"] == 2


def test_a_page_of_events_is_not_itself_logged(app, db, client, people):
    write(app, db, "thing.done", entity_type="things")
    pull(client, people)
    assert [e.action for e in actions(app, db)] == ["thing.done"]


# ---------------------------------------------------------------- verification and the daily head


def test_verify_answers_ok_with_the_head_for_an_intact_chain(app, db, client, people):
    for i in range(3):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    body = client.get("/api/v1/audit/verify", headers=people["headers"]).json
    last = actions(app, db)[-1]
    anchors = body.pop("anchors")
    assert body == {
        "ok": True,
        "checked": 3,
        "first_broken": None,
        "head": {"seq": 3, "hash": last.hash},
        "personal_values_checked": 0,
    }
    assert anchors["checked"] == 0 and anchors["latest"] is None


def test_verify_names_the_first_link_that_was_altered(app, db, client, people):
    for i in range(4):
        write(app, db, "thing.done", entity_type="things", entity_id=i)
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.exec_driver_sql("UPDATE audit_events SET entity_id = '99' WHERE seq = 3")
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()
    body = client.get("/api/v1/audit/verify", headers=people["admin_headers"]).json
    assert body["ok"] is False and body["checked"] == 2
    assert body["first_broken"]["seq"] == 3 and body["first_broken"]["what"] == "hash"


def test_the_head_of_a_day_is_the_last_link_before_the_next_day_began(app, db, client, people, clock):
    for stamp in ("2026-03-01T10:00:00+00:00", "2026-03-01T23:59:59+00:00", "2026-03-02T00:00:01+00:00"):
        write(app, db, "thing.done", at=datetime.fromisoformat(stamp), clock=clock, entity_type="things")
    events = actions(app, db)
    day = client.get("/api/v1/audit/head?date=2026-03-01", headers=people["headers"]).json
    assert day == {
        "date": "2026-03-01",
        "as_of": "2026-03-02T00:00:00+00:00",
        "seq": 2,
        "hash": events[1].hash,
        "final": True,
    }
    before_any = client.get("/api/v1/audit/head?date=2026-02-01", headers=people["headers"]).json
    assert (before_any["seq"], before_any["hash"], before_any["final"]) == (0, audit.GENESIS_HASH, True)
    # No event of a later day yet: the head so far, which may still grow.
    open_day = client.get("/api/v1/audit/head?date=2026-03-02", headers=people["headers"]).json
    assert (open_day["seq"], open_day["hash"], open_day["final"]) == (3, events[2].hash, False)
    live = client.get("/api/v1/audit/head", headers=people["headers"]).json
    assert (live["date"], live["seq"], live["hash"]) == (None, 3, events[2].hash)


def test_the_logs_clock_never_goes_backwards_so_a_final_day_head_never_moves(app, db, clock):
    write(app, db, "thing.done", at=datetime(2026, 3, 1, 12, tzinfo=UTC), clock=clock, entity_type="t")
    write(app, db, "thing.done", at=datetime(2026, 3, 2, 0, 0, 5, tzinfo=UTC), clock=clock, entity_type="t")
    with app.app_context():
        before = audit.daily_head(datetime(2026, 3, 1).date())
    # A server whose clock lags (or a transaction that began before midnight) appends now:
    # its event is stamped no earlier than the one before it.
    write(app, db, "thing.late", at=datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), clock=clock, entity_type="t")
    late = actions(app, db, action="thing.late")[0]
    assert late.occurred_at == datetime(2026, 3, 2, 0, 0, 5, tzinfo=UTC)
    with app.app_context():
        assert audit.daily_head(datetime(2026, 3, 1).date()) == before
        assert audit.verify_chain()["ok"]
    assert before["seq"] == 1 and before["final"]


def test_the_head_of_a_day_that_has_not_ended_is_refused(client, people, clock):
    today = clock().date().isoformat()
    response = client.get(f"/api/v1/audit/head?date={today}", headers=people["headers"])
    assert response.status_code == 422 and "date" in response.json["error"]["fields"]


def test_the_daily_head_is_printed_for_anchoring_from_the_command_line(app, db, clock):
    write(app, db, "thing.done", at=datetime(2026, 3, 1, 9, tzinfo=UTC), clock=clock, entity_type="t")
    write(app, db, "thing.done", at=datetime(2026, 3, 2, 9, tzinfo=UTC), clock=clock, entity_type="t")
    first = actions(app, db)[0]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "head", "--date", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["2026-03-01", "1", first.hash, "final"]
    as_json = json.loads(runner.invoke(args=["audit", "head", "--date", "2026-03-01", "--json"]).output)
    assert as_json == {
        "date": "2026-03-01",
        "as_of": "2026-03-02T00:00:00+00:00",
        "seq": 1,
        "hash": first.hash,
        "final": True,
    }
    refused = runner.invoke(args=["audit", "head", "--date", clock().date().isoformat()])
    assert refused.exit_code != 0 and "not ended" in refused.output


# ---------------------------------------------------------------- retention: nothing deletes


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "POST"])
@pytest.mark.parametrize(
    "path", ["/api/v1/audit/events", "/api/v1/audit/visits", "/api/v1/audit/verify", "/api/v1/audit/head"]
)
def test_the_api_offers_no_way_to_change_or_delete_the_log(client, people, method, path):
    response = client.open(path, method=method, headers=people["admin_headers"])
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_no_route_of_the_api_deletes_audit_events_or_visits(app):
    for rule in app.url_map.iter_rules():
        if rule.methods & {"DELETE", "PUT", "PATCH"}:
            assert "audit" not in rule.rule and "visit" not in rule.rule and "recording" not in rule.rule, rule.rule
