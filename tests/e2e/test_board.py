"""The dispatch board in a real browser: sign in, plan, commit, a refused move, a live
status change from an agent's API call, the attention panel, safe text."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = TEST_NOW.astimezone(SHANGHAI).date()
# Days of their own, a week or more from the others' (one visit per debtor in any 7 days).
BOARD_DAY = (TODAY + timedelta(days=7)).isoformat()
# The supervisor plans and commits the board's day through the page; the module's other
# tests use that day's committed plan, whichever comes first (board_day_committed).
PAGE_DAY = BOARD_DAY
# Tall enough that a stop and the crew it is dragged onto are on screen together.
TALL = {"width": 1400, "height": 4200}


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
def board_day_committed(served, e2e_clock):
    """The board's day, planned and committed once for the module (through the API, as the
    page does), whichever test asks first. Planned at ``TEST_NOW`` (a module fixture is made
    before the per-test clock reset)."""
    e2e_clock.set(TEST_NOW)
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={BOARD_DAY}&team=SH-CENTRAL")
    if board["plan"] is not None:  # the page's own test committed it already
        return BOARD_DAY
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": BOARD_DAY, "team": "SH-CENTRAL"})
    assert status == 201, plan
    status, answer = supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    assert status == 200, answer
    return BOARD_DAY


@pytest.fixture()
def committed(served, board_day_committed):
    """``{"board": the committed day's board}`` as it stands when the test begins (the tests
    run in any order; some move stops)."""
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={board_day_committed}&team=SH-CENTRAL")
    assert board["plan"]["status"] == "committed"
    return {"board": board}


def test_a_supervisor_plans_the_day_sees_the_draft_beside_the_current_plan_and_commits(served, new_page):
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, before = supervisor.call("GET", f"/api/v1/board?date={PAGE_DAY}&team=SH-CENTRAL")
    first = before["plan"] is None  # in file order this test commits the day; in random order it may re-plan it
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page, PAGE_DAY)
    page.click("#plan")
    # While it plans: the phase, the seconds so far and the planner's budget (1 s for these servers).
    progress = page.locator("#plan-progress")
    expect(progress).to_contain_text(re.compile(r"Planning… .* \d+ s of about 1 s"))
    page.wait_for_selector("#commit", timeout=60000)  # a plan takes longer on a loaded machine
    expect(progress).to_be_hidden()
    table = page.inner_text("table.comparison")
    assert "Current plan" in table and "Draft" in table
    if first:
        assert "none committed" in table and re.search(r"Assigned\s+none committed\s+\d+", table)
    else:
        assert re.search(r"Assigned\s+\d+\s+\d+", table)
    # Why unassigned: one line per reason with its count, worded for a supervisor, cases folded away.
    groups = page.locator(".reasons-groups details")
    assert groups.count() > 0
    counts = [int(n) for n in page.locator(".reasons-groups .count").all_inner_texts()]
    assert sum(counts) == int(re.search(r"Unassigned\s+\S+\s+(\d+)", table).group(1))
    assert counts == sorted(counts, reverse=True) and groups.count() < sum(counts)
    groups.first.locator("summary").click()
    assert groups.first.locator("li").count() == counts[0]
    assert "[cn.qualification]" in page.inner_text("#draft")  # the crew with lapsed training, and why
    # The draft is drawn on the map beside the committed plan: dashed routes, hollow numbered pins.
    assert page.locator(".leaflet-marker-pane .pin-draft").count() > 0
    assert "draft" in page.inner_text(".draft-on-map").lower()
    screenshot(page, "board-draft-desktop")
    page.click("#commit")
    page.wait_for_selector(".crew .stop")
    assert page.locator(".crew .stop").count() > 0
    # Pins numbered in route order, coloured by crew, with a legend of shapes and crews.
    page.wait_for_function("document.querySelectorAll('.leaflet-marker-pane .pin-draft').length === 0")
    numbers = page.locator(".leaflet-marker-pane .pin-assigned").all_inner_texts()
    assert numbers and all(n.isdigit() for n in numbers) and "1" in numbers
    legend = page.inner_text(".map-legend")
    assert "planned" in legend and "done" in legend and "SH-CENTRAL-K01" in legend
    assert not page.js_errors
    screenshot(page, "board-desktop")
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={PAGE_DAY}&team=SH-CENTRAL")
    assert board["plan"]["status"] == "committed"


def test_a_move_the_policy_refuses_is_shown_with_its_reason_and_not_made(served, new_page, committed):
    # Any planned stop of a crew other than K05 (whose member's training has lapsed): which
    # crews get stops depends on the engine's second of search on a loaded machine.
    task = next(
        t
        for t in committed["board"]["tasks"]
        if t["status"] == "assigned" and t["crew"] not in (None, "SH-CENTRAL-K05")
    )
    page = new_page(viewport=TALL)
    sign_in(page, served)
    open_day(page)
    row = page.locator(f".stop[data-task='{task['id']}']")
    row.locator("details.move summary").click()
    # The menu marks the crew the policy would refuse, with its rule, before anything is tried.
    refused = row.locator("select[aria-label='Move to'] option[value='SH-CENTRAL-K05']")
    expect(refused).to_be_disabled()
    assert "cn.qualification" in refused.inner_text() and "training" in refused.get_attribute("title")
    # Dragged onto that crew, the stop is refused with the rule and stays where it was.
    row.locator("> strong").drag_to(page.locator(".crew[data-crew='SH-CENTRAL-K05'] h4"))
    refusal = row.locator(".refusal.error")
    expect(refusal).to_contain_text("cn.qualification")
    assert "training" in refusal.inner_text()
    screenshot(page, "board-refused-move")
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={BOARD_DAY}&team=SH-CENTRAL")
    assert next(t for t in board["tasks"] if t["id"] == task["id"])["crew"] == task["crew"]


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
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{task['id']}/check-in",
        {
            "client_event_id": f"board-live-{task['id']}",
            "lat": task["lat"] + 0.001,
            "lon": task["lon"],
            "accuracy_m": 15.0,
            "device_time": e2e_clock.now().isoformat(),
            "mock_location": True,
        },
    )
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
    page.wait_for_function(
        "() => !document.querySelector('.item.flag') || "
        "![...document.querySelectorAll('.item.flag')].some(e => e.innerText.includes('mock_location'))"
    )
    screenshot(page, "board-live-desktop")
    assert not page.js_errors


def test_the_board_in_chinese_at_phone_width(served, new_page, committed):
    page = new_page(viewport=PHONE, locale="zh-CN")
    sign_in(page, served)
    open_day(page)
    page.wait_for_selector(".crew .stop")
    assert "调度看板" in page.inner_text("header") and "已计划" in page.inner_text("#crews")
    # Accessible names come from the same catalog (data-i18n-label), in the page's language.
    assert page.get_attribute("#map", "aria-label") == "小组与上门点地图"
    page.click(".lang-switch >> nth=1")
    assert "Dispatch board" in page.inner_text("header")
    assert page.get_attribute("#map", "aria-label") == "Map of crews and stops"
    screenshot(page, "board-phone")
    assert not page.js_errors


def test_text_from_debtors_is_shown_as_text_never_run(served, new_page, committed):
    task = next(t for t in committed["board"]["tasks"] if t["status"] == "assigned" and t["crew"])
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
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
    # The board shows before its list of teams is in; Plan is enabled once it is.
    expect(page.locator("#plan")).to_be_enabled()
    options = page.locator("#scope option").all_inner_texts()
    assert [o.split(" — ")[0] for o in options] == ["SH-CENTRAL"]


def test_a_draft_is_set_beside_the_plan_of_its_own_day_even_while_that_day_is_still_loading(served, new_page):
    """The board opens on today, whose plan the demo committed; the supervisor picks another
    day and plans it before that day's board has arrived (a slow network)."""
    day = (TODAY + timedelta(days=14)).isoformat()
    page = new_page(viewport=DESKTOP, timezone_id="Asia/Shanghai")
    sign_in(page, served)
    page.wait_for_selector("#crews .crew")
    page.evaluate(
        """(day) => {
        const fetchNow = window.fetch;
        window.fetch = (url, ...rest) => String(url).includes(`/api/v1/board?date=${day}`)
            ? new Promise((resolve) => setTimeout(resolve, 4000)).then(() => fetchNow(url, ...rest))
            : fetchNow(url, ...rest);
    }""",
        day,
    )
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
    page.clock.set_fixed_time(datetime.combine(utc_today - timedelta(days=1), time(23, 30), UTC))
    sign_in(page, served)
    assert page.input_value("#day") == utc_today.isoformat()


