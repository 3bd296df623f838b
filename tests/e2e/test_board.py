"""The dispatch board in a real browser: sign in, plan, commit, a refused move, a live
status change from an agent's API call, the attention panel, safe text."""
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = TEST_NOW.astimezone(SHANGHAI).date()
# Days of their own, a week or more from the others' (one visit per debtor in any 7 days).
BOARD_DAY = (TODAY + timedelta(days=7)).isoformat()
# The day the supervisor plans and commits through the page (none committed before it).
PAGE_DAY = (TODAY + timedelta(days=84)).isoformat()


def sign_in(page, served, username="supervisor", password="supervisor-demo-pass"):
    page.goto(served.url + "/board")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#board:not([hidden])")


def open_day(page, day=BOARD_DAY):
    page.fill("#day", day)
    page.dispatch_event("#day", "change")


@pytest.fixture(scope="module")
def committed(served, e2e_clock):
    """The board's day, planned and committed once for the module (through the API, as the
    page does), whichever test asks first: ``{"board": the day's board}``. Planned at
    ``TEST_NOW`` (a module fixture is made before the per-test clock reset)."""
    e2e_clock.set(TEST_NOW)
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": BOARD_DAY, "team": "SH-CENTRAL"})
    assert status == 201, plan
    status, answer = supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    assert status == 200, answer
    _, board = supervisor.call("GET", f"/api/v1/board?date={BOARD_DAY}&team=SH-CENTRAL")
    assert board["plan"]["status"] == "committed"
    return {"board": board}


def test_a_supervisor_plans_the_day_sees_the_draft_beside_the_current_plan_and_commits(served, new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page, PAGE_DAY)
    page.click("#plan")
    page.wait_for_selector("#commit")
    table = page.inner_text("table.comparison")
    assert "Current plan" in table and "Draft" in table and "none committed" in table
    assert re.search(r"Assigned\s+none committed\s+\d+", table)
    assert page.locator("table.unassigned-reasons tr").count() > 0
    assert "[cn.qualification]" in page.inner_text("#draft")  # the crew with lapsed training, and why
    screenshot(page, "board-draft-desktop")
    page.click("#commit")
    page.wait_for_selector(".crew .stop")
    assert page.locator(".crew[data-crew='SH-CENTRAL-K01'] .stop").count() > 0
    assert not page.js_errors
    screenshot(page, "board-desktop")
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={PAGE_DAY}&team=SH-CENTRAL")
    assert board["plan"]["status"] == "committed"


def test_a_move_the_policy_refuses_is_shown_with_its_reason_and_not_made(served, new_page, committed):
    task = next(t for t in committed["board"]["tasks"] if t["crew"] == "SH-CENTRAL-K02")
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page)
    row = page.locator(f".stop[data-task='{task['id']}']")
    row.locator("details.move summary").click()
    row.locator("select").select_option("SH-CENTRAL-K05")
    row.locator("button", has_text="Move").click()
    refusal = row.locator(".refusal.error")
    refusal.wait_for()
    assert "cn.qualification" in refusal.inner_text() and "training" in refusal.inner_text()
    screenshot(page, "board-refused-move")
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={BOARD_DAY}&team=SH-CENTRAL")
    assert next(t for t in board["tasks"] if t["id"] == task["id"])["crew"] == "SH-CENTRAL-K02"


