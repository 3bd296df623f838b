"""The audit desk in a real browser: filter the visit log, open a visit, export CSV,
verify the chain — and text planted by a field agent stays text."""

import hashlib
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_NOW
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.phone import Phone

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A day of its own, a week or more from the others' (one visit per debtor in any 7 days).
DESK_DAY = (TEST_NOW.astimezone(SHANGHAI).date() + timedelta(days=21)).isoformat()
PLANTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> said he\'d pay'


@pytest.fixture(scope="module")
def visited(served, e2e_clock):
    """On its day, through the API, by the demo agent: a check-in at 06:00 refused by the
    visiting hours (a refused action on the record); at 10:00 a visit with planted notes and
    a recording; then a promise to pay with a waiver above the limit, awaiting approval."""
    e2e_clock.set(TEST_NOW)
    supervisor = Phone(served.url, clock=e2e_clock.now)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, plan = supervisor.call("POST", "/api/v1/dispatch/plans", {"date": DESK_DAY, "team": "SH-CENTRAL"})
    assert status == 201, plan
    supervisor.call("POST", f"/api/v1/dispatch/plans/{plan['id']}/commit")
    day = datetime.fromisoformat(DESK_DAY).date()
    e2e_clock.set(datetime.combine(day, time(6), SHANGHAI))
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login("agent", "agent-demo-pass")
    stops = agent.route(day)["stops"]
    stop, second = stops[0], stops[1]
    task = stop["task_id"]

    def check(kind, at_stop, suffix):
        return agent.call(
            "POST",
            f"/api/v1/agent/tasks/{at_stop['task_id']}/{kind}",
            {
                "client_event_id": f"desk-{kind}-{at_stop['task_id']}-{suffix}",
                "lat": at_stop["debtor"]["lat"] + 0.0005,
                "lon": at_stop["debtor"]["lon"],
                "accuracy_m": 12.0,
                "device_time": e2e_clock.now().isoformat(),
            },
        )

    status, refused = check("check-in", stop, "early")
    assert status == 422 and refused["error"]["rule_id"], refused
    e2e_clock.set(datetime.combine(day, time(10), SHANGHAI))
    status, answer = check("check-in", stop, "ok")
    assert status == 201, answer
    content = b"OggS" + b"desk-recording" * 50
    assert agent.upload(task, content)[0] == 201
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{task}/visit",
        {"client_event_id": f"desk-visit-{task}", "outcome": "refused", "person_met": "debtor", "notes": PLANTED},
    )
    assert status == 200, answer
    e2e_clock.set(datetime.combine(day, time(10, 30), SHANGHAI))
    assert check("check-out", stop, "ok")[0] == 200
    e2e_clock.set(datetime.combine(day, time(11, 30), SHANGHAI))
    assert check("check-in", second, "ok")[0] == 201
    assert agent.upload(second["task_id"], b"OggS" + b"second" * 80)[0] == 201
    due = Decimal(second["case"]["amount_due"])
    status, answer = agent.call(
        "POST",
        f"/api/v1/agent/tasks/{second['task_id']}/visit",
        {
            "client_event_id": f"desk-visit-{second['task_id']}",
            "outcome": "promise_to_pay",
            "person_met": "debtor",
            "agreement": {
                "kind": "promise",
                "total": str((due / 2).quantize(Decimal("0.01"))),
                "waiver": str((due * Decimal("0.4")).quantize(Decimal("0.01"))),
                "due_date": (day + timedelta(days=7)).isoformat(),
                "acknowledgement": {"kind": "otp", "ref": "OTP-DESK-01"},
            },
        },
    )
    assert status == 200, answer
    auditor = Phone(served.url, clock=e2e_clock.now)
    auditor.login("auditor", "auditor-demo-pass")
    status, page = auditor.call("GET", f"/api/v1/audit/visits?loan_ref={stop['case']['loan_ref']}")
    assert status == 200, page
    return {
        "task": task,
        "loan_ref": stop["case"]["loan_ref"],
        "sha256": hashlib.sha256(content).hexdigest(),
        "collector_name": page["items"][0]["collector_name"],
        "collector": page["items"][0]["collector"],
        "second_loan_ref": second["case"]["loan_ref"],
        "refused_rule": refused["error"]["rule_id"],
    }


def sign_in(page, served, username="auditor", password="auditor-demo-pass"):
    page.goto(served.url + "/audit")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#desk:not([hidden])")