MARKUP = '<img src=x onerror="window.__pwned = 1"><b class="planted">Wang</b>'


def test_a_name_with_markup_stays_text_in_every_kind_of_map_tooltip(served, new_page):
    """Leaflet writes a string tooltip as HTML: a collector's name with markup in it (the
    CSP stops its script, but the elements still landed) must show as the letters typed."""
    page = new_page(viewport=DESKTOP)
    page.goto(served.url + "/board")
    page.wait_for_function("typeof L !== 'undefined'")
    shown = page.evaluate(
        """async (label) => {
        const { FCMap } = await import("/static/js/map.js");  // the module the board itself uses
        const box = document.createElement("div");
        box.style.cssText = "width: 400px; height: 300px";
        document.body.appendChild(box);
        const map = new FCMap(box, {});
        const layers = [map.route([[31.23, 121.47], [31.24, 121.48]], "#000", label),
                        map.home(31.23, 121.47, "#000", label), map.position(31.231, 121.471, "#000", label),
                        map.task(31.232, 121.472, "assigned", label),
                        map.pin(31.233, 121.473, {status: "done", number: 3, colour: "#000", label})];
        map.fit();
        return layers.map((layer) => {
            layer.openTooltip();
            const element = layer.getTooltip().getElement();
            return {text: element.textContent, elements: element.querySelectorAll("img, b").length};
        });
    }""",
        MARKUP,
    )
    assert shown == [{"text": MARKUP, "elements": 0}] * 5
    assert page.evaluate("window.__pwned") is None and page.locator(".planted").count() == 0
    assert not page.js_errors


