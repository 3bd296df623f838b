"""The app factory and its configuration from the environment."""

import ast
from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, normalise_database_url
from tests.conftest import TEST_PII_CONFIG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "APP_ENV",
        "POLICY_PROFILE",
        "STORAGE_DIR",
        "REDIS_URL",
        "PII_ENCRYPTION_KEYS",
        "PII_INDEX_KEY",
        "HSTS_MAX_AGE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_a_secret_key(clean_env):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_the_development_default_key(clean_env):
    clean_env.setenv("SECRET_KEY", "dev-insecure-secret-key")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_starts_with_a_real_secret_key(clean_env):
    clean_env.setenv("SECRET_KEY", "x" * 40)
    for name, value in TEST_PII_CONFIG.items():
        clean_env.setenv(name, value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["APP_ENV"] == "production"


@pytest.mark.parametrize("missing", ["PII_ENCRYPTION_KEYS", "PII_INDEX_KEY"])
def test_production_refuses_to_start_without_keys_for_personal_data(clean_env, missing):
    clean_env.setenv("SECRET_KEY", "x" * 40)
    for name, value in TEST_PII_CONFIG.items():
        if name != missing:
            clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{missing} is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_the_development_keys_for_personal_data(clean_env):
    from app import crypto

    clean_env.setenv("SECRET_KEY", "x" * 40)
    clean_env.setenv(
        "PII_ENCRYPTION_KEYS", f"{TEST_PII_CONFIG['PII_ENCRYPTION_KEYS']},{crypto.DEVELOPMENT_ENCRYPTION_KEYS}"
    )
    clean_env.setenv("PII_INDEX_KEY", TEST_PII_CONFIG["PII_INDEX_KEY"])
    with pytest.raises(ConfigError, match="development key may not be used in production"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize(
    "keys,why",
    [
        ("k1:not-base64!", "not valid base64"),
        ("k1:" + "QUJD", "must be 32 bytes"),
        ("no-id-here", "id:base64key"),
    ],
)
def test_a_malformed_encryption_key_is_named(clean_env, keys, why):
    clean_env.setenv("APP_ENV", "development")
    clean_env.setenv("PII_ENCRYPTION_KEYS", keys)
    with pytest.raises(ConfigError, match=why):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_the_embedded_default_is_a_sqlite_file_under_instance(clean_env):
    clean_env.setenv("APP_ENV", "development")
    app = create_app()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///") and uri.endswith("instance/fieldcollect.db")
    assert app.config["STORAGE_DIR"].endswith("instance/storage")
    assert app.config["POLICY_PROFILE"] == "cn"
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_settings_come_from_the_environment(clean_env):
    clean_env.setenv("APP_ENV", "development")
    clean_env.setenv("DATABASE_URL", "postgres://u@db/fc")
    clean_env.setenv("POLICY_PROFILE", "uk-conc")
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    config = create_app().config
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/fc"
    assert config["POLICY_PROFILE"] == "uk-conc"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"


def test_a_nonsense_number_setting_is_named(clean_env):
    clean_env.setenv("APP_ENV", "development")
    clean_env.setenv("TOKEN_TTL_MINUTES", "soon")
    with pytest.raises(ConfigError, match="TOKEN_TTL_MINUTES"):
        create_app()


def test_an_unknown_environment_is_refused(clean_env):
    clean_env.setenv("APP_ENV", "staging-ish")
    with pytest.raises(ConfigError, match="APP_ENV"):
        create_app()


@pytest.mark.parametrize(
    "given,expected",
    [
        ("postgres://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql+psycopg://a@b/c", "postgresql+psycopg://a@b/c"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_the_psycopg3_driver(given, expected):
    assert normalise_database_url(given) == expected


def test_wsgi_only_builds_the_app():
    tree = ast.parse((ROOT / "wsgi.py").read_text())
    statements = [type(node).__name__ for node in tree.body]
    assert statements == ["ImportFrom", "Assign"]


def test_extensions_are_created_unbound():
    """Importing the extensions builds no app, engine or session (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import app.extensions as e\n"
        "assert e.migrate.db is None\n"
        "try:\n    e.db.engine\nexcept RuntimeError:\n    print('unbound')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "unbound", result.stderr


def _service_loggers():
    import logging

    return {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level, logging.getLogger(name).propagate)
        for name in ("app", "api")
    }


def test_building_a_production_app_leaves_the_process_s_loggers_alone(clean_env):
    """A test or a script that builds an app must not stop the service's logs from reaching
    the root logger (where pytest, or the script, reads them)."""
    clean_env.setenv("SECRET_KEY", "x" * 40)
    for name, value in TEST_PII_CONFIG.items():
        clean_env.setenv(name, value)
    before = _service_loggers()
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert _service_loggers() == before


def test_a_serving_process_logs_json_lines_through_the_masking_filter(clean_env):
    import logging

    from app.observability import JSONFormatter, RedactingFilter

    clean_env.setenv("SECRET_KEY", "x" * 40)
    for name, value in TEST_PII_CONFIG.items():
        clean_env.setenv(name, value)
    before = _service_loggers()
    try:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, serving=True)
        for name in ("app", "api"):
            logger = logging.getLogger(name)
            [handler] = logger.handlers
            assert isinstance(handler.formatter, JSONFormatter)
            assert any(isinstance(f, RedactingFilter) for f in handler.filters)
            assert logger.propagate is False
    finally:
        for name, (handlers, level, propagate) in before.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate
