"""Transport security: HSTS on every answer in production."""
import pytest

from app import create_app
from tests.conftest import TEST_PII_CONFIG


def production_app(tmp_path, **config):
    return create_app({"APP_ENV": "production", "SECRET_KEY": "p" * 40, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "STORAGE_DIR": str(tmp_path), **TEST_PII_CONFIG, **config})


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/me", "/api/v1/no-such-route", "/board"])
def test_production_answers_carry_hsts(tmp_path, path):
    response = production_app(tmp_path).test_client().get(path)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
