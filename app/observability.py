"""Structured logs and Prometheus metrics.

Logs are one JSON object per line with the request id, so a request can be followed
across workers and machines. ``/metrics`` answers in the Prometheus text format:
request counts and latencies (shared across gunicorn workers when
``PROMETHEUS_MULTIPROC_DIR`` is set), and, read from the database when scraped,
queue depth, plans made and conduct flags raised.
"""

import json
import logging
import os
import re
import time
from datetime import UTC, datetime

from flask import Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("fieldcollect_http_requests", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "fieldcollect_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10),
)
# Elements of a sync batch answered without a usable client_event_id (so not stored under one).
FIELD_EVENTS_WITHOUT_ID = Counter(
    "fieldcollect_field_events_without_id", "Field events answered that carried no usable client_event_id"
)
access_log = logging.getLogger("app.access")


# ---------------------------------------------------------------- personal data out of the logs

_SECRET_NAMES = r"(?:access_token|refresh_token|token|password|password_hash|secret|secret_key|authorization|api_key)"
_PII_NAMES = r"(?:phone|national_id|name|debtor_name|address|username)"
_REDACTIONS = (
    # SQLAlchemy puts a failed statement's bound values in its message: every one of them goes.
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.S), "[parameters: redacted]"),
    # PostgreSQL repeats the offending values: Key (national_id)=(310101...) already exists.
    (re.compile(r"(Key \([^)]*\)=\()[^\n]*?(\) )"), r"\1redacted\2"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 [redacted]"),
    (re.compile(rf"(?i)([\"']?\b{_SECRET_NAMES}[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}}]+)"), r"\1[redacted]"),
    (re.compile(rf"(?i)([?&]{_PII_NAMES}=)[^&\s#]*"), r"\1[redacted]"),
)
_NATIONAL_ID = re.compile(r"(?<![\w.])(\d{6})\d{8}(\d{3}[\dXx])(?![\w.])")
_PHONE = re.compile(r"(?<![\w.])(\+?\d{3})(\d{4,10})(\d{4})(?![\w.])")


def redact(text):
    """Text with secrets removed and personal numbers masked (``138****5678``)."""
    if not text:
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    text = _NATIONAL_ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


class RedactingFilter(logging.Filter):
    """Masks personal data in a record before any handler writes it: the message with
    its arguments, and the traceback (its text only; tracebacks carry no locals)."""

    def filter(self, record):
        message = record.getMessage()
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatted (and masked) already; not formatted again from the frames
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        for key in ("method", "path", "status", "duration_ms", "user_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def log_handler(stream=None):
    """The handler the service logs through: JSON lines, personal data masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(app):
    """The service's loggers write JSON lines through the masking filter, and only there
    (they no longer reach the root logger). Process-wide: ``create_app(serving=True)``."""
    if app.config.get("LOG_FORMAT", "json") != "json" or app.testing:
        return
    handler = log_handler()
    for name in ("app", "api"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
        logger.propagate = False


def install(app):
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count_request(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(elapsed)
        access_log.info(
            "%s %s %s",
            request.method,
            endpoint,
            response.status_code,
            extra={
                "method": request.method,
                "path": endpoint,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
                "user_id": g.get("user_id"),
            },
        )
        return response

    @app.get("/metrics")
    def metrics():
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
            registry.register(FIELD_EVENTS_WITHOUT_ID)
        registry.register(_DomainCollector(current_app._get_current_object()))
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _DomainCollector:
    """Figures read from the database (and Redis) when scraped, so every worker agrees."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import ConductFlag, DispatchPlan, Job

        with self.app.app_context():
            plans = GaugeMetricFamily("fieldcollect_plans", "Dispatch plans made, by status", labels=["status"])
            for status, count in db.session.execute(
                select(DispatchPlan.status, func.count()).group_by(DispatchPlan.status)
            ):
                plans.add_metric([status], count)
            flags = GaugeMetricFamily(
                "fieldcollect_conduct_flags", "Conduct flags raised, by kind and status", labels=["kind", "status"]
            )
            for kind, status, count in db.session.execute(
                select(ConductFlag.kind, ConductFlag.status, func.count()).group_by(
                    ConductFlag.kind, ConductFlag.status
                )
            ):
                flags.add_metric([kind, status], count)
            jobs = GaugeMetricFamily("fieldcollect_jobs", "Background jobs, by status", labels=["status"])
            for status, count in db.session.execute(select(Job.status, func.count()).group_by(Job.status)):
                jobs.add_metric([status], count)
            depth = GaugeMetricFamily("fieldcollect_queue_depth", "Jobs waiting in the queue")
            depth.add_metric([], self._queue_depth())
            db.session.remove()
        yield from (plans, flags, jobs, depth)

    def _queue_depth(self):
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import Job

        if self.app.config.get("REDIS_URL"):
            try:
                from app import jobs

                return len(jobs.queue(self.app))
            except Exception:  # Redis down: fall back to the database's view
                pass
        return db.session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(("queued", "retrying"))))
