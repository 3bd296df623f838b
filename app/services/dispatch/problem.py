"""The engine's problem: which teams a request covers (``resolve_scope``), and the crews and
tasks of a day built from the database for the engine (``build_problem``)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import authz, clock, policy
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Case, Collector, Crew, Region, Team, Visit, VisitTask
from app.policy import rules
from app.services import door, geocoding

ACTIVE_TASK = ("assigned", "checked_in", "done")
STARTED = ("checked_in", "done")


def _task_key(case_id):
    return f"case-{case_id}"


def resolve_scope(data, user):
    """The teams a plan covers, and the zone its times are written in."""
    if bool(data.get("team")) == bool(data.get("region")):
        raise ValidationFailed("Plan for one team or one region.", fields={"team": ["give team or region"]})
    # No user: the service itself (nightly planning) plans for any team.
    visible = authz.visible_team_ids(user) if user is not None else None
    if data.get("team"):
        team = db.session.scalars(
            select(Team).options(joinedload(Team.region)).where(Team.code == data["team"])
        ).one_or_none()
        if team is None or (visible is not None and team.id not in visible):
            raise ValidationFailed("No such team among yours.", fields={"team": ["not one of your teams"]})
        return [team], team.region, team
    region = db.session.scalars(select(Region).where(Region.code == data["region"])).one_or_none()
    teams = [] if region is None else db.session.scalars(select(Team).where(Team.region_id == region.id)).all()
    if region is None or not teams or (visible is not None and not {t.id for t in teams} <= visible):
        raise ValidationFailed("No such region among yours.", fields={"region": ["not your region"]})
    return teams, region, None


def _hhmm(moment, zone, plan_date):
    local = moment.astimezone(zone)
    if local.date() < plan_date:
        return "00:00"
    if local.date() > plan_date:
        return "23:59"
    return local.strftime("%H:%M")


def _ceil_minute(moment):
    return (
        moment
        if moment == moment.replace(second=0, microsecond=0)
        else moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    )


def _crew_unit(crew, capacity_used):
    """A crew as the engine's collector: it starts from its members' homes' centre,
    works the hours every member works, takes as many visits as its least capacity,
    and speaks every language one of its members speaks."""
    members = [m for m in crew.members if m.active]
    lat = sum(m.home_lat for m in members) / len(members)
    lon = sum(m.home_lon for m in members) / len(members)
    start = max(m.shift_start for m in members)
    end = min(m.shift_end for m in members)
    return {
        "id": crew.code,
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "shift": [start.strftime("%H:%M"), end.strftime("%H:%M")],
        "max_visits": max(min(m.daily_capacity for m in members) - capacity_used, 0),
        "skills": sorted({lang for m in members for lang in (m.languages or [])}),
    }


def _resume(unit, started, now, zone):
    """A day already under way: the crew goes on from where it was last seen (its open
    visit, else its last check-out) once that visit is over, and never before now;
    it still ends its day at home. None when no time is left today."""
    home = (unit["lat"], unit["lon"])
    start = now
    visits = [v for v in (t.visit for t in started) if v is not None]
    if visits:
        last = max(visits, key=lambda v: v.check_in_at)
        if last.check_out_at is None:
            unit["lat"], unit["lon"] = last.check_in_lat, last.check_in_lon
            start = max(
                start, last.check_in_at + timedelta(minutes=current_app.config.get("VISIT_SERVICE_MINUTES", 30))
            )
        else:
            unit["lat"], unit["lon"] = last.check_out_lat, last.check_out_lon
    unit["end_lat"], unit["end_lon"] = home
    local_start = _ceil_minute(start.astimezone(zone)).strftime("%H:%M")
    if local_start >= unit["shift"][1] or start.astimezone(zone).date() != now.astimezone(zone).date():
        return None
    unit["shift"][0] = max(unit["shift"][0], local_start)
    return unit


def _crews(team_ids):
    # A crew's team (and its region) is one of the plan's teams, already in the session:
    # reading ``crew.team`` finds it there without a statement (a selectinload would ask again).
    return db.session.scalars(
        select(Crew)
        .options(selectinload(Crew.members).selectinload(Collector.trainings))
        .where(Crew.team_id.in_(team_ids), Crew.active.is_(True))
        .order_by(Crew.code)
    ).all()


def _started(team_ids, plan_date):
    """Tasks already started or done that day, per crew (with their visits)."""
    rows = db.session.execute(
        select(VisitTask, Visit)
        .outerjoin(Visit, Visit.task_id == VisitTask.id)
        .join(Case, Case.id == VisitTask.case_id)
        .where(Case.team_id.in_(team_ids), VisitTask.visit_date == plan_date, VisitTask.status.in_(STARTED))
    )
    by_crew = {}
    for task, visit in rows:
        task.visit = visit
        by_crew.setdefault(task.crew_id, []).append(task)
    return by_crew


def _today(zone):
    return clock.now().astimezone(zone).date()


def _open_windows(windows, now, plan_date, today):
    """Windows of a day as UTC pairs, cut to what is left of it when the day is today."""
    if plan_date != today:
        return windows
    return [(max(a, now), b) for a, b in windows if b > now]


def build_problem(teams, zone_name, plan_date, now=None):
    """The engine's problem for these teams on this date, with what the policy decided.

    Planning a day that has started keeps every started or finished stop as it is and
    plans the rest from each crew's last known position and the current time (``now``:
    the server's clock unless given, so a problem can be gathered again as of the same
    moment and compared)."""
    engine = policy.current()
    team_ids = [t.id for t in teams]
    zone = ZoneInfo(zone_name)
    now = now or clock.now()
    today = now.astimezone(zone).date()
    if plan_date < today:
        raise ValidationFailed(
            "That day is over; plan today or a later day.", fields={"date": [f"must be {today.isoformat()} or later"]}
        )
    started = _started(team_ids, plan_date)
    started_cases = {t.case_id for tasks in started.values() for t in tasks}

    crews, crew_report, eligible_crews, offsets = _crews(team_ids), [], [], {}
    for crew in crews:
        profile = engine.for_team(crew.team)
        refusals = rules.crew_blockers(profile, crew, plan_date)
        report = {
            "crew": crew.code,
            "team": crew.team.code,
            "eligible": not refusals,
            "members": [m.code for m in crew.members],
            "rules": [d.as_dict() for d in refusals],
        }
        crew_report.append(report)
        if refusals:
            continue
        done = started.get(crew.id, [])
        offsets[crew.code] = len(done)
        unit = _crew_unit(crew, len(done))
        if plan_date == today:
            unit = _resume(unit, done, now, zone)
            if unit is None:
                report["eligible"], report["note"] = False, "no working time left today"
                continue
        eligible_crews.append((crew, unit))

    cases = db.session.scalars(
        select(Case)
        .options(selectinload(Case.debtor))  # its team: one of ``teams``, in the session (see _crews)
        .where(Case.team_id.in_(team_ids), Case.stage == "field_visit")
        .order_by(Case.priority.desc(), Case.id)
    ).all()
    cases = [c for c in cases if c.id not in started_cases]
    facts = door.day_facts(cases)

    tasks, blocked, context, planned_debtors = [], [], {}, set()
    for case in cases:
        profile = engine.for_team(case.team)
        debtor = case.debtor
        refusals = door.day_refusals(case, None, plan_date, facts, replanned_day=plan_date)
        if debtor.id in planned_debtors:
            # One visit covers the debtor: a second case of theirs is not planned the same day.
            refusals += [r for r in [rules.frequency_refusal(profile, {plan_date}, plan_date)] if r]
        windows = _open_windows(
            rules.visiting_windows(profile, debtor.timezone, debtor.availability, plan_date), now, plan_date, today
        )
        if not windows and not refusals:
            refusals.append(rules.no_window_refusal(profile, plan_date))
        # Where the debtor is: the board draws a draft on the map beside the committed plan.
        entry = {
            "case_id": case.id,
            "loan_ref": case.loan_ref,
            "team": case.team.code,
            "profile": profile.label,
            "debtor_id": debtor.id,
            "lat": debtor.lat,
            "lon": debtor.lon,
        }
        if debtor.lat is None:
            # Address only: no place to route to until geocoded or pinned (the pin queue).
            blocked.append(
                {
                    **entry,
                    "task": _task_key(case.id),
                    "rules": [d.as_dict() for d in refusals],
                    **geocoding.NO_LOCATION,
                    "location_note": geocoding.note_text(debtor.location_note),
                }
            )
            continue
        if refusals:
            blocked.append(
                {**entry, "task": _task_key(case.id), "reason": "policy", "rules": [d.as_dict() for d in refusals]}
            )
            continue
        planned_debtors.add(debtor.id)
        excluded = [
            crew.code
            for crew, _ in eligible_crews
            if rules.complaint_conflict(profile, crew, facts.complaints.get(debtor.id, set())) is not None
        ]
        task = {
            "id": _task_key(case.id),
            "lat": debtor.lat,
            "lon": debtor.lon,
            "windows": [[_hhmm(a, zone, plan_date), _hhmm(b, zone, plan_date)] for a, b in windows],
            "service_minutes": current_app.config.get("VISIT_SERVICE_MINUTES", 30),
            "priority": case.priority,
            "skills": [debtor.language] if debtor.language else [],
            "excluded_collectors": excluded,
        }
        task["windows"] = [w for w in task["windows"] if w[0] < w[1]]
        tasks.append(task)
        context[task["id"]] = entry
    problem = {
        "date": plan_date.isoformat(),
        "timezone": zone_name,
        "collectors": [unit for _, unit in eligible_crews],
        "tasks": tasks,
    }
    return problem, {"tasks": context, "blocked": blocked, "crews": crew_report, "offsets": offsets}
