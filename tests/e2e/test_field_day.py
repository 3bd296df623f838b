"""A whole crew's day played by the scripted phone against gunicorn, on each backend."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.phone import Phone, play_day

SHANGHAI = ZoneInfo("Asia/Shanghai")


def a_past_working_day():
    """A day whose 10:00–11:00 in Shanghai is over, so the phone's clock is in the past."""
    now = datetime.now(SHANGHAI)
    day = now.date() if now.time() >= time(11, 30) else now.date() - timedelta(days=1)
    return day


def test_a_scripted_phone_plays_a_day_and_every_event_is_recorded_once(served):
    day = a_past_working_day()
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": day.isoformat(), "team": "SH-CENTRAL"})
    assert status == 201, plan
    status, committed = supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    assert status == 200 and committed["status"] == "committed"

    report = play_day(served.url, "agent", "agent-demo-pass", day, online_stops=2)
    assert report["stops"] >= 4
    assert [(step, status) for step, status, _ in report["online"]] == [
        ("check_in", 201), ("recording", 201), ("visit", 200), ("check_out", 200)] * 2
    assert set(report["batch"]) == {"accepted"}
    assert set(report["batch_again"]) == {"duplicate"}

    # Other tests share this server: count only what belongs to this day's tasks.
    of_day = f"SELECT id FROM visit_tasks WHERE visit_date = '{day.isoformat()}'"
    visits = served.sql(f"SELECT count(*) FROM visits WHERE task_id IN ({of_day})")[0][0]
    events = served.sql(f"SELECT count(*) FROM client_events WHERE task_id IN ({of_day})")[0][0]
    done = served.sql(f"SELECT count(*) FROM visit_tasks WHERE status = 'done' AND visit_date = '{day.isoformat()}'")
    assert visits == report["stops"] and done[0][0] == report["stops"]
    assert events == report["events_sent"]
    of_visits = f"SELECT id FROM visits WHERE task_id IN ({of_day})"
    agreement_id, agreement_total = served.sql(
        f"SELECT id, total_minor FROM repayment_agreements WHERE visit_id IN ({of_visits})")[0]
    instalments = served.sql(f"SELECT amount_minor FROM instalments WHERE agreement_id = {agreement_id} ORDER BY seq")
    assert len(instalments) == 3 and sum(a for (a,) in instalments) == agreement_total
    assert served.sql(f"SELECT count(*) FROM recordings WHERE visit_id IN ({of_visits})")[0][0] == 2
    verify = served.flask("audit", "verify")
    assert verify.stdout.startswith("intact:")
