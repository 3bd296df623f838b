"""Background jobs: submit one, see how it went."""
from flask import Blueprint, g

from api.base import endpoint
from api.schemas import JobIn, JobOut
from app import jobs
from app.errors import NotFound

bp = Blueprint("jobs", __name__)


@bp.post("/jobs")
@endpoint(permission="jobs:run", body=JobIn, response=JobOut, status=202)
def submit_job(data):
    """Queue a job (nightly planning, agreement evaluation); poll it by id."""
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data["params"].items()}
    job, _ = jobs.submit(data["name"], params, g.user)
    return job


@bp.get("/jobs/<job_id>")
@endpoint(permission="jobs:run", response=JobOut)
def get_job(job_id):
    """A job's status, attempts, result or error."""
    job = jobs.get(job_id)
    if job is None:
        raise NotFound("No such job.")
    return job
