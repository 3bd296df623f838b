"""The agent sees a supervisor's answer to a waiver on the phone's stop (Chromium at phone
size against gunicorn on each backend): a waiver asked at the door above the agent's
limit, refused by the supervisor with a reason, is shown on the stop with that reason."""
from datetime import timedelta
from decimal import Decimal

from tests.e2e.test_field_app import (  # noqa: F401 (fixtures)
    AGENT,
    media_browser,
    open_stop,
    phone_page,
    planned,
    shot,
    sign_in_and_open_day,
)
from tests.phone import Phone


def test_a_refused_waiver_is_shown_on_the_stop_with_its_reason(served, phone_page, planned, e2e_clock):  # noqa: F811
    day = planned(63)
    stop = day.stops[0]
    agent = Phone(served.url, clock=e2e_clock.now)
    agent.login(*AGENT)
    status, _ = agent.call("POST", f"/api/v1/agent/tasks/{stop['task_id']}/check-in", {
        "client_event_id": f"waiver-e2e-in-{stop['task_id']}", "lat": stop["debtor"]["lat"],
        "lon": stop["debtor"]["lon"], "accuracy_m": 5.0, "device_time": e2e_clock.now().isoformat()})
    assert status == 201
    due = Decimal(stop["case"]["amount_due"])
    waiver = (due * Decimal("0.3")).quantize(Decimal("0.01"))
    total = (due - waiver).quantize(Decimal("0.01"))
    status, answer = agent.call("POST", f"/api/v1/agent/tasks/{stop['task_id']}/visit", {
        "client_event_id": f"waiver-e2e-visit-{stop['task_id']}", "outcome": "promise_to_pay",
        "person_met": "debtor", "agreement": {
            "kind": "promise", "total": str(total), "waiver": str(waiver),
            "due_date": (day.day + timedelta(days=7)).isoformat(), "acknowledgement": {"kind": "otp", "ref": "OTP-7788"}}})
    assert status == 200 and answer["agreement"]["status"] == "pending_approval", answer
    supervisor = Phone(served.url, clock=e2e_clock.now)
    supervisor.login("supervisor", "supervisor-demo-pass")
    status, decided = supervisor.call("POST", f"/api/v1/agreements/{answer['agreement']['id']}/reject",
                                      {"reason": "Bring the hospital bill first"})
    assert status == 200 and decided["status"] == "rejected", decided

    page = phone_page(stop)
    sign_in_and_open_day(page, served, day.day)
    open_stop(page, stop)
    card = page.wait_for_selector("#waiver-answer")
    assert card.inner_text() == "Waiver refused by the supervisor: Bring the hospital bill first"
    shot(page, "field-waiver-refused")
    assert page.js_errors == []
