"""The audit desk in a real browser: filter the visit log, open a visit, export CSV,
verify the chain — and text planted by a field agent stays text."""
import hashlib
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A day of its own, a week or more from the others' (one visit per debtor in any 7 days).
DESK_DAY = (TEST_NOW.astimezone(SHANGHAI).date() + timedelta(days=21)).isoformat()
PLANTED = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"> said he'd pay"


@pytest.fixture(scope="module")
def visited(served, e2e_clock):
    """One visit made through the API by the demo agent at 10:00 on its day, with planted
    notes and a recording."""
    e2e_clock.set(TEST_NOW)
    supervisor = Phone(served.url, clock=e2e_clock.now)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": DESK_DAY, "team": "SH-CENTRAL"})
    assert status == 201, plan
    supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    e2e_clock.set(datetime.combine(datetime.fromisoformat(DESK_DAY).date(), time(10), SHANGHAI))
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login("agent", "agent-demo-pass")
    stop = agent.route(datetime.fromisoformat(DESK_DAY).date())["stops"][0]
    task = stop["task_id"]
    status, answer = agent.call("POST", f"/api/v1/agent/tasks/{task}/check-in", {
        "client_event_id": f"desk-in-{task}", "lat": stop["debtor"]["lat"] + 0.0005, "lon": stop["debtor"]["lon"],
        "accuracy_m": 12.0, "device_time": e2e_clock.now().isoformat()})
    assert status == 201, answer
    content = b"OggS" + b"desk-recording" * 50
    assert agent.upload(task, content)[0] == 201
    status, answer = agent.call("POST", f"/api/v1/agent/tasks/{task}/visit", {
        "client_event_id": f"desk-visit-{task}", "outcome": "refused", "person_met": "debtor", "notes": PLANTED})
    assert status == 200, answer
    return {"task": task, "loan_ref": stop["case"]["loan_ref"], "sha256": hashlib.sha256(content).hexdigest()}


def sign_in(page, served, username="auditor", password="auditor-demo-pass"):
    page.goto(served.url + "/audit")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#desk:not([hidden])")


def test_an_auditor_filters_the_visit_log_and_opens_a_visit(served, new_page, visited):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    page.fill("input[name=loan_ref]", visited["loan_ref"])
    page.select_option("select[name=outcome]", "refused")
    page.click("#filters button[type=submit]")
    rows = page.locator("#visits tbody tr[data-visit]")
    # The demo's finished day is on the first screen; the filtered answer replaces it.
    expect(rows).to_have_count(1)
    assert visited["loan_ref"] in rows.first.inner_text()
    rows.first.click()
    detail = page.locator("#detail")
    detail.locator("dd", has_text=visited["sha256"]).wait_for()
    text = detail.inner_text()
    assert "refused" in text and "debtor" in text and "m" in text
    assert PLANTED in text  # shown as the agent typed it
    assert page.evaluate("window.__pwned") is None and detail.locator("script, img[src=x]").count() == 0
    assert page.locator("#detail-map .leaflet-interactive").count() >= 2  # the check-in against the address
    screenshot(page, "audit-desk-desktop")
    assert not page.js_errors


def test_the_visit_log_exports_as_csv(served, new_page, visited, tmp_path):
    page = new_page(viewport=DESKTOP, accept_downloads=True)
    sign_in(page, served)
    page.fill("input[name=loan_ref]", visited["loan_ref"])
    with page.expect_download() as download:
        page.click("#export")
    assert download.value.suggested_filename == f"visits-{visited['loan_ref']}.csv"  # named after the filter
    target = tmp_path / "visits.csv"
    download.value.save_as(target)
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese notes as UTF-8
    text = target.read_text(encoding="utf-8-sig")
    assert visited["loan_ref"] in text and visited["sha256"] in text
    assert "<script>" not in text.split("\n")[0]


def test_the_chain_is_verified_from_the_desk(served, new_page, visited):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    page.click("#verify")
    page.wait_for_selector("#verify-result .ok")
    assert "Intact" in page.inner_text("#verify-result")


def test_the_desk_in_chinese_at_phone_width(served, new_page, visited):
    page = new_page(viewport=PHONE, locale="zh-CN")
    sign_in(page, served)
    page.locator("#visits tbody tr[data-visit]").first.wait_for()
    assert "审计台" in page.inner_text("header")
    screenshot(page, "audit-desk-phone")
    assert not page.js_errors


def test_an_agent_cannot_use_the_desk(served, new_page):
    page = new_page(viewport=DESKTOP)
    page.goto(served.url + "/audit")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", "agent-demo-pass")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('auditors')")
    assert page.locator("#desk").is_hidden()