def open_visit(page, loan_ref):
    page.fill("input[name=loan_ref]", loan_ref)
    page.click("#filters button[type=submit]")
    rows = page.locator("#visits tbody tr[data-visit]")
    # The demo's finished day is on the first screen; the filtered answer replaces it.
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(loan_ref)
    rows.first.click()
    page.locator("#detail-facts .hash").first.wait_for()  # the detail is drawn, down to its recordings
    return page.locator("#detail")


def test_a_late_answer_for_the_first_screen_does_not_replace_a_filter_applied_since(served, new_page, visited):
    """The desk opens on its first screen of visits; an auditor who filters before that
    answer is in must see the filter's rows, not the first screen's arriving late."""
    page = new_page(viewport=DESKTOP)
    held = []

    def hold_the_first_screen(route):
        if visited["loan_ref"] in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/v1/audit/visits?*", hold_the_first_screen)
    sign_in(page, served)
    page.fill("input[name=loan_ref]", visited["loan_ref"])
    page.click("#filters button[type=submit]")
    rows = page.locator("#visits tbody tr[data-visit]")
    expect(rows).to_have_count(1)
    assert len(held) == 1  # the first screen's answer is still on its way
    with page.expect_response(lambda response: "/api/v1/audit/visits" in response.url):
        held[0].continue_()
    page.wait_for_timeout(300)  # the late answer's JSON read and (wrongly) drawn, if it were
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(visited["loan_ref"])


def test_an_auditor_filters_the_visit_log_and_opens_a_visit(served, new_page, visited):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    page.select_option("select[name=outcome]", "refused")
    detail = open_visit(page, visited["loan_ref"])
    detail.locator("dd", has_text=visited["sha256"]).wait_for()
    text = detail.inner_text()
    assert PLANTED in text  # shown as the agent typed it
    assert page.evaluate("window.__pwned") is None and detail.locator("script, img[src=x]").count() == 0
    assert page.locator("#detail-map .leaflet-interactive").count() >= 2  # the check-in against the address
    screenshot(page, "audit-desk-desktop")
    assert not page.js_errors


@pytest.mark.parametrize(
    "locale,outcome,person,collector_label",
    [
        ("en-GB", "Debtor refused to pay", "The debtor", "Collector"),
        ("zh-CN", "债务人拒绝还款", "债务人本人", "催收员"),
    ],
)
def test_a_visit_reads_in_words_with_the_collectors_name_and_both_clocks(
    served, new_page, visited, locale, outcome, person, collector_label
):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    detail = open_visit(page, visited["loan_ref"])
    row = page.locator("#visits tbody tr[data-visit]").first
    # The list and the detail are drawn in the page's language once its catalog is in: waited for.
    expect(row).to_contain_text(outcome)
    expect(row).to_contain_text(visited["collector_name"])
    expect(detail.locator("dd[data-fact='d.outcome']")).to_have_text(outcome)
    expect(detail.locator("dd[data-fact='d.person']")).to_have_text(person)
    # In words and names, not codes (the desk showed "refused", "debtor", "C001").
    text = detail.inner_text()
    assert outcome in text and person in text and visited["collector_name"] in text and "UTC" in text
    assert detail.locator("dd[data-fact='d.outcome']").inner_text() == outcome
    assert detail.locator("dd[data-fact='d.person']").inner_text() == person
    who = detail.locator("dd[data-fact='d.collector']").inner_text()
    assert visited["collector_name"] in who and visited["collector"] in who
    assert collector_label in detail.inner_text()
    check_in = detail.locator("dd[data-fact='d.checkIn']")
    # 10:00 at the door in Shanghai is 02:00 UTC: both are shown.
    assert "10:00" in check_in.locator("[data-time=judged]").inner_text()
    assert "Asia/Shanghai" in check_in.inner_text()
    utc = check_in.locator("[data-time=judged-utc]").inner_text()
    assert "02:00" in utc and "UTC" in utc
    screenshot(page, f"audit-desk-visit-words-{locale}")
    assert not page.js_errors


@pytest.mark.parametrize("locale,words", [("en-GB", "awaiting approval"), ("zh-CN", "待审批")])
def test_an_agreement_waiting_for_approval_and_its_flag_read_by_name(served, new_page, visited, locale, words):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    detail = open_visit(page, visited["second_loan_ref"])
    assert words in detail.inner_text() and "pending_approval" not in detail.inner_text()
    agreement = detail.locator("dd[data-fact='d.agreements']").inner_text()
    assert words in agreement and "pending_approval" not in agreement
    flags = detail.locator("dd[data-fact='d.flags']").inner_text()
    assert ("Waiver above the limit" if locale == "en-GB" else "减免超限") in flags
    screenshot(page, f"audit-desk-agreement-{locale}")


