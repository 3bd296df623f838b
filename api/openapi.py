"""The OpenAPI 3 document, built from the schemas each endpoint declares."""

import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify

from api.base import ErrorSchema
from api.examples import FIELD_EXAMPLES
from api.fields import ID_MAX
from app import authz

bp = Blueprint("openapi", __name__)

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERRORS = {
    400: "Malformed request (e.g. invalid JSON).",
    401: "Missing, invalid, expired or revoked token.",
    403: "The caller's role may not do this.",
    404: "No such resource, or not visible to the caller (in the path, or named in the body).",
    409: "Conflicts with the current state, or with data already stored.",
    413: "Body too large.",
    415: "Body is not JSON.",
    416: "The byte range asked for (Range header) lies past the end of the file; Content-Range gives its length.",
    422: "Validation failed; `fields` names each bad field.",
    429: "Too many attempts.",
    500: "Unexpected error (a bug); it is logged with the request id.",
    503: "Database unavailable.",
}


_PATH_SCHEMAS = {"id": {"type": "integer", "minimum": 1, "maximum": ID_MAX}, "int": {"type": "integer"}}


def _schema_name(schema):
    return schema.__name__.removesuffix("Schema")


def build_spec(app):
    spec = APISpec(
        title="Field collection dispatch API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=lambda s: _schema_name(s if isinstance(s, type) else type(s)))],
        info={
            "description": "Home-visit tasks, dispatch, field check-ins, agreements and the audit log. "
            'Every error answers `{"error": {"code", "message", "fields"}}`.'
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "api_spec", None)
        if meta is None:
            continue
        path = _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        params = [
            {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS.get(conv, {"type": "string"})}
            for conv, name in _CONVERTER.findall(rule.rule)
        ]
        operations = {}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operations[method.lower()] = _operation(meta, params, rule.endpoint, method)
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _device_headers(required):
    from api.base import DeviceHeaders

    out = []
    for name, field in DeviceHeaders().fields.items():
        schema = (
            {"type": "integer", "minimum": 0}
            if name == "seq_high"
            else {"type": "string", "format": "date-time"}
            if name == "device_time"
            else {"type": "string"}
        )
        out.append(
            {
                "name": field.data_key,
                "in": "header",
                "schema": schema,
                "required": required and name in ("key", "device_time"),
                "description": field.metadata.get("description", ""),
            }
        )
    return out


def _operation(meta, params, endpoint, method):
    op = {
        "operationId": endpoint.replace(".", "_"),
        "summary": meta["summary"],
        "tags": [endpoint.split(".")[1] if "." in endpoint else "api"],
        "responses": {},
    }
    if params or meta["query"] or meta.get("device"):
        op["parameters"] = list(params)
        if meta["query"]:
            op["parameters"].append({"in": "query", "schema": meta["query"]})
        if meta.get("device"):
            op["parameters"].extend(_device_headers(meta["device"] == "required"))
    if meta["body"]:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["body"]}}}
        if meta["raw_body"]:  # a JSON body or a file (e.g. a payment batch as JSON or CSV)
            op["requestBody"]["content"][meta["raw_body"]] = {"schema": {"type": "string"}}
    elif meta["raw_body"]:
        op["requestBody"] = {"required": True, "content": {meta["raw_body"]: {"schema": {"type": "string"}}}}
    if meta["response"]:
        content_type = meta["response_content_type"] or "application/json"
        op["responses"][str(meta["status"])] = {
            "description": "Success",
            "content": {content_type: {"schema": meta["response"]}},
        }
        for media_type, description in meta.get("streams", {}).items():
            op["responses"][str(meta["status"])]["content"][media_type] = {
                "schema": {"type": "string", "description": description}
            }
        for status, description in meta.get("also", {}).items():
            op["responses"][str(status)] = {
                "description": description,
                "content": {content_type: {"schema": meta["response"]}},
            }
    elif meta.get("streams"):
        op["responses"][str(meta["status"])] = {
            "description": "A file",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary", "description": description}}
                for media_type, description in meta["streams"].items()
            },
        }
        for status, description in meta.get("also", {}).items():
            op["responses"][str(status)] = {**op["responses"][str(meta["status"])], "description": description}
    else:
        op["responses"][str(meta["status"])] = {"description": "Done; no body."}
    statuses = {400, 413, 415, 500, 503} | meta["errors"]
    if meta["permission"] is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = sorted(authz.PERMISSIONS[meta["permission"]])
        statuses |= {401, 403}
    else:
        op["security"] = []
    if params or meta["body"] or meta["raw_body"]:
        statuses |= {404}  # the row in the path, or one the body names (a case id, a team code)
    if meta["body"] or meta["query"] or meta["raw_body"] or meta.get("device"):
        statuses |= {422}
    if method != "GET":
        statuses |= {409}  # a state that forbids the change, or a row stored meanwhile
    if endpoint.endswith("auth.login"):
        statuses |= {429, 401}
    for status in sorted(statuses):
        op["responses"][str(status)] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": "Error"}},
        }
    example = FIELD_EXAMPLES.get(endpoint)
    if example is not None:
        op["requestBody"]["content"]["application/json"]["example"] = example["request"]
        op["responses"][str(example["status"])]["content"]["application/json"]["example"] = example["answer"]
    return op


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI document."""
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:
        spec = current_app.extensions["openapi_spec"] = build_spec(current_app)
    return jsonify(spec)


@bp.get("/docs")
def docs():
    """A readable page of every endpoint, rendered from the OpenAPI document (no CDN)."""
    from flask import render_template

    spec = current_app.extensions.get("openapi_spec") or build_spec(current_app)
    groups = {}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method != "parameters":
                groups.setdefault(op["tags"][0], []).append((method, path, op))
    examples = {
        endpoint.replace(".", "_"): {
            "path": example["path"],
            "status": example["status"],
            "request": json.dumps(example["request"], ensure_ascii=False, indent=2),
            "answer": json.dumps(example["answer"], ensure_ascii=False, indent=2),
        }
        for endpoint, example in FIELD_EXAMPLES.items()
    }
    return render_template("api_docs.html", spec=spec, groups=sorted(groups.items()), examples=examples)
