"""The HTTP edge shared by every blueprint: one decorator that authenticates,
authorises, validates the body and query with marshmallow, calls the view,
serialises the result and commits the request's one transaction.

A view therefore only calls a service function and returns what it got. The
decorator also records each endpoint's schemas and permission, from which the
OpenAPI document and the role-matrix test are built.
"""

import functools
import json

from flask import Response, g, jsonify, request, stream_with_context
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from marshmallow.experimental.context import Context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.fields import ID_MAX, Instant
from app import authz
from app.auth import authenticate_request
from app.errors import Conflict, DomainError, NotFound, UnsupportedMediaType, ValidationFailed
from app.extensions import db


class BaseSchema(Schema):
    class Meta:
        unknown = RAISE


class PageQuery(BaseSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    after = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, ID_MAX),
        metadata={"description": "Keyset cursor: the last id of the previous page."},
    )


class _RefusingRule(Schema):
    allowed = fields.Boolean()
    rule_id = fields.String()
    profile = fields.String()
    reason_en = fields.String()
    reason_zh = fields.String()
    details = fields.Dict(keys=fields.String(), metadata={"description": "The facts the rule was judged on."})


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    rule_id = fields.String()
    profile_version = fields.String()
    reason_zh = fields.String(metadata={"description": "A policy refusal's reason in Chinese."})
    rules = fields.List(
        fields.Nested(_RefusingRule),
        metadata={"description": "Every rule that refused it (rule_id, profile, reason_en, reason_zh, details)."},
    )
    details = fields.Dict(keys=fields.String(), metadata={"description": "More about the error, by name."})
    field_errors = fields.Dict(
        required=True,
        data_key="fields",
        keys=fields.String(),
        metadata={"description": "Each bad field with its messages."},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


def page_of(item_schema):
    """A schema for {"items": [...], "next_after": id|null}."""
    name = f"{item_schema.__name__.removesuffix('Schema').removesuffix('Out')}Page"
    return type(
        name,
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_after": fields.Integer(allow_none=True, required=True),
        },
    )


def _json_body():
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to parse
        raise DomainError("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.", fields={"_body": ["must be a JSON object"]})
    return data


_NESTING = 6


def _nul_fields(value):
    """The fields (nested like marshmallow's messages) whose text holds a NUL character,
    which PostgreSQL cannot store or even compare: refused here as bad input rather
    than failing in the driver as a 500. Walked without recursion, so a body nested
    as deep as the JSON parser allows cannot exhaust the stack here."""
    found = {}
    stack = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                # Nested like marshmallow's messages a few levels down, then one dotted
                # name, so the answer itself stays shallow enough to write as JSON.
                path = path[:_NESTING] + (".".join(path[_NESTING:]),) if len(path) > _NESTING else path
                target = found
                for key in path[:-1]:
                    target = target.setdefault(key, {})
                if isinstance(target, dict):
                    target[path[-1] if path else "_body"] = ["must not contain a NUL character"]
        elif isinstance(item, dict):
            for key, child in item.items():
                name = str(key)
                if "\x00" in name:
                    stack.append((name, (*path, name.replace("\x00", "\\0"))))
                stack.append((child, (*path, name.replace("\x00", "\\0"))))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
    return found or None


def load(schema, data, partial=False):
    # A schema whose elements are each loaded on their own (a sync batch) leaves the NUL
    # check to each element, so one bad element never refuses the batch.
    bad = None if getattr(schema, "elements_loaded_one_by_one", False) else _nul_fields(data)
    if bad:
        raise ValidationFailed("Text may not contain NUL characters.", fields=bad)
    if partial is True:
        # Only the body's own fields may be left out: marshmallow's partial=True reaches into
        # nested schemas too, so a place without its required kind would be stored.
        partial = tuple(schema.fields)
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed("Some fields are not valid.", fields=exc.messages) from None


class DeviceHeaders(BaseSchema):
    """What the field app says about its phone with every request (see app.services.devices)."""

    class Meta:
        unknown = EXCLUDE

    key = fields.String(
        data_key="X-Device-Id",
        validate=validate.Regexp(r"^[A-Za-z0-9._\-]{8,64}$", error="8 to 64 letters, digits, '.', '_' or '-'"),
        metadata={"description": "The phone's own id, made once and kept (e.g. a UUID)."},
    )
    device_time = Instant(
        data_key="X-Device-Time",
        load_default=None,
        metadata={"description": "The phone's clock when it sent the request, ISO 8601 with offset."},
    )
    seq_high = fields.Integer(
        data_key="X-Device-Seq",
        load_default=None,
        validate=validate.Range(0, 2**53),
        metadata={"description": "The highest outbox sequence number the phone has handed out so far."},
    )


