"""The Performance page in a real browser: the demo's report drawn as four charts with
their numbers beside them, for a supervisor and, read-only, for an auditor; in English
and Chinese; nothing the page's CSP refuses; no serious accessibility violations."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import DESKTOP, screenshot

CHARTS = ("recovery", "kept", "flags", "roll")


def watch_console(page):
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    return messages


def sign_in(page, served, username, password):
    page.goto(served.url + "/board/performance")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#performance")).to_have_attribute("data-loaded", "true", timeout=30_000)


def test_a_supervisor_sees_recovery_promises_flags_and_rolls_drawn_from_the_demo(served, new_page):
    page = new_page(viewport=DESKTOP)
    console = watch_console(page)
    sign_in(page, served, "supervisor", "supervisor-demo-pass")
    for name in CHARTS:
        figure = page.locator(f"#chart-{name}")
        expect(figure.locator("figcaption")).not_to_be_empty()
        # The picture has a text alternative; the numbers are in a table beside it.
        assert figure.locator(".plot[role=img]").get_attribute("aria-label")
    # The demo's two months of payments, week by week, in yuan; drawn on a canvas.
    recovery = page.locator("#chart-recovery")
    expect(recovery.locator("canvas")).to_be_visible()
    assert recovery.locator("tbody tr").count() >= 8
    amounts = recovery.locator("tbody td:nth-child(2)").all_text_contents()
    assert any(re.search(r"[1-9]", a) and "¥" in a for a in amounts), amounts
    # Yesterday's visit closed without its recording is a flag of its rule, per 100 visits.
    flags = page.locator("#chart-flags")
    expect(flags.locator("canvas")).to_be_visible()
    expect(flags.locator("tbody")).to_contain_text("cn.missing_recording")
    # The demo agent's crew made a promise yesterday.
    expect(page.locator("#chart-kept tbody")).to_contain_text("SH-CENTRAL-K01")
    # Cases that aged from M1 into M2 over the period.
    expect(page.locator("#chart-roll tbody")).to_contain_text("M2")
    expect(page.locator("#chart-roll canvas")).to_be_visible()
    expect(page.locator("#readonly")).to_be_hidden()
    page.locator("#chart-recovery summary").click()
    screenshot(page, "performance-supervisor-en")
    assert not page.js_errors
    assert not [m for m in console if "Content Security Policy" in m], console
    assert axe_violations(page) == []


def test_the_charts_read_in_chinese(served, new_page):
    page = new_page(viewport=DESKTOP, locale="zh-CN")
    sign_in(page, served, "supervisor", "supervisor-demo-pass")
    expect(page.locator("#chart-recovery figcaption")).to_have_text("每周回收金额")
    expect(page.locator("#chart-roll figcaption")).to_have_text("逾期分组迁徙率")
    assert "柱状图" in page.locator("#chart-flags .plot").get_attribute("aria-label")
    expect(page.locator("#chart-kept thead")).to_contain_text("兑现率")
    screenshot(page, "performance-supervisor-zh")
    page.click("#performance .lang-switch")
    expect(page.locator("#chart-recovery figcaption")).to_have_text(re.compile("Recovered per week"))
    assert not page.js_errors


def test_an_auditor_reads_the_same_charts_and_is_offered_nothing_to_change(served, new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, served, "auditor", "auditor-demo-pass")
    expect(page.locator("#readonly")).to_be_visible()
    expect(page.locator("#chart-flags tbody")).to_contain_text("cn.missing_recording")
    expect(page.locator("#chart-recovery canvas")).to_be_visible()
    # Only reading: the period, the language and signing out.
    buttons = page.locator("#performance button:visible").all_inner_texts()
    assert sorted(buttons) == sorted(["Show", "中文 / English", "Sign out"]), buttons
    screenshot(page, "performance-auditor")
    assert not page.js_errors


def test_an_agent_is_told_the_page_is_not_for_them(served, new_page):
    page = new_page(viewport=DESKTOP)
    page.goto(served.url + "/board/performance")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", "agent-demo-pass")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#error")).to_contain_text("supervisors, auditors")
    assert page.locator("canvas").count() == 0


@pytest.mark.parametrize(
    "path,username,password",
    [("/board", "supervisor", "supervisor-demo-pass"), ("/audit", "auditor", "auditor-demo-pass")],
)
def test_the_board_and_the_audit_desk_link_to_the_performance_page(served, new_page, path, username, password):
    page = new_page(viewport=DESKTOP)
    page.goto(served.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#board:not([hidden]), #desk:not([hidden])")
    # The page's first lists are in (the team picker filled in shifts the header's link).
    page.wait_for_load_state("networkidle")
    page.click("#performance-link")
    page.wait_for_url("**/board/performance")
    # The same tab keeps the session: no second sign-in.
    expect(page.locator("#performance")).to_have_attribute("data-loaded", "true", timeout=30_000)


def test_a_period_asked_for_after_another_is_the_one_drawn_whatever_answer_comes_last(served, new_page):
    """A supervisor asks for April, then, before it is in, for May: May is drawn, and
    April's answers arriving late do not replace it."""
    page = new_page(viewport=DESKTOP)
    sign_in(page, served, "supervisor", "supervisor-demo-pass")
    held = []

    def hold_april(route):
        if "from=2026-04-01" in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/reports/portfolio?*", hold_april)
    scope = page.locator("#scope")
    for start, end in (("2026-04-01", "2026-04-30"), ("2026-05-01", "2026-05-31")):
        page.fill("#period input[name=from]", start)
        page.fill("#period input[name=to]", end)
        page.click("#period button[type=submit]")
    expect(page.locator("#performance")).to_have_attribute("data-loaded", "true")
    may = scope.inner_text()
    assert len(held) == 2 and may  # April's two reports are still on their way
    with page.expect_response(lambda response: "from=2026-04-01" in response.url):
        for route in held:
            route.continue_()
    page.wait_for_timeout(300)  # April's answers read and (wrongly) drawn, if they were
    expect(scope).to_have_text(may)
    assert not page.js_errors
