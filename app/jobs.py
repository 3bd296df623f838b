"""Background work: nightly planning, the daily agreement evaluation, the daily
re-check of committed tasks against the rules, large exports
of the audit log and the visit log (written to storage, downloaded once finished).

With ``REDIS_URL`` set, jobs go to an RQ queue on Redis and run in workers
(``flask jobs worker``) on this or other machines, retried up to ``JOB_RETRIES``
times; without it they run in-process, in the server's worker, once the answer to the
request that asked for them has been sent (so its 202 is not held back by the job).
Either way every job has a row in ``jobs`` whose status, attempts, result and error
anyone allowed can read (``GET /api/v1/jobs/<id>``).
"""

import hashlib
import logging
import tempfile
import traceback
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import after_this_request, current_app, has_app_context, has_request_context
from sqlalchemy import select

from app import audit, authz, clock, storage
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import AuditEvent, AuditEventSubject, Job, Team, User
from app.services import audit_log

log = logging.getLogger(__name__)
QUEUE = "fieldcollect"


# ---------------------------------------------------------------- the jobs themselves


def plan_day(params, job=None):
    """Draft tomorrow's plan (or the given day's) for every team, or the listed ones."""
    from app.services import dispatch

    teams = db.session.scalars(select(Team).order_by(Team.code)).all()
    if params.get("teams"):
        teams = [t for t in teams if t.code in params["teams"]]
    drafted = {}
    for team in teams:
        day = (
            date.fromisoformat(params["date"])
            if params.get("date")
            else clock.today(team.region.timezone) + timedelta(days=1)
        )
        plan = dispatch.create_plan({"date": day, "team": team.code}, None)
        drafted[team.code] = {
            "plan_id": plan.id,
            "date": day.isoformat(),
            "assigned": plan.summary["assigned"],
            "unassigned": plan.summary["unassigned"],
        }
    return {"plans": drafted}


def plan_scope(params, job=None):
    """One day planned for a team or region, as the supervisor who asked would plan it (a
    draft, like POST /dispatch/plans); the board follows the job and shows the draft."""
    from app.services import dispatch

    user = _requester(job)
    data = {"date": date.fromisoformat(params["date"]), **{k: params[k] for k in ("team", "region") if params.get(k)}}
    plan = dispatch.create_plan(data, user)
    return {
        "plan_id": plan.id,
        "date": plan.plan_date.isoformat(),
        "assigned": plan.summary["assigned"],
        "unassigned": plan.summary["unassigned"],
    }


def _requester(job):
    """The account that asked for a job, still active and still allowed to ask for it."""
    user = db.session.get(User, job.requested_by_id) if job is not None and job.requested_by_id else None
    if user is None or not user.active:
        raise PermissionError("the account that asked for this job is gone or deactivated")
    authz.require_job(user, job.name)
    return user


def evaluate_agreements(params, job=None):
    from app.services.agreements import evaluate

    day = date.fromisoformat(params["date"]) if params.get("date") else clock.now().date()
    return {"date": day.isoformat(), **evaluate(day)}


def check_tasks(params, job=None):
    """The daily re-check of committed work: tasks whose day ended unstarted are withdrawn
    (back to the planner's pool), and every task of today and later is judged again
    (a training that expired overnight, a clearance withdrawn, a profile changed)."""
    from app.services import door

    team_ids = None
    if params.get("teams"):
        team_ids = list(db.session.scalars(select(Team.id).where(Team.code.in_(params["teams"]))))
    return door.sweep(team_ids)


def _exporter(produce):
    """A job that writes an audit pull to storage, as the user who asked for it sees it."""

    def export(params, job):
        user = _requester(job)  # still allowed now that it runs
        fmt = params["format"]
        args = {
            k: (datetime.fromisoformat(v) if k in ("from", "to") and v else v)
            for k, v in params.get("filters", {}).items()
        }
        args["format"] = fmt
        summary = {}
        digest, size = hashlib.sha256(), 0
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"export.{fmt}"
            with path.open("wb") as out:
                for chunk in produce(args, user, fmt, summary=summary, entity=("jobs", job.id)):
                    data = chunk.encode("utf-8")
                    digest.update(data)
                    size += len(data)
                    out.write(data)
            key = f"exports/{job.id}.{fmt}"
            storage.current().put_file(key, path, audit_log.MEDIA_TYPES[fmt])
        return {"format": fmt, "rows": summary["rows"], "bytes": size, "sha256": digest.hexdigest(), "file": key}

    return export


