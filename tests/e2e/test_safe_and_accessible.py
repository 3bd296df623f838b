"""Every page, with hostile text planted in every free-text and name field through the
API and a CSV import: the text shows as typed, nothing planted becomes an element (in the
page, in a Leaflet tooltip or popup), no Content-Security-Policy violation; and axe-core
finds no serious or critical accessibility violation, in Chinese and in English."""

import csv
import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import TEST_NOW
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A day of its own, a week or more from the other browser tests' days.
SAFE_DAY = TEST_NOW.astimezone(SHANGHAI).date() + timedelta(days=84)
MARK = "PLANTED"


def planted(where):
    """Markup, a script, an event handler and a javascript: link, named after where they went."""
    return (
        f'{MARK}-{where}<img src=x class="planted" onerror="window.__pwned=1"><script>window.__pwned=1</script>'
        '<a class="planted" href="javascript:window.__pwned=1">x</a><b class="planted">b</b>'
    )


INJECTED = "img.planted, a.planted, b.planted, script:not([src]), a[href^='javascript:'], [onerror]"
CHECK = """(injected) => ({
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    injected: document.querySelectorAll(injected).length,
    tooltips: [...document.querySelectorAll('.leaflet-tooltip, .leaflet-popup')].filter(
        t => t.querySelector('img, a, b, script')).length,
})"""
OPEN_EVERY_TOOLTIP = """() => {
    for (const el of document.querySelectorAll('.leaflet-marker-icon, .leaflet-interactive')) {
        el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
        el.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
        el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    }
    return [...document.querySelectorAll('.leaflet-tooltip')].map(t => t.textContent).join('\\n');
}"""


def watch_csp(page):
    """Every CSP violation the page reports, kept on the page object."""
    page.csp = []
    page.on(
        "console", lambda message: page.csp.append(message.text) if "Content Security Policy" in message.text else None
    )
    return page


def assert_safe(page, where):
    state = page.evaluate(CHECK, INJECTED)
    assert state == {"pwned": None, "injected": 0, "tooltips": 0}, (where, state)
    assert page.csp == [], (where, page.csp)
    assert not page.js_errors, (where, page.js_errors)