def test_a_stop_dragged_onto_a_crew_moves_after_a_reason_and_both_routes_stay_numbered(served, new_page, committed):
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    _, board = supervisor.call("GET", f"/api/v1/board?date={BOARD_DAY}&team=SH-CENTRAL")
    task, crew = None, None
    for candidate in (t for t in board["tasks"] if t["status"] == "assigned" and t["crew"] != "SH-CENTRAL-K02"):
        _, options = supervisor.call("GET", f"/api/v1/tasks/{candidate['id']}/move-options")
        crew = next((o["crew"] for o in options["crews"] if o["allowed"]), None)
        if crew:
            task = candidate
            break
    assert task, "some stop may move to some crew"
    page = new_page(viewport=TALL)
    sign_in(page, served)
    open_day(page)
    row = page.locator(f".stop[data-task='{task['id']}']")
    target = page.locator(f".crew[data-crew='{crew}'] h4")
    row.locator("> strong").drag_to(target)
    # The policy's answer came first; the move waits for a reason.
    menu = row.locator("details.move")
    expect(menu).to_have_attribute("open", "")
    assert row.locator("select[aria-label='Move to']").input_value() == crew
    expect(row.locator(".move-verdict")).to_contain_text("may take it")
    row.locator("button", has_text="Move").click()
    expect(row.locator(".refusal.error")).to_contain_text("reason")
    row.locator("select.move-reason").select_option("workload")
    row.locator("button", has_text="Move").click()
    moved = page.locator(f".crew[data-crew='{crew}'] .stop[data-task='{task['id']}']")
    moved.wait_for()
    expect(page.locator("#toast")).to_contain_text(f"moved to {crew}")
    for code in (task["crew"], crew):
        numbers = page.locator(
            f".crew[data-crew='{code}'] .stop:not([data-status=withdrawn]) > strong"
        ).all_inner_texts()
        assert numbers == [str(n) for n in range(1, len(numbers) + 1)], (code, numbers)
    screenshot(page, "board-dragged-move")
    # A refused try, then a successful unassign: only the latest action speaks.
    other = page.locator(".crew:not([data-crew='SH-CENTRAL-K05']) .stop[data-status=assigned]").first
    other.locator("> strong").drag_to(page.locator(".crew[data-crew='SH-CENTRAL-K05'] h4"))
    expect(page.locator("#toast")).to_have_class(re.compile("bad"))
    moved.locator("details.move summary").click() if moved.locator("details.move[open]").count() == 0 else None
    moved.locator("select.move-reason").select_option("debtor_request")
    moved.locator("button", has_text="Unassign").click()
    expect(page.locator("#toast")).to_contain_text("unassigned")
    expect(page.locator("#toast")).not_to_have_class(re.compile("bad"))
    assert not page.js_errors


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_flags_on_the_attention_tab_name_their_debtor_loan_and_visit(served, new_page, committed, locale):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    page.click(".tabs [role=tab][data-tab=attention]")
    assert page.get_attribute(".tabs [data-tab=attention]", "aria-selected") == "true"
    flag = page.locator(".item.flag").first
    flag.wait_for()
    facts = flag.locator(".flag-facts").inner_text()
    if locale == "zh-CN":
        assert "借款: SH" in facts and "债务人:" in facts and "查看上门记录" in facts
        screenshot(page, "board-attention-zh")
        return
    assert "Loan: SH" in facts and "Debtor:" in facts and "Open the visit" in facts
    screenshot(page, "board-attention")
    loan = re.search(r"Loan: (\S+)", facts).group(1)
    desk = new_page(viewport=DESKTOP)
    desk.goto(served.url + flag.locator(".flag-facts a").get_attribute("href"))
    desk.fill("input[name=username]", "supervisor")
    desk.fill("input[name=password]", "supervisor-demo-pass")
    desk.click("#signin-form button[type=submit]")
    expect(desk.locator("#detail-title")).to_contain_text(loan)  # the flag's visit, opened
    assert not desk.js_errors