def anchor_audit_head(params, job=None):
    """Sign the audit chain's head and write it to the anchor store (daily, and on demand)."""
    from app import anchors

    day = date.fromisoformat(params["date"]) if params.get("date") else None
    anchor = anchors.anchor_head(day)
    return {k: anchor[k] for k in ("seq", "hash", "as_of", "anchored_at", "name", "store")}


def retention_sweep(params, job=None):
    """Anonymise the closed cases past their retention (``dry_run``: only say what would go)."""
    from app.services import retention

    day = date.fromisoformat(params["date"]) if params.get("date") else None
    return retention.sweep(day, dry_run=bool(params.get("dry_run")), commit_each=True)


def geocode_addresses(params, job=None):
    """Geocode the address-only debtors whose turn has come (after an import, and on a
    schedule for the ones whose geocoder call failed, with a growing pause)."""
    from app.services import geocoding

    return geocoding.geocode_pending(job)


def apply_strategy(params, job=None):
    """The collection strategy's nightly pass: escalate cases by its rules (remote contact ->
    field visits, ...) and keep each case's priority at its score, unless overridden."""
    from app.services import strategy

    team_ids = None
    if params.get("teams"):
        team_ids = list(db.session.scalars(select(Team.id).where(Team.code.in_(params["teams"]))))
    return strategy.apply(team_ids=team_ids, commit_each=True)


def weekly_reports(params, job=None):
    """Each team's last whole week (or the week holding ``date``) as CSV and printable HTML in storage."""
    from app.services import weekly_reports as weekly

    day = date.fromisoformat(params["date"]) if params.get("date") else None
    return weekly.write_all(day, params.get("teams"), job.id if job is not None else None)


JOBS = {
    "plan_day": plan_day,
    "plan_scope": plan_scope,
    "evaluate_agreements": evaluate_agreements,
    "check_tasks": check_tasks,
    "export_audit_events": _exporter(audit_log.export_events),
    "export_visits": _exporter(audit_log.export_visits),
    "anchor_audit_head": anchor_audit_head,
    "retention_sweep": retention_sweep,
    "geocode_addresses": geocode_addresses,
    "weekly_reports": weekly_reports,
    "apply_strategy": apply_strategy,
}


# ---------------------------------------------------------------- submitting


def submit(name, params, user):
    if name not in JOBS:
        raise ValidationFailed("Unknown job.", fields={"name": [f"must be one of {', '.join(sorted(JOBS))}"]})
    authz.require_job(user, name)
    if name.startswith("export_") and user is None:
        raise ValidationFailed(
            "An export is asked for by a signed-in user, whose view of the log it follows.",
            fields={"name": ["submit exports through the API"]},
        )
    runner = "rq" if current_app.config.get("REDIS_URL") else "inline"
    job = Job(
        id=str(uuid.uuid4()),
        name=name,
        params=params,
        status="queued",
        runner=runner,
        requested_by_id=getattr(user, "id", None),
    )
    db.session.add(job)
    db.session.flush()
    audit.record("job.submitted", job, extra={"job": name, "params": params, "runner": runner})
    # The job must not start before the row that describes it is committed: in a request
    # it starts once the request's transaction is over; elsewhere the caller starts it.
    app = current_app._get_current_object()
    job_id = job.id

    def start():
        if runner == "rq":
            _enqueue(app, job_id)
        else:
            execute(job_id)

    if has_request_context():

        @after_this_request
        def start_after_commit(response):
            if response.status_code >= 400:  # the request failed: its job row was not committed
                return response
            if runner == "rq":
                start()
            else:
                # In-process: after the answer has been sent (the server closes the response
                # once the client has it), so the 202 is not held back by the job it describes.
                response.call_on_close(lambda: _run_after_answer(app, job_id))
            return response

        return job, None
    return job, start


def _run_after_answer(app, job_id):
    """Run an in-process job once its request is over, in an app context (and session) of its own."""
    try:
        with app.app_context():
            execute(job_id)
    except Exception:  # nobody is left to answer: the job row says how it went
        log.exception("in-process job %s could not run", job_id)


