"""Background jobs: submit one, see how it went, download what an export made."""

from flask import Blueprint, Response, g, stream_with_context

from api.audit_schemas import AuditEventQuery, VisitLogQuery
from api.base import endpoint, load
from api.schemas.dispatch import PlanIn
from api.schemas.jobs import JobIn, JobOut
from app import jobs
from app.errors import ValidationFailed
from app.services import audit_log

bp = Blueprint("jobs", __name__)

EXPORT_FILTERS = {"export_audit_events": AuditEventQuery, "export_visits": VisitLogQuery}
FILE_STREAMS = {media_type: f"The export's file (format={fmt})." for fmt, media_type in audit_log.MEDIA_TYPES.items()}


def _as_json(values):
    """Dates and times as ISO text, so the job's parameters can be stored as JSON."""
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items() if v is not None}


def _params(name, params):
    """The job's parameters as stored: JSON values, exports' filters checked like the pulls' own."""
    if name == "plan_scope":  # the same day and scope as POST /dispatch/plans
        try:
            return _as_json(
                load(PlanIn(), {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in params.items()})
            )
        except ValidationFailed as exc:
            raise ValidationFailed("The day or scope is not valid.", fields={"params": exc.fields}) from None
    params = _as_json(params)
    if name not in EXPORT_FILTERS:
        extra = sorted(set(params) & {"format", "filters"})
        if extra:
            raise ValidationFailed(
                "Only exports take these.", fields={"params": {k: ["only for exports"] for k in extra}}
            )
        return params
    fmt = params.get("format", "csv")
    try:
        filters = load(EXPORT_FILTERS[name](), {**params.get("filters", {}), "format": fmt})
    except ValidationFailed as exc:
        raise ValidationFailed("Some filters are not valid.", fields={"params": {"filters": exc.fields}}) from None
    filters.pop("format")
    return {"format": fmt, "filters": _as_json(filters)}


@bp.post("/jobs")
@endpoint(permission="jobs:submit", body=JobIn, response=JobOut, status=202)
def submit_job(data):
    """Queue a job (nightly planning, agreement evaluation, a large export); poll it by id."""
    params = _params(data["name"], data["params"])
    if data["name"] == "plan_scope":  # a team or region the caller may plan, as POST /dispatch/plans asks
        from datetime import date

        from app.services import dispatch

        dispatch.resolve_scope({**params, "date": date.fromisoformat(params["date"])}, g.user)
    job, _ = jobs.submit(data["name"], params, g.user)
    return job


@bp.get("/jobs/<job_id>")
@endpoint(permission="jobs:submit", response=JobOut)
def get_job(job_id):
    """A job's status, attempts, result or error (yours; an admin sees every job)."""
    return jobs.get(job_id, g.user)


@bp.get("/jobs/<job_id>/file")
@endpoint(permission="jobs:submit", streams=FILE_STREAMS, errors={409})
def download_export(job_id):
    """Download the file a finished export made (the download is logged)."""
    handle, media_type, name = jobs.export_file(job_id, g.user)

    def chunks():
        with handle:
            while chunk := handle.read(1 << 16):
                yield chunk

    response = Response(stream_with_context(chunks()), mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