def test_the_plan_tab_in_chinese_groups_and_translates_why_work_was_left_out(served, new_page):
    page = new_page(viewport=PHONE, locale="zh-CN")
    sign_in(page, served)
    open_day(page, (TODAY + timedelta(days=14)).isoformat())
    page.click("#plan")
    page.wait_for_selector("#commit", timeout=60000)
    text = page.inner_text(".reasons-groups")
    assert re.search(r"[\u4e00-\u9fff]{4,}", text) and "eligible collectors could do it alone" not in text
    # No column narrow enough to stand Chinese one character per line.
    widths = page.evaluate(
        "[...document.querySelectorAll('.reasons-groups summary')].map(e => e.getBoundingClientRect().width)"
    )
    assert min(widths) > 150
    screenshot(page, "board-why-unassigned-zh")
    assert not page.js_errors


def test_a_plan_asked_for_in_a_tab_since_closed_is_picked_up_again(served, new_page):
    day = (TODAY + timedelta(days=14)).isoformat()
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, job = supervisor.call(
        "POST", "/api/v1/jobs", {"name": "plan_scope", "params": {"date": day, "team": "SH-CENTRAL"}}
    )
    assert status == 202, job
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    key = f"fc.planJob:date={day}&team=SH-CENTRAL"
    page.evaluate("([key, id]) => localStorage.setItem(key, id)", [key, job["id"]])  # what the closed tab left
    open_day(page, day)
    page.wait_for_selector("#commit", timeout=30000)
    assert "none committed" in page.inner_text("table.comparison")
    assert page.get_attribute(".tabs [data-tab=draft]", "aria-selected") == "true"
    assert page.evaluate("(key) => localStorage.getItem(key)", key) is None
    assert not page.js_errors
