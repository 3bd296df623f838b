"""Domain errors and the one JSON error envelope.

Services raise ``DomainError`` subclasses; only the HTTP edge turns them into a
status code. Every 4xx and 5xx answers
``{"error": {"code": ..., "message": ..., "fields": {...}}}``.
"""

import logging
from typing import Any

from flask import current_app, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    # A refusal that is itself on record (a refused move): the request keeps what it wrote
    # about the refusal, and nothing else, since the attempt was undone before raising.
    keep_record = False

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class PolicyViolation(DomainError):
    """A conduct-policy rule refused the action; ``code`` is the rule id."""

    status = 422

    def __init__(
        self,
        message: str,
        *,
        rule_id: str,
        profile_version: str | None = None,
        fields: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, fields=fields, code="policy_violation", details=details)
        self.rule_id = rule_id
        self.profile_version = profile_version


class FieldEventRefused(DomainError):
    """A field action answered rejected or in conflict. The event and its answer are on
    record, so the refusal is committed, not rolled back; the envelope carries the answer."""

    keep_record = True

    def __init__(self, answer):
        error = answer["error"]
        super().__init__(error["message"], fields=error.get("fields") or {}, code=error["code"], details=answer)
        self.status = answer.get("http_status") or 409
        self.rule_id = error.get("rule_id")
        self.profile_version = error.get("profile_version")
        self.reason_zh = error.get("reason_zh")
        self.rules = error.get("rules")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class RangeNotSatisfiable(DomainError):
    """A byte range (HTTP Range) that lies wholly past the end of the file; the answer
    says how long the file is (``Content-Range: bytes */length``)."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message, *, length, **kwargs):
        super().__init__(message, fields={"Range": [f"the file has {length} bytes"]}, **kwargs)
        self.headers = {"Content-Range": f"bytes */{length}"}


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def envelope(status, code, message, fields=None, **extra):
    body = {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}
    return jsonify(body), status


def _rollback():
    """Nothing half-saved: whatever the failed request flushed is undone here."""
    from app.extensions import db

    db.session.rollback()


def _handle_domain_error(exc):
    if exc.keep_record:
        from app.extensions import db

        db.session.commit()
    else:
        _rollback()
    extra = {}
    if isinstance(exc, PolicyViolation):
        extra = {"rule_id": exc.rule_id, "profile_version": exc.profile_version}
    elif isinstance(exc, FieldEventRefused) and exc.rule_id:
        extra = {
            "rule_id": exc.rule_id,
            "profile_version": exc.profile_version,
            "reason_zh": exc.reason_zh,
            "rules": exc.rules or [],
        }
    if exc.details is not None:
        extra["details"] = exc.details
    response, status = envelope(exc.status, exc.code, exc.message, exc.fields, **extra)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response, status


def _handle_http_error(exc):
    _rollback()
    status = exc.code or 500
    response, status = envelope(status, _HTTP_CODES.get(status, "http_error"), exc.description or exc.name)
    # Keep what the exception says about the protocol (Allow, Retry-After, WWW-Authenticate).
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response, status


def _handle_unexpected(exc):
    from sqlalchemy.exc import InterfaceError, OperationalError

    _rollback()
    if isinstance(exc, (OperationalError, InterfaceError)) and _database_down(exc):
        log.error("database unavailable: %s", type(exc).__name__)
        return envelope(503, "service_unavailable", "The database is unavailable; try again shortly.")
    if current_app.testing and current_app.config.get("PROPAGATE_UNEXPECTED", True):
        # A bug under test is a failing test, not a quiet 500.
        raise exc
    log.exception("unhandled error")
    return envelope(500, "internal_error", "An internal error occurred; it has been logged.")


def _database_down(exc):
    return bool(getattr(exc, "connection_invalidated", False)) or "connect" in str(exc.orig).lower()


def _handle_stale(exc):
    """A row changed under us between reading and writing it (optimistic locking)."""
    _rollback()
    return envelope(409, "changed_meanwhile", "Someone changed this at the same moment; reload and try again.")


def register(app):
    from sqlalchemy.orm.exc import StaleDataError

    app.register_error_handler(StaleDataError, _handle_stale)
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
