"""A whole crew's day played by the scripted phone against gunicorn, on each backend."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import TEST_NOW
from tests.phone import Phone, play_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A day of its own, clear of the demo's plan for today and the other e2e tests' days.
DAY = TEST_NOW.astimezone(SHANGHAI).date() + timedelta(days=63)


def test_a_scripted_phone_plays_a_day_and_every_event_is_recorded_once(served, e2e_clock):
    day = DAY
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": day.isoformat(), "team": "SH-CENTRAL"})
    assert status == 201, plan
    status, committed = supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    assert status == 200 and committed["status"] == "committed"

    # The server's clock follows the phone's through the day: each action is judged when it is made.
    report = play_day(
        served.url, "agent", "agent-demo-pass", day, online_stops=2, start=time(10, 0), server_clock=e2e_clock.set
    )
    assert report["stops"] >= 4
    assert [(step, status) for step, status, _ in report["online"]] == [
        ("check_in", 201),
        ("recording", 201),
        ("visit", 200),
        ("check_out", 200),
    ] * 2
    assert set(report["batch"]) == {"accepted"}
    assert set(report["batch_again"]) == {"duplicate"}

    # The served database is shared with the other e2e tests: count this day's rows only.
    # Other browser tests may work other teams on the same day: the demo agent's team only.
    day_tasks = (
        f"SELECT visit_tasks.id FROM visit_tasks JOIN cases ON cases.id = visit_tasks.case_id "
        f"JOIN teams ON teams.id = cases.team_id "
        f"WHERE visit_date = '{day.isoformat()}' AND teams.code = 'SH-CENTRAL'"
    )
    day_visits = f"SELECT id FROM visits WHERE task_id IN ({day_tasks})"
    visits = served.sql(f"SELECT count(*) FROM visits WHERE task_id IN ({day_tasks})")[0][0]
    events = served.sql(f"SELECT count(*) FROM client_events WHERE task_id IN ({day_tasks})")[0][0]
    done = served.sql(f"SELECT count(*) FROM visit_tasks WHERE status = 'done' AND id IN ({day_tasks})")
    assert visits == report["stops"] and done[0][0] == report["stops"]
    assert events == report["events_sent"]
    agreements = served.sql(f"SELECT id, total_minor FROM repayment_agreements WHERE visit_id IN ({day_visits})")
    assert len(agreements) == 1
    agreement_id, agreement_total = agreements[0]
    instalments = served.sql(f"SELECT amount_minor FROM instalments WHERE agreement_id = {agreement_id} ORDER BY seq")
    assert len(instalments) == 3 and sum(a for (a,) in instalments) == agreement_total
    assert served.sql(f"SELECT count(*) FROM recordings WHERE visit_id IN ({day_visits})")[0][0] == 2
    verify = served.flask("audit", "verify")
    assert verify.stdout.startswith("intact:")