def test_an_agents_check_in_shows_on_the_board_without_a_reload(served, new_page, committed, e2e_clock):
    # 10:00 on the board's day, for the server and the browsers: the check-in is judged on its day.
    e2e_clock.set(datetime.combine(datetime.fromisoformat(BOARD_DAY).date(), time(10), SHANGHAI))
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page)
    task = next(t for t in committed["board"]["tasks"] if t["crew"] == "SH-CENTRAL-K01")
    row = page.locator(f".stop[data-task='{task['id']}']")
    row.wait_for()
    assert row.get_attribute("data-status") == "assigned"
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login("agent", "agent-demo-pass")
    status, answer = agent.call("POST", f"/api/v1/agent/tasks/{task['id']}/check-in", {
        "client_event_id": f"board-live-{task['id']}", "lat": task["lat"] + 0.001, "lon": task["lon"],
        "accuracy_m": 15.0, "device_time": e2e_clock.now().isoformat(), "mock_location": True})
    assert status == 201, answer
    page.wait_for_selector(f".stop[data-task='{task['id']}'][data-status='flagged']", timeout=15000)
    assert "flagged" in page.locator(f".stop[data-task='{task['id']}'] .pill").inner_text()
    page.click(".tabs button[data-tab=attention]")
    flag = page.locator(".item.flag", has_text="mock_location").first
    flag.wait_for()
    flag.locator("summary").click()
    assert "mocked location" in flag.inner_text()
    flag.locator("input").fill("crew's phone had a test app installed")
    flag.locator("button", has_text="Resolve").click()
    page.wait_for_function("() => !document.querySelector('.item.flag') || "
                           "![...document.querySelectorAll('.item.flag')].some(e => e.innerText.includes('mock_location'))")
    screenshot(page, "board-live-desktop")
    assert not page.js_errors


def test_the_board_in_chinese_at_phone_width(served, new_page, committed):
    page = new_page(viewport=PHONE, locale="zh-CN")
    sign_in(page, served)
    open_day(page)
    page.wait_for_selector(".crew .stop")
    assert "调度看板" in page.inner_text("header") and "已计划" in page.inner_text("#crews")
    page.click(".lang-switch >> nth=1")
    assert "Dispatch board" in page.inner_text("header")
    screenshot(page, "board-phone")
    assert not page.js_errors


def test_text_from_debtors_is_shown_as_text_never_run(served, new_page, committed):
    task = next(t for t in committed["board"]["tasks"] if t["crew"] == "SH-CENTRAL-K03")
    hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, case = supervisor.call("GET", f"/api/v1/cases/{task['case_id']}")
    status, _ = supervisor.call("PATCH", f"/api/v1/debtors/{case['debtor']['id']}", {"address": hostile})
    assert status == 200
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page)
    row = page.locator(f".stop[data-task='{task['id']}']")
    row.wait_for()
    assert hostile in row.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert row.locator("script, img").count() == 0


def test_a_supervisor_sees_only_their_team(served, new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    options = page.locator("#scope option").all_inner_texts()
    assert [o.split(" — ")[0] for o in options] == ["SH-CENTRAL"]


def test_a_draft_is_set_beside_the_plan_of_its_own_day_even_while_that_day_is_still_loading(served, new_page):
    """The board opens on today, whose plan the demo committed; the supervisor picks another
    day and plans it before that day's board has arrived (a slow network)."""
    day = (TODAY + timedelta(days=14)).isoformat()
    page = new_page(viewport=DESKTOP, timezone_id="Asia/Shanghai")
    sign_in(page, served)
    page.wait_for_selector("#crews .crew")
    page.evaluate("""(day) => {
        const fetchNow = window.fetch;
        window.fetch = (url, ...rest) => String(url).includes(`/api/v1/board?date=${day}`)
            ? new Promise((resolve) => setTimeout(resolve, 4000)).then(() => fetchNow(url, ...rest))
            : fetchNow(url, ...rest);
    }""", day)
    open_day(page, day)
    page.click("#plan")
    page.wait_for_selector("#commit", timeout=30000)
    table = page.inner_text("table.comparison")
    assert "none committed" in table, table
    assert page.js_errors == []


def test_the_board_opens_on_today_in_the_supervisors_zone(served, new_page):
    page = new_page(viewport=DESKTOP, timezone_id="Asia/Shanghai")
    # 23:30 UTC yesterday: already 07:30 today in Shanghai (and before the token's expiry).
    utc_today = TEST_NOW.date()
    page.clock.set_fixed_time(datetime.combine(utc_today - timedelta(days=1), time(23, 30), timezone.utc))
    sign_in(page, served)
    assert page.input_value("#day") == utc_today.isoformat()
