from app.models import Case


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_answers_ready_when_the_database_responds(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"


def test_each_test_starts_with_an_empty_database(rows, make):
    assert rows(Case) == 0
    make.case()
    assert rows(Case) == 1


def test_an_unreachable_database_answers_503_with_the_envelope_not_a_hang(tmp_path):
    import time

    from tests.conftest import make_app

    app = make_app("postgresql+psycopg://postgres@127.0.0.1:9/nowhere", tmp_path)
    client = app.test_client()
    started = time.monotonic()
    ready = client.get("/readyz")
    api = client.get("/api/v1/me", headers={"Authorization": "Bearer whatever"})
    assert time.monotonic() - started < 15
    assert ready.status_code == 503 and ready.json["error"]["code"] == "service_unavailable"
    assert api.status_code == 503 and api.json["error"]["code"] == "service_unavailable"
    assert "psycopg" not in api.get_data(as_text=True)


def test_every_response_carries_security_headers_and_a_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    hostile = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert "<" not in hostile.headers["X-Request-ID"]
