"""Authorisation, decided in one place.

Two questions, both answered here and nowhere else:

* may this role do this kind of thing at all (``PERMISSIONS``, ``require``)?
* which rows may this user see (``visible_team_ids``, ``scope``, ``get_visible``)?

An agent sees only the tasks of their crew and the debtors on them; a supervisor
only their team, or every team of their region; an auditor reads everything and
writes nothing but review notes; an admin manages users and everything else.
A row outside the caller's scope is answered 404, so its existence does not leak.
"""

from sqlalchemy import exists, or_, select

from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    Collector,
    Complaint,
    ConductFlag,
    ContactAttempt,
    Crew,
    Debtor,
    RepaymentAgreement,
    Team,
    TrainingRecord,
    User,
    Visit,
    VisitTask,
)

ALL_ROLES = frozenset({"agent", "supervisor", "auditor", "admin"})
STAFF = frozenset({"supervisor", "auditor", "admin"})
MANAGERS = frozenset({"supervisor", "admin"})

PERMISSIONS = {
    "me:read": ALL_ROLES,
    "users:manage": frozenset({"admin"}),
    "org:read": STAFF,
    "org:manage": frozenset({"admin"}),
    "collectors:read": STAFF,
    "collectors:write": MANAGERS,
    "cases:read": STAFF,
    "cases:write": MANAGERS,
    "cases:import": MANAGERS,
    "contacts:write": MANAGERS,
    "audit:read": frozenset({"auditor", "admin"}),
    "audit:visits": frozenset({"supervisor", "auditor", "admin"}),
    "dispatch:read": STAFF,
    "dispatch:plan": MANAGERS,
    "field:act": frozenset({"agent"}),
    "agreements:read": STAFF,
    "agreements:approve": MANAGERS,
    "agreements:evaluate": MANAGERS,  # a supervisor for their own teams
    "ledger:read": STAFF,
    "refunds:approve": MANAGERS,
    "reports:reconciliation": STAFF,  # a supervisor: their own teams
    "reports:read": STAFF,  # the portfolio report and the weekly files: a supervisor, their own teams
    "payments:write": frozenset({"admin"}),
    "flags:read": STAFF,
    "flags:review": STAFF,  # an auditor writes nothing but review notes
    "complaints:read": STAFF,
    "complaints:write": MANAGERS,
    "jobs:run": frozenset({"admin"}),
    "jobs:submit": frozenset({"supervisor", "auditor", "admin"}),
    "privacy:subject_access": frozenset({"admin"}),
}

# Who may ask for each background job: the permission of the work it does.
JOB_PERMISSIONS = {
    "plan_day": "jobs:run",
    "plan_scope": "dispatch:plan",
    "evaluate_agreements": "jobs:run",
    "check_tasks": "jobs:run",
    "export_audit_events": "audit:read",
    "export_visits": "audit:visits",
    "anchor_audit_head": "jobs:run",
    "retention_sweep": "jobs:run",
    "geocode_addresses": "cases:import",
    "weekly_reports": "jobs:run",
    "apply_strategy": "jobs:run",
}

# Personal fields returned whole only to these roles; everyone else gets them masked.
FULL_PERSONAL_DATA = {
    "phone": frozenset({"supervisor", "admin"}),
    "national_id": frozenset({"admin"}),
}

# Reads of personal data by these roles are themselves written to the audit log: those
# who read across every team. Supervisors and agents read their own teams' cases all day
# for their work.
AUDITED_READS = frozenset({"auditor", "admin"})


def allowed(user, permission):
    return user.role in PERMISSIONS[permission]


def require(user, permission):
    if not allowed(user, permission):
        raise Forbidden(f"The {user.role} role may not do this.", code="forbidden")


def sees_whole(user, field):
    return user is not None and user.role in FULL_PERSONAL_DATA[field]


def reads_are_audited(user):
    return user is not None and user.role in AUDITED_READS


def visible_team_ids(user):
    """The teams whose rows the user may see; ``None`` means every team."""
    if user.role in ("admin", "auditor"):
        return None
    if user.role == "supervisor":
        if user.team_id is not None:
            return {user.team_id}
        return set(db.session.scalars(select(Team.id).where(Team.region_id == user.region_id)))
    return set()


def agent_crew_id(user):
    collector = user.collector
    return collector.crew_id if collector is not None else None