def _device_contact(user, required):
    """Note the request's phone and clock (``g.device_contact``); refused only where the
    endpoint needs them (a sync batch is judged by them)."""
    from app.services import devices

    names = ("X-Device-Id", "X-Device-Time", "X-Device-Seq")
    present = {name: request.headers[name] for name in names if name in request.headers}
    if "X-Device-Id" not in present:
        if required:
            raise ValidationFailed(
                "Say which phone is sending: the X-Device-Id and X-Device-Time headers.",
                fields={"X-Device-Id": ["required for this request"]},
            )
        g.device_contact = None
        return
    loaded = load(DeviceHeaders(), present)
    if required and loaded["device_time"] is None:
        raise ValidationFailed(
            "Send the phone's clock with the batch (X-Device-Time).",
            fields={"X-Device-Time": ["required for this request"]},
        )
    g.device_contact = devices.note_contact(user, devices.Report(**loaded), g.received_at)


def endpoint(
    *,
    permission,
    body=None,
    query=None,
    response=None,
    status=200,
    partial=False,
    raw_body=None,
    response_content_type=None,
    streams=None,
    errors=(),
    also=None,
    device=None,
):
    """Declare an API view: who may call it, what it takes and what it answers.

    ``permission`` names an entry of ``app.authz.PERMISSIONS`` (``None`` for a public
    endpoint). ``body``/``query`` are marshmallow schema classes for the JSON body and
    the query string; the loaded values reach the view as ``data`` and ``args``.
    ``streams`` maps other media types the view may answer with ``streamed`` (e.g.
    ``text/csv``) to a description, for the OpenAPI document. ``errors``: statuses the
    view itself may answer besides those its declaration implies (e.g. 409), for the same.
    ``also`` maps other success statuses the view answers with the same body (e.g. 200 for
    a resent event) to a description. ``device`` ("optional" or "required"): the endpoint
    reads the phone's ``X-Device-*`` headers (``g.device_contact``).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            user = None
            if any(isinstance(v, str) and "\x00" in v for v in kwargs.values()):
                raise NotFound("No such resource.")  # no id holds a NUL character
            if permission is not None:
                user = authenticate_request()
                authz.require(user, permission)
            if device is not None:
                _device_contact(user, device == "required")
            if query is not None:
                kwargs["args"] = load(query(), request.args.to_dict(flat=True))
            if body is not None and raw_body is not None and not request.is_json:
                if request.mimetype != raw_body:
                    raise UnsupportedMediaType(f"Send the body as JSON or as {raw_body}.")
                kwargs["data"] = None  # the file in ``raw_body``'s media type: the view reads it
            elif body is not None:
                kwargs["data"] = load(body(), _json_body(), partial=partial)
            result = view(**kwargs)
            answered = status
            if isinstance(result, tuple):  # (object, status): a view that answers more than one success
                result, answered = result
            if isinstance(result, Response):
                if not getattr(result, "commits_after_stream", False):
                    commit()
                return result
            if response is None:
                commit()
                return "", status
            reads = []
            with Context({"viewer": user, "personal_reads": reads}):
                payload = response().dump(result)
            if reads:
                # A debtor's personal data in the answer: on the log, in this request's transaction.
                from app.services.audit_log import record_personal_reads

                record_personal_reads(user, reads, via=_via())
            commit()
            return jsonify(payload), answered

        wrapper.api_spec = {
            "permission": permission,
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "partial": partial,
            "raw_body": raw_body,
            "response_content_type": response_content_type,
            "streams": streams or {},
            "errors": frozenset(errors),
            "also": also or {},
            "device": device,
            "summary": (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else view.__name__,
        }
        return wrapper

    return decorator


def commit():
    """The request's one commit; a constraint the database refuses is a 409, not a 500."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "This conflicts with data already stored (a duplicate or a reference that no longer holds)."
        ) from None


def streamed(chunks, mimetype, filename):
    """A download sent while ``chunks`` (text) is produced, in constant memory.

    The request's one commit runs after the last chunk, inside the same transaction
    that read the rows, so what the service recorded about the stream (the export's
    audit event) is committed with it. It also runs when the client goes away
    mid-stream: the rows already sent are on record.
    """

    def body():
        try:
            for chunk in chunks:
                yield chunk.encode("utf-8")
        except GeneratorExit:
            chunks.close()
            commit()
            raise
        except Exception:
            db.session.rollback()
            raise
        commit()

    response = Response(stream_with_context(body()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.commits_after_stream = True
    return response


def printable(html, filename):
    """An HTML page to print or save: no script may run in it, its own styles may."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def viewer():
    """The user a response is being serialised for (set by ``endpoint``)."""
    return Context.get({}).get("viewer")


def note_personal_read(debtor_id, case_id=None, fields=()):
    """Called by a schema as it serialises a debtor's personal data: ``endpoint`` writes the
    answer's reads to the audit log (``pii.read``) for the roles whose reads are logged."""
    reads = Context.get({}).get("personal_reads")
    if reads is not None and debtor_id is not None:
        reads.append((debtor_id, case_id, tuple(fields)))


def _via():
    """The endpoint's name as the log gives it: ``cases.get_case``."""
    return (request.endpoint or "").removeprefix("api.")


def current_user():
    return g.user


def exists_by(model, **criteria):
    return db.session.execute(select(model.id).filter_by(**criteria)).first() is not None


__all__ = ["BaseSchema", "EXCLUDE", "PageQuery", "endpoint", "page_of", "load", "streamed", "viewer"]
