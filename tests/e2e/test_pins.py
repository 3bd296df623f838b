"""The pin queue in a real browser: an address the geocoder cannot place lands in the
queue with its reason, the supervisor drags a pin onto the map (the distance is shown),
and the case is planned from then on."""

import subprocess
import sys
from datetime import timedelta

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP, ROOT, screenshot
from tests.e2e.test_board import TODAY, open_day, sign_in
from tests.phone import Phone

# A day of its own, two weeks from the others' (one visit per debtor in any 7 days).
PIN_DAY = (TODAY + timedelta(days=14)).isoformat()
NOWHERE = "上海市黄浦区无此地址路1号"


def run_geocoding_job(served, geo_server):
    """The scheduled job, run as cron runs it, against a local Nominatim that knows no address."""
    geo_server.reset()
    geo_server.knows_nothing = True
    env = {
        **served.env,
        "GEOCODER": "nominatim",
        "GEOCODER_DOMAIN": geo_server.domain,
        "GEOCODER_SCHEME": "http",
        "GEOCODER_MIN_DELAY_SECONDS": "0",
        "GEOCODER_ERROR_WAIT_SECONDS": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "jobs", "submit", "geocode_addresses"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "finished" in done.stdout, done.stdout + done.stderr
    return done


def test_an_unresolvable_address_goes_to_the_pin_queue_and_a_pin_makes_it_dispatchable(served, new_page, geo_server):
    supervisor = Phone(served.url)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, case = supervisor.call(
        "POST",
        "/api/v1/cases",
        {
            "loan_ref": "PIN-E2E-1",
            "product": "cash_loan",
            "currency": "CNY",
            "principal": "5000.00",
            "outstanding": "4200.00",
            "days_past_due": 90,
            "team": "SH-CENTRAL",
            "stage": "field_visit",
            "priority": 100,
            "debtor": {"name": "周敏", "address": NOWHERE, "language": "zh"},
        },
    )
    assert status == 201, case
    status, _ = supervisor.call(
        "POST",
        f"/api/v1/cases/{case['id']}/contact-attempts",
        {"channel": "call", "result": "no_answer", "occurred_at": (TEST_NOW - timedelta(days=2)).isoformat()},
    )
    assert status == 201
    run_geocoding_job(served, geo_server)
    assert NOWHERE in geo_server.searches

    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    open_day(page, PIN_DAY)
    page.click("#plan")
    page.wait_for_selector("#commit", timeout=60000)  # a plan takes longer on a loaded machine
    group = page.locator(".reasons-groups details[data-rules=no_location]")
    group.locator("summary").click()
    assert "No place on the map yet" in group.inner_text() and "PIN-E2E-1" in group.inner_text()

    page.click(".tabs button[data-tab=pins]")
    item = page.locator(".item.pin-queue-item", has_text="PIN-E2E-1")
    item.wait_for()
    assert "found no place for this address" in item.inner_text()
    item.locator("button.pin-place").click()
    marker = page.locator(".pin-edit-marker")
    marker.wait_for()
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 20, steps=8)
    page.mouse.move(x + 90, y + 45, steps=8)
    page.mouse.up()
    moved = page.inner_text("#pin-editor .moved")
    assert "from where it was dropped" in moved and int(moved.split(" m ")[0]) > 0
    screenshot(page, "board-pin-placed")
    page.click("#pin-editor button.pin-save")
    page.wait_for_selector("#toast:not([hidden])")
    assert "Pin saved" in page.inner_text("#toast")
    page.locator(".item.pin-queue-item", has_text="PIN-E2E-1").wait_for(state="detached")

    page.click("#plan")
    page.wait_for_selector("#commit", timeout=60000)  # a plan takes longer on a loaded machine
    page.locator(".reasons-groups").wait_for()
    assert "PIN-E2E-1" not in page.locator(".reasons-groups").inner_text()
    assert not page.js_errors
    screenshot(page, "board-pin-dispatchable")
    status, draft = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": PIN_DAY, "team": "SH-CENTRAL"})
    assert status == 201
    stops = [s["loan_ref"] for r in draft["routes"] for s in r["stops"]]
    assert "PIN-E2E-1" in stops
    status, debtor = supervisor.call("GET", f"/api/v1/debtors/{case['debtor']['id']}")
    assert (debtor["location_status"], debtor["location_source"]) == ("located", "pin")


def test_correcting_a_stops_pin_shows_how_far_it_moved(served, new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)  # today's committed plan of the demo
    row = page.locator(".crew .stop", has=page.locator("details.move")).first
    row.locator("details.move summary").click()
    row.locator(".pin-correct").click()
    marker = page.locator(".pin-edit-marker")
    marker.wait_for()
    assert "Moved 0 m from the current pin" in page.inner_text("#pin-editor")
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y, steps=10)
    page.mouse.up()
    moved = page.inner_text("#pin-editor .moved")
    assert moved.startswith("Moved ") and int(moved.split()[1]) > 0
    screenshot(page, "board-pin-correct")
    page.click("#pin-editor button:has-text('Cancel')")  # the demo's debtor stays where it was
    assert page.locator(".pin-edit-marker").count() == 0
    assert not page.js_errors


def test_the_pin_queue_in_chinese_says_why_each_address_waits(served, new_page):
    page = new_page(viewport=DESKTOP, locale="zh-CN")
    sign_in(page, served)
    page.click(".tabs button[data-tab=pins]")
    page.locator(".item.pin-queue-item").first.wait_for()
    text = page.inner_text("#tab-pins")
    assert "放置标注" in text and ("地理编码" in text or "手动标注" in text)
    assert not page.js_errors
    screenshot(page, "board-pin-queue-zh")
