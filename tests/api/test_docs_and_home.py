"""The first run: a start page that leads somewhere, and an API reference that renders
under the service's own Content-Security-Policy with examples that are true."""

import re

from api.examples import FIELD_EXAMPLES
from app import create_app
from app.services.demo import CREDENTIALS
from tests.api.test_field import HOME
from tests.conftest import TEST_PII_CONFIG


def test_the_start_page_links_the_board_the_audit_desk_the_field_app_and_the_docs(client):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for href in ('href="/board"', 'href="/audit"', 'href="/field"', 'href="/api/v1/docs"'):
        assert href in page
    assert "调度看板" in page and "Dispatch board" in page


def test_the_start_page_shows_the_demo_accounts_in_development_only(client, app, monkeypatch):
    assert "supervisor-demo-pass" not in client.get("/").get_data(as_text=True)  # testing
    monkeypatch.setitem(app.config, "APP_ENV", "development")
    page = client.get("/").get_data(as_text=True)
    for username, password, _role in CREDENTIALS:
        assert f"<code>{username}</code>" in page and password in page


def test_the_start_page_never_shows_demo_passwords_in_production(monkeypatch):
    for name in ("CLOCK_START", "CLOCK_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    for name, value in TEST_PII_CONFIG.items():
        monkeypatch.setenv(name, value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    page = app.test_client().get("/").get_data(as_text=True)
    assert "demo-pass" not in page and 'href="/board"' in page


def test_the_docs_page_has_no_inline_style_or_script_so_the_csp_lets_it_render(client):
    response = client.get("/api/v1/docs")
    page = response.get_data(as_text=True)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<style" not in page and " style=" not in page and "<script" not in page
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    css = client.get(stylesheet)
    assert css.status_code == 200 and css.mimetype == "text/css" and b".op" in css.data
    css.close()


def test_the_docs_page_groups_operations_by_tag(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    titles = re.findall(r'<h2 id="tag-([a-z_]+)-title">', page)
    assert {"field", "cases", "audit", "dispatch"} <= set(titles) and titles == sorted(titles)
    field = page.split('<h2 id="tag-field-title">')[1].split("</section>")[0]
    assert "/api/v1/agent/sync" in field and "/api/v1/cases" not in field


def test_the_phones_endpoints_carry_examples_in_the_docs_and_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    page = client.get("/api/v1/docs").get_data(as_text=True)
    for endpoint, example in FIELD_EXAMPLES.items():
        op = next(
            op
            for ops in spec["paths"].values()
            for op in ops.values()
            if isinstance(op, dict) and op.get("operationId") == endpoint.replace(".", "_")
        )
        assert op["requestBody"]["content"]["application/json"]["example"] == example["request"]
        assert op["responses"][str(example["status"])]["content"]["application/json"]["example"] == example["answer"]
        assert f'id="{op["operationId"]}"' in page
    assert "门铃无人应答" in page  # Chinese shown as itself, not as \\u escapes


def shape(value):
    """The keys of an answer, all the way down, with the type of every leaf."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_each_example_sent_to_a_real_crews_day_is_answered_in_exactly_the_examples_shape(client, day):
    """The examples name task 1 and 2 and one phone; send them to this test's day (its own
    ids) in the order a phone would, and compare the answers' shape with the examples'."""
    task_ids = {1: day.tasks[0].id, 2: day.tasks[1].id}
    headers = {**day.phone_headers(), "X-Device-Seq": "0"}
    for endpoint in ("api.field.check_in", "api.field.record_visit", "api.field.check_out", "api.field.sync"):
        example = FIELD_EXAMPLES[endpoint]
        path = re.sub(r"/tasks/1/", f"/tasks/{task_ids[1]}/", example["path"])
        body = example["request"]
        if endpoint == "api.field.sync":
            body = {
                "events": [
                    {
                        **body["events"][0],
                        "task_id": task_ids[2],
                        "lat": HOME[0] + 0.01,
                        "device_time": day.clock().isoformat(),
                    },
                    body["events"][1],
                ]
            }
        else:
            body = {**body, "device_time": day.clock().isoformat()}
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == example["status"], answer.json
        assert shape(answer.json) == shape(example["answer"]), endpoint