def queue(app=None):
    from redis import Redis
    from rq import Queue

    app = app or current_app
    return Queue(app.config.get("JOB_QUEUE", QUEUE), connection=Redis.from_url(app.config["REDIS_URL"]))


def _enqueue(app, job_id):
    from rq import Retry

    retries = app.config.get("JOB_RETRIES", 3)
    intervals = app.config.get("JOB_RETRY_INTERVALS", [10, 60, 300])[:retries]
    try:
        queue(app).enqueue(
            "app.jobs.execute",
            job_id,
            job_id=job_id,
            job_timeout=app.config.get("JOB_TIMEOUT", 1800),
            retry=Retry(max=retries, interval=intervals) if retries else None,
        )
    except Exception:  # Redis unreachable: say so on the job rather than leave it queued forever
        log.exception("could not enqueue job %s", job_id)
        _finish(job_id, "failed", error="could not reach the job queue")


# ---------------------------------------------------------------- running


def execute(job_id):
    """Run one job (in a worker, or in-process); raises on failure so RQ can retry."""
    if has_app_context():
        return _execute(job_id)
    from app import create_app

    with create_app(serving=True).app_context():
        return _execute(job_id)


def _execute(job_id):
    job = db.session.get(Job, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    job.status, job.attempts = "running", job.attempts + 1
    job.started_at = clock.now()
    db.session.commit()
    try:
        result = JOBS[job.name](dict(job.params), job)
        job = db.session.get(Job, job_id)
        job.status, job.result, job.error = "finished", result, None
        job.finished_at = clock.now()
        audit.record("job.finished", job, extra={"job": job.name, "attempts": job.attempts})
        db.session.commit()
        return result
    except Exception as exc:
        db.session.rollback()
        retries = current_app.config.get("JOB_RETRIES", 3) if job.runner == "rq" else 0
        status = "retrying" if job.attempts <= retries else "failed"
        _finish(job_id, status, error=f"{type(exc).__name__}: {exc}"[:2000])
        log.error(
            "job %s (%s) attempt %s failed: %s",
            job_id,
            job.name,
            job.attempts,
            traceback.format_exception_only(exc)[-1].strip(),
        )
        if job.runner == "rq":
            raise
        return None


def _finish(job_id, status, error=None):
    db.session.rollback()
    job = db.session.get(Job, job_id)
    job.status, job.error = status, error
    if status in ("failed", "finished"):
        job.finished_at = clock.now()
    audit.record(f"job.{status}", job, extra={"job": job.name, "attempts": job.attempts, "error": error})
    db.session.commit()


def get(job_id, user=None):
    """The job, if ``user`` (None: the operator at the CLI) may see it."""
    job = db.session.get(Job, job_id)
    if job is None or (user is not None and not authz.job_visible(user, job)):
        raise NotFound("No such job.")
    return job


def export_file(job_id, user):
    """The stored file of a finished export, opened for reading, with its media type and name."""
    job = get(job_id, user)
    if not job.name.startswith("export_"):
        raise NotFound("This job makes no file.")
    if job.status != "finished":
        raise Conflict(f"The export is {job.status}; its file is there once it has finished.", code="export_not_ready")
    fmt = job.result["format"]
    audit.record(
        "audit.export_downloaded",
        job,
        actor=user,
        extra={"job": job.name, "rows": job.result["rows"], "sha256": job.result["sha256"]},
    )
    # Each download hands the export's personal data out again: the debtors the export read.
    debtors = db.session.scalars(
        select(AuditEventSubject.debtor_id)
        .join(AuditEvent, AuditEvent.seq == AuditEventSubject.seq)
        .where(AuditEvent.entity_type == "jobs", AuditEvent.entity_id == job.id, AuditEvent.action == "pii.read")
    ).all()
    audit_log.record_personal_reads(
        user, [(d, None, ("export",)) for d in debtors], via="jobs.export_file", entity_type="jobs", entity_id=job.id
    )
    name = f"{job.name.removeprefix('export_').replace('_', '-')}-{job.id[:8]}.{fmt}"
    return storage.current().open(job.result["file"]), audit_log.MEDIA_TYPES[fmt], name