def scope(stmt, model, user):
    """Narrow a select of ``model`` to the rows ``user`` may see."""
    if user.role == "agent":
        return _scope_agent(stmt, model, user)
    teams = visible_team_ids(user)
    if teams is None:
        return stmt
    if model in (Case, Collector, Crew):
        return stmt.where(model.team_id.in_(teams))
    if model is Team:
        return stmt.where(Team.id.in_(teams))
    if model is Debtor:
        return stmt.where(exists().where(Case.debtor_id == Debtor.id, Case.team_id.in_(teams)))
    if model is TrainingRecord:
        return stmt.where(exists().where(Collector.id == TrainingRecord.collector_id, Collector.team_id.in_(teams)))
    if model is ContactAttempt:
        return stmt.where(exists().where(Case.id == ContactAttempt.case_id, Case.team_id.in_(teams)))
    if model is VisitTask:
        return stmt.where(exists().where(Case.id == VisitTask.case_id, Case.team_id.in_(teams)))
    if model is User:
        return stmt.where(User.id == user.id)
    if model is RepaymentAgreement:
        return stmt.where(RepaymentAgreement.case_id.in_(select(Case.id).where(Case.team_id.in_(teams))))
    if model in (ConductFlag, Complaint):
        return stmt.where(
            or_(
                model.case_id.in_(select(Case.id).where(Case.team_id.in_(teams))),
                model.collector_id.in_(select(Collector.id).where(Collector.team_id.in_(teams))),
            )
        )
    if model is Visit:
        # A team's visits: those on its cases, and those its crews made.
        return stmt.where(
            or_(
                exists()
                .where(VisitTask.id == Visit.task_id, Case.id == VisitTask.case_id, Case.team_id.in_(teams))
                .correlate(Visit),
                exists().where(Crew.id == Visit.crew_id, Crew.team_id.in_(teams)).correlate(Visit),
            )
        )
    raise NotImplementedError(f"no scope rule for {model.__name__}")


def _scope_agent(stmt, model, user):
    crew_id = agent_crew_id(user)
    if model is VisitTask:
        return stmt.where(VisitTask.crew_id == crew_id)
    crew_task = select(VisitTask.case_id).where(VisitTask.crew_id == crew_id)
    if model is Case:
        return stmt.where(Case.id.in_(crew_task))
    if model is Debtor:
        return stmt.where(Debtor.id.in_(select(Case.debtor_id).where(Case.id.in_(crew_task))))
    if model is Crew:
        return stmt.where(Crew.id == crew_id)
    if model is Collector:
        return stmt.where(Collector.crew_id == crew_id)
    if model is User:
        return stmt.where(User.id == user.id)
    return stmt.where(False)


def require_job(user, name):
    """May ``user`` ask for this job? (The CLI and the scheduler submit as nobody.)"""
    if user is not None:
        require(user, JOB_PERMISSIONS[name])


def job_visible(user, job):
    """A job, its status and its file are seen by whoever asked for it, and by admins."""
    return user.role == "admin" or job.requested_by_id == user.id


def get_visible(model, ident, user, what=None):
    """The row with this id if the user may see it; otherwise NotFound, never Forbidden."""
    what = what or model.__name__.lower()
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        raise NotFound(f"No such {what}.") from None
    row = db.session.scalars(scope(select(model).where(model.id == ident), model, user)).one_or_none()
    if row is None:
        raise NotFound(f"No such {what}.")
    return row


def writable_team(user, code, field="team"):
    """The team with this code, if the user may place rows in it. "No such team" and
    "not one of yours" are one answer, so team codes outside the caller's scope do
    not leak; an admin, who sees every team, is told plainly that a code is unknown."""
    team = db.session.scalars(select(Team).where(Team.code == code)).one_or_none()
    if visible_team_ids(user) is None:
        if team is None:
            raise ValidationFailed(f"No team with code {code!r}.", fields={field: ["does not exist"]})
        return team
    check_team_writable(user, team.id if team is not None else None, field)
    return team


def visible_collector(user, code, field):
    """The collector with this code if the user may see them; otherwise one answer
    for "no such collector" and "not one of yours"."""
    collector = db.session.scalars(
        scope(select(Collector).where(Collector.code == code), Collector, user)
    ).one_or_none()
    if collector is None:
        raise ValidationFailed(f"No collector {code!r}.", fields={field: [f"{code}: does not exist"]})
    return collector


def check_team_writable(user, team_id, field="team"):
    """A manager may place rows only in teams they can see."""
    teams = visible_team_ids(user)
    if teams is not None and team_id not in teams:
        raise ValidationFailed("That team is not one you manage.", fields={field: ["not one of your teams"]})
