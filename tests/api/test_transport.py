"""Transport security: HSTS on every answer in production."""

import pytest

from app import create_app
from tests.conftest import TEST_PII_CONFIG


def production_app(tmp_path, **config):
    return create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "p" * 40,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "STORAGE_DIR": str(tmp_path),
            **TEST_PII_CONFIG,
            **config,
        }
    )


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/me", "/api/v1/no-such-route", "/board"])
def test_production_answers_carry_hsts(tmp_path, path):
    response = production_app(tmp_path).test_client().get(path)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_max_age_is_configurable_and_zero_withdraws_the_policy(tmp_path):
    short = production_app(tmp_path, HSTS_MAX_AGE=300, HSTS_INCLUDE_SUBDOMAINS=False).test_client().get("/healthz")
    assert short.headers["Strict-Transport-Security"] == "max-age=300"
    withdrawn = production_app(tmp_path, HSTS_MAX_AGE=0).test_client().get("/healthz")
    assert withdrawn.headers["Strict-Transport-Security"] == "max-age=0"


def test_hsts_max_age_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HSTS_MAX_AGE", "63072000")
    monkeypatch.setenv("HSTS_PRELOAD", "true")
    response = production_app(tmp_path).test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains; preload"


def test_development_and_testing_send_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_a_served_production_app_sends_hsts_on_errors_too(tmp_path):
    client = production_app(tmp_path).test_client()
    for response in (client.get("/api/v1/cases"), client.post("/healthz"), client.get("/api/v1/nothing")):
        assert response.status_code in (401, 404, 405)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
