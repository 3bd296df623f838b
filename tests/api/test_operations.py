"""What operators read: Prometheus metrics and structured logs with request ids."""

import json
import logging

from app.models import ConductFlag, DispatchPlan
from app.observability import JSONFormatter


def test_metrics_answer_request_counts_and_domain_figures(client, make):
    make._save(ConductFlag(kind="mock_location", rule_id="cn.mock_location", profile_version="cn@2026.1", details={}))
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'fieldcollect_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text
    assert "fieldcollect_http_request_seconds_bucket" in text
    assert 'fieldcollect_conduct_flags{kind="mock_location",status="open"} 1.0' in text
    assert "fieldcollect_queue_depth 0.0" in text
    assert "fieldcollect_plans" in text


def test_log_lines_are_json_with_the_request_id(app, client):
    formatter = JSONFormatter()
    with app.test_request_context("/api/v1/cases", headers={"X-Request-ID": "req-123"}):
        app.preprocess_request()
        record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "GET %s %s", ("/api/v1/cases", 200), None)
        record.status, record.duration_ms = 200, 3.2
        line = json.loads(formatter.format(record))
    assert line["request_id"] == "req-123" and line["message"] == "GET /api/v1/cases 200"
    assert line["status"] == 200 and line["level"] == "info" and line["ts"].endswith("+00:00")


def test_a_plan_made_shows_in_the_metrics(client, make):
    team = make.team()
    make._save(
        DispatchPlan(
            plan_date=make.today(),
            team_id=team.id,
            status="committed",
            policy_profile="cn@2026.1",
            result={},
            summary={},
        )
    )
    assert 'fieldcollect_plans{status="committed"} 1.0' in client.get("/metrics").get_data(as_text=True)
