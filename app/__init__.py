"""The application factory."""

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event

from app import audit, clock, crypto, errors, observability, policy, transactions
from app import config as config_module
from app.extensions import db, limiter, migrate

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class JSONProvider(DefaultJSONProvider):
    """ISO 8601 for dates and times (Flask's default is the HTTP date format), and
    decimal text for Decimal, wherever they appear in a response."""

    @staticmethod
    def default(value):
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return DefaultJSONProvider.default(value)


def create_app(config=None, *, serving=False):
    """Build the app. ``config`` (a dict) overrides what the environment says.

    ``serving``: this process is the app's server or worker (``wsgi.py``, a job worker), so
    the service's loggers are pointed at its JSON handler — a change to the whole process,
    made by its entry point only, never by a test or a script that merely builds an app."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = JSONProvider(app)
    app.config.update(config_module.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    config_module.check(app.config)
    crypto.init_app(app)
    _install_clock(app)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    limiter.init_app(app)
    audit.install()
    policy.init_app(app)
    errors.register(app)
    _install_request_hooks(app)
    observability.install(app)
    if serving:
        observability.configure_logging(app)
    with app.app_context():
        _configure_sqlite(db.engine)

    from api import create_blueprint
    from api.fields import IdConverter
    from api.health import bp as health_bp
    from app.web import bp as web_bp

    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(create_blueprint())
    app.register_blueprint(health_bp)
    app.register_blueprint(web_bp)

    from app import cli

    cli.register(app)
    return app


def _install_clock(app):
    if app.config.get("CLOCK_FILE") and app.config.get("CLOCK") is None:
        app.config["CLOCK"] = clock.FileClock(app.config["CLOCK_FILE"])
    start = app.config.get("CLOCK_START")
    if start and app.config.get("CLOCK") is None:
        try:
            moment = datetime.fromisoformat(start)
        except ValueError:
            raise config_module.ConfigError(f"CLOCK_START must be an ISO 8601 time, got {start!r}") from None
        if moment.tzinfo is None:
            raise config_module.ConfigError("CLOCK_START needs a UTC offset, e.g. 2026-06-10T10:00:00+08:00")
        app.config["CLOCK"] = clock.OffsetClock(moment)


def _engine_options(uri):
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # Fail fast when PostgreSQL is down (readyz answers 503 instead of hanging) and
    # drop connections that died with a server restart.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}


def _configure_sqlite(engine):
    """SQLite: enforce foreign keys, use WAL, and let SQLAlchemy own BEGIN.

    A writer's transaction starts with BEGIN IMMEDIATE, so writers queue for the lock at
    the start instead of failing halfway; a reader's starts deferred and reads beside
    the writer (``app.transactions``). With the driver's own transaction handling off,
    SAVEPOINT works as on PostgreSQL (the recipe in SQLAlchemy's pysqlite notes).
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    transactions.install(engine)


def _hsts(config):
    """The Strict-Transport-Security value production sends on every answer (None elsewhere).

    TLS ends at the reverse proxy in front of gunicorn; browsers act on the header only
    when it arrives over HTTPS, so sending it on every answer is safe (docs/production.md, "Running in
    production")."""
    if config["APP_ENV"] != "production":
        return None
    value = f"max-age={config['HSTS_MAX_AGE']}"
    if config["HSTS_INCLUDE_SUBDOMAINS"] and config["HSTS_MAX_AGE"]:
        value += "; includeSubDomains"
    if config["HSTS_PRELOAD"] and config["HSTS_MAX_AGE"]:
        value += "; preload"
    return value


def _install_request_hooks(app):
    hsts = _hsts(app.config)

    @app.before_request
    def identify_request():
        # The server's receive time: what an online field action is judged on.
        g.received_at = clock.now()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.client_ip = request.remote_addr or "unknown"

    @app.after_request
    def harden_response(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob: https:; media-src 'self' blob:; frame-ancestors 'none'",
        )
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if hsts is not None:
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response