@pytest.fixture(scope="module")
def hostile(served, e2e_clock):
    """Hostile text in names, addresses, notes and reviews, through the API and a CSV, on a
    team no other browser test plans (SH-EAST), with an agent account of its own: a day
    planned and committed with it, a visit made with planted notes."""
    e2e_clock.set(TEST_NOW)
    admin = Phone(served.url, clock=e2e_clock.now)
    admin.login("admin", "admin-demo-pass")
    # A case from the loan system's CSV with a planted debtor name and address.
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "loan_ref",
            "product",
            "currency",
            "principal",
            "outstanding",
            "days_past_due",
            "debtor_name",
            "address",
            "lat",
            "lon",
            "stage",
            "team",
        ]
    )
    writer.writerow(
        [
            "SAFE-CSV-1",
            "cash_loan",
            "CNY",
            "5000.00",
            "4000.00",
            "90",
            planted("csv-name"),
            planted("csv-address"),
            "31.2215",
            "121.5447",
            "field_visit",
            "SH-EAST",
        ]
    )
    status, report = admin.call(
        "POST", "/api/v1/cases/import?mode=all_or_nothing", raw=out.getvalue().encode(), content_type="text/csv"
    )
    assert status == 200, report
    status, plan = admin.call("POST", "/api/v1/dispatch/plans", {"date": SAFE_DAY.isoformat(), "team": "SH-EAST"})
    assert status == 201, plan
    assert admin.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")[0] == 200
    crew = next(r["crew"] for r in plan["routes"] if r["stops"])
    # An agent account for a member of a crew with stops that day; the member's name planted.
    status, answer = admin.call(
        "POST",
        "/api/v1/users",
        {"username": "agent-east", "password": "agent-east-pass-1", "role": "agent", "display_name": planted("user")},
    )
    assert status == 201, answer
    _, collectors = admin.call("GET", "/api/v1/collectors?limit=200&team=SH-EAST")
    member = next(c for c in collectors["items"] if c["crew"] == crew)
    status, answer = admin.call(
        "PATCH", f"/api/v1/collectors/{member['id']}", {"name": planted("collector"), "user": "agent-east"}
    )
    assert status == 200, answer
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login("agent-east", "agent-east-pass-1")
    stop = agent.route(SAFE_DAY)["stops"][0]
    _, case = admin.call("GET", f"/api/v1/cases/{stop['case']['id']}")
    status, answer = admin.call(
        "PATCH",
        f"/api/v1/debtors/{case['debtor']['id']}",
        {"name": planted("debtor-name"), "address": planted("debtor-address")},
    )
    assert status == 200, answer
    e2e_clock.set(datetime.combine(SAFE_DAY, time(10), SHANGHAI))
    agent.login("agent-east", "agent-east-pass-1")  # a token of that day
    admin.login("admin", "admin-demo-pass")
    stop = agent.route(SAFE_DAY)["stops"][0]
    task = stop["task_id"]
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{task}/check-in",
        {
            "client_event_id": f"safe-in-{task}",
            "lat": stop["debtor"]["lat"],
            "lon": stop["debtor"]["lon"],
            "accuracy_m": 10.0,
            "device_time": e2e_clock.now().isoformat(),
            "mock_location": True,
        },
    )
    assert status == 201, answer
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{task}/visit",
        {
            "client_event_id": f"safe-visit-{task}",
            "outcome": "refused",
            "person_met": "debtor",
            "notes": planted("visit-notes"),
        },
    )
    assert status == 200, answer
    # The mocked location raised a flag; its review notes are planted too.
    _, flags = admin.call("GET", "/api/v1/conduct/flags?status=open&kind=mock_location")
    flag = next(f for f in flags["items"] if f["task_id"] == task)
    assert (
        admin.call(
            "POST",
            f"/api/v1/conduct/flags/{flag['id']}/review",
            {"status": "reviewed", "notes": planted("flag-review")},
        )[0]
        == 200
    )
    return {"task": task, "loan_ref": stop["case"]["loan_ref"], "crew": crew}


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_planted_text_stays_text_on_the_board_with_every_tooltip_open(served, new_page, hostile, locale):
    page = watch_csp(new_page(viewport=DESKTOP, locale=locale))
    page.goto(served.url + "/board")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-demo-pass")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#board:not([hidden])")
    page.select_option("#scope", "team:SH-EAST")
    page.fill("#day", SAFE_DAY.isoformat())
    page.dispatch_event("#day", "change")
    row = page.locator(f".stop[data-task='{hostile['task']}']")
    row.wait_for()
    assert f"{MARK}-debtor-address" in row.inner_text()
    assert f"{MARK}-collector" in page.inner_text(f".crew[data-crew='{hostile['crew']}']")
    tooltips = page.evaluate(OPEN_EVERY_TOOLTIP)
    assert f"{MARK}-collector" in tooltips  # the crew's home marker names its members, as text
    assert_safe(page, "board")
    page.click(".tabs [data-tab=attention]")
    page.locator(".item.flag").first.wait_for()
    for summary in page.locator(".item summary").all():
        summary.click()
    assert_safe(page, "attention")
    page.click(".tabs [data-tab=draft]")
    page.click("#plan")
    page.wait_for_selector("#commit", timeout=60000)
    page.evaluate(OPEN_EVERY_TOOLTIP)
    assert_safe(page, "draft")
    assert axe_violations(page) == []
    screenshot(page, f"safe-board-{locale}")


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_planted_text_stays_text_on_the_audit_desk(served, new_page, hostile, locale):
    page = watch_csp(new_page(viewport=DESKTOP, locale=locale))
    page.goto(served.url + "/audit")
    page.fill("input[name=username]", "auditor")
    page.fill("input[name=password]", "auditor-demo-pass")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#desk:not([hidden])")
    page.fill("input[name=loan_ref]", hostile["loan_ref"])
    page.click("#filters button[type=submit]")
    page.locator("#visits tbody tr[data-visit]", has_text=hostile["loan_ref"]).first.click()
    page.locator("#detail", has_text=f"{MARK}-visit-notes").wait_for()
    page.wait_for_selector("#detail-map .leaflet-interactive")
    page.evaluate(OPEN_EVERY_TOOLTIP)
    assert_safe(page, "desk")
    assert axe_violations(page) == []
    screenshot(page, f"safe-desk-{locale}")


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_planted_text_stays_text_in_the_field_app(served, new_page, hostile, e2e_clock, locale):
    e2e_clock.set(datetime.combine(SAFE_DAY, time(11), SHANGHAI))  # the planted day, for server and phone
    page = watch_csp(new_page(viewport=PHONE, locale=locale))
    page.goto(served.url + "/field")
    page.fill("input[name=username]", "agent-east")
    page.fill("input[name=password]", "agent-east-pass-1")
    page.click("form button[type=submit]")
    page.locator("body", has_text=f"{MARK}-debtor-address").first.wait_for(timeout=20000)
    page.evaluate(OPEN_EVERY_TOOLTIP)
    assert_safe(page, "field")
    assert axe_violations(page) == []
    screenshot(page, f"safe-field-{locale}")


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_the_start_page_and_the_docs_are_accessible(served, new_page, locale):
    page = watch_csp(new_page(viewport=DESKTOP, locale=locale))
    for path, name in (("/", "start"), ("/api/v1/docs", "docs")):
        page.goto(served.url + path)
        assert_safe(page, path)
        assert axe_violations(page) == [], path
        screenshot(page, f"{name}-{locale}")
    page.goto(served.url + "/")
    page.click("text=Dispatch board")
    page.wait_for_selector("#signin:not([hidden])")  # the start page leads to the board's sign-in
