"""A waiver asked at the door above the agent's limit, decided on the board, and the
answer on the agent's phone (Chromium against gunicorn on each backend): the supervisor's
side needs a note, the decision closes the flag that asked for it, and the agent reads the
reason on the stop. On team SH-NORTHWEST with agent accounts of its own, a day no other
browser test plans for that team."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_field_app import media_browser, phone_page, shot  # noqa: F401 (fixtures)
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = TEST_NOW.astimezone(SHANGHAI).date() + timedelta(days=63)
AGENT = ("agent-nw", "agent-nw-pass-1")


def ask_waiver(served, e2e_clock):
    """Plan SH-NORTHWEST's day, give a member of a crew with stops an agent account, and
    ask at its first door for a waiver a supervisor must decide."""
    e2e_clock.set(TEST_NOW)
    admin = Phone(served.url, clock=e2e_clock.now)
    admin.login("admin", "admin-demo-pass")
    status, plan = admin.call("POST", "/api/v1/dispatch/plans", {"date": DAY.isoformat(), "team": "SH-NORTHWEST"})
    assert status == 201, plan
    assert admin.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")[0] == 200
    crew = next(r["crew"] for r in plan["routes"] if r["stops"])
    assert admin.call("POST", "/api/v1/users", {"username": AGENT[0], "password": AGENT[1], "role": "agent"})[0] == 201
    _, collectors = admin.call("GET", "/api/v1/collectors?limit=200&team=SH-NORTHWEST")
    member = next(c for c in collectors["items"] if c["crew"] == crew)
    assert admin.call("PATCH", f"/api/v1/collectors/{member['id']}", {"user": AGENT[0]})[0] == 200
    e2e_clock.set(datetime.combine(DAY, time(10), SHANGHAI))
    admin.login("admin", "admin-demo-pass")  # a token of that day
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login(*AGENT)
    stop = next(s for s in agent.route(DAY)["stops"] if s["status"] == "assigned")
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{stop['task_id']}/check-in",
        {
            "client_event_id": f"waiver-e2e-in-{stop['task_id']}",
            "lat": stop["debtor"]["lat"],
            "lon": stop["debtor"]["lon"],
            "accuracy_m": 5.0,
            "device_time": e2e_clock.now().isoformat(),
        },
    )
    assert status == 201, answer
    due = Decimal(stop["case"]["amount_due"])
    waiver = (due * Decimal("0.3")).quantize(Decimal("0.01"))
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{stop['task_id']}/visit",
        {
            "client_event_id": f"waiver-e2e-visit-{stop['task_id']}",
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "agreement": {
                "kind": "promise",
                "total": str((due - waiver).quantize(Decimal("0.01"))),
                "waiver": str(waiver),
                "due_date": (DAY + timedelta(days=7)).isoformat(),
                "acknowledgement": {"kind": "otp", "ref": "OTP-7788"},
            },
        },
    )
    assert status == 200 and answer["agreement"]["status"] == "pending_approval", answer
    return stop, answer["agreement"]["id"], admin


def test_a_waiver_refused_on_the_board_closes_its_flag_and_shows_on_the_phone(served, new_page, phone_page, e2e_clock):  # noqa: F811,E501
    stop, agreement_id, admin = ask_waiver(served, e2e_clock)
    board = new_page(viewport=DESKTOP)
    board.goto(served.url + "/board")
    board.fill("input[name=username]", "admin")
    board.fill("input[name=password]", "admin-demo-pass")
    board.click("#signin-form button[type=submit]")
    board.wait_for_selector("#board:not([hidden])")
    board.select_option("#scope", "team:SH-NORTHWEST")
    board.click(".tabs [data-tab=attention]")
    item = board.locator(f".item.approval[data-agreement='{agreement_id}']")
    item.locator("summary").click()
    item.locator("button", has_text="Reject").click()
    expect(board.locator("#toast")).to_contain_text("Write a note first")  # no decision without its note
    item.locator("input[aria-label=notes]").fill("Bring the hospital bill first")
    item.locator("button", has_text="Reject").click()
    expect(board.locator(f".item.approval[data-agreement='{agreement_id}']")).to_have_count(0)
    status, flags = admin.call("GET", "/api/v1/conduct/flags?kind=waiver_above_limit")
    flag = next(f for f in flags["items"] if f["details"].get("agreement_id") == agreement_id)
    assert flag["status"] == "resolved" and "Bring the hospital bill first" in flag["review_notes"]
    assert not board.js_errors

    page = phone_page(stop)
    page.goto(served.url + "/field")
    page.fill("input[name=username]", AGENT[0])
    page.fill("input[name=password]", AGENT[1])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#view-day:not([hidden])")
    page.fill("#day-date", DAY.isoformat())
    page.click(f"#stops li[data-task='{stop['task_id']}'] a")
    card = page.wait_for_selector("#waiver-answer")
    assert card.inner_text() == "Waiver refused by the supervisor: Bring the hospital bill first"
    shot(page, "field-waiver-refused")
    assert page.js_errors == []