@pytest.mark.parametrize("locale,verified", [("en-GB", "Verified"), ("zh-CN", "已校验")])
def test_a_recording_plays_in_the_page_and_is_verified_against_its_stored_hash(
    served, new_page, visited, locale, verified
):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    detail = open_visit(page, visited["loan_ref"])
    recording = detail.locator(".recording").first
    recording.locator("button.play").click()
    status = recording.locator(".verify-status[data-verified]")
    expect(status).to_have_attribute("data-verified", "yes")
    assert verified in status.inner_text()
    audio = recording.locator("audio")
    expect(audio).to_have_count(1)
    assert audio.get_attribute("src").startswith("blob:")
    screenshot(page, f"audit-desk-recording-{locale}")
    assert not page.js_errors


def test_a_recording_whose_bytes_differ_from_the_stored_hash_is_not_called_verified(served, new_page, visited):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served)
    detail = open_visit(page, visited["loan_ref"])
    # The bytes as served, altered on the way (as if the file had been changed in storage).
    page.route(
        "**/api/v1/audit/recordings/*",
        lambda route: route.fulfill(status=200, body=b"OggS tampered", headers={"Content-Type": "audio/ogg"}),
    )
    recording = detail.locator(".recording").first
    recording.locator("button.play").click()
    status = recording.locator(".verify-status[data-verified]")
    expect(status).to_have_attribute("data-verified", "no")
    assert "NOT verified" in status.inner_text() and visited["sha256"] in status.inner_text()


@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_a_bad_filter_is_named_beside_its_field_and_leaves_no_rows(served, new_page, visited, locale):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    rows = page.locator("#visits tbody tr[data-visit]")
    rows.first.wait_for()  # the demo's day: rows that would be taken for an answer
    page.fill("input[name=collector]", "王芳")  # a name, where the API takes a collector's code
    page.click("#filters button[type=submit]")
    error = page.locator("#filters-collector-error")
    expect(error).to_be_visible()
    assert "letters, digits" in error.inner_text()
    expect(rows).to_have_count(0)
    assert page.locator("input[name=collector]").get_attribute("aria-invalid") == "true"
    screenshot(page, f"audit-desk-bad-collector-{locale}")
    page.fill("input[name=collector]", "")
    page.fill("input[name=from]", "2026-07-10")
    page.fill("input[name=to]", "2026-07-01")
    page.click("#filters button[type=submit]")
    expect(page.locator("#filters-to-error")).to_have_text("must be after from")
    expect(page.locator("#filters-collector-error")).to_have_count(0)
    expect(rows).to_have_count(0)
    screenshot(page, f"audit-desk-from-after-to-{locale}")
    page.fill("input[name=from]", "")
    page.fill("input[name=to]", "")
    page.click("#filters button[type=submit]")
    rows.first.wait_for()
    expect(page.locator("#filters .field-error")).to_have_count(0)
    assert not page.js_errors


@pytest.mark.parametrize("locale,refused_word", [("en-GB", "refused"), ("zh-CN", "被拒绝")])
def test_the_action_timeline_shows_every_event_refusals_included_filtered_and_paged(
    served, new_page, visited, locale, refused_word
):
    page = new_page(viewport=DESKTOP, locale=locale)
    sign_in(page, served)
    tab = page.locator("#tab-events")
    assert page.locator("[role=tablist] [role=tab]").count() == 2
    assert tab.get_attribute("aria-selected") == "false"
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    assert page.locator("#tab-visits").get_attribute("aria-selected") == "false"
    assert page.locator("#panel-visits").is_hidden() and page.locator("#panel-events").is_visible()
    rows = page.locator("#events tbody tr[data-seq]")
    rows.first.wait_for()
    expect(rows).to_have_count(50)  # the first page; the rest behind More
    page.click("#events-more")
    expect(rows).to_have_count(100)
    seqs = [int(s) for s in rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 100  # keyset paging: no row twice, none skipped
    page.fill("#event-filters input[name=action]", "field.check_in.rejected")
    page.click("#event-filters button[type=submit]")
    expect(rows.first).to_have_attribute("data-action", "field.check_in.rejected")
    refused = rows.first
    assert "refused" in (refused.get_attribute("class") or "")
    assert refused_word in refused.inner_text() and visited["refused_rule"] in refused.inner_text()
    refused.click()
    assert visited["refused_rule"] in page.locator("#event-changes").inner_text()
    screenshot(page, f"audit-desk-timeline-{locale}")
    page.fill("#event-filters input[name=actor]", "someone")
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#event-filters-actor-error")).to_be_visible()
    expect(rows).to_have_count(0)
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
