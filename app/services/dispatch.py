"""Planning a day's home visits: from the database to the engine and back.

For a date and a team (or every team of a region):

* **crews** are offered to the engine only if the policy finds them eligible on that
  date (size, every member's required training valid, background check);
* **tasks** are the cases in ``field_visit`` whose policy preconditions hold (prior
  contact, notices, no blocking flag, frequency cap); their windows are the policy's
  visiting hours in the debtor's zone narrowed to the debtor's stated availability;
  the debtor's language is a required skill; a crew with an open complaint from the
  debtor is excluded;
* the engine (``dispatch``) routes them; the draft is stored for the supervisor to
  preview beside the current plan, and committing it writes the visit tasks.

Every task carries why it went to its crew or why it stayed unassigned: the engine's
reason, or the policy's rule ids when the policy kept it out of the plan.
"""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import dispatch
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, policy
from app.errors import Conflict, NotFound, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    Collector,
    Complaint,
    ContactAttempt,
    Crew,
    Debtor,
    DispatchPlan,
    Region,
    Team,
    Visit,
    VisitTask,
)
from app.policy import rules
from app.services import conduct
from app.services.common import paginate

ACTIVE_TASK = ("assigned", "checked_in", "done")
STARTED = ("checked_in", "done")
OPEN_COMPLAINT = ("open", "under_review")


def _task_key(case_id):
    return f"case-{case_id}"


def _case_id(task_key):
    return int(task_key.split("-", 1)[1])


# ---------------------------------------------------------------- scope

def resolve_scope(data, user):
    """The teams a plan covers, and the zone its times are written in."""
    if bool(data.get("team")) == bool(data.get("region")):
        raise ValidationFailed("Plan for one team or one region.", fields={"team": ["give team or region"]})
    # No user: the service itself (nightly planning) plans for any team.
    visible = authz.visible_team_ids(user) if user is not None else None
    if data.get("team"):
        team = db.session.scalars(select(Team).options(selectinload(Team.region))
                                  .where(Team.code == data["team"])).one_or_none()
        if team is None or (visible is not None and team.id not in visible):
            raise ValidationFailed("No such team among yours.", fields={"team": ["not one of your teams"]})
        return [team], team.region, team
    region = db.session.scalars(select(Region).where(Region.code == data["region"])).one_or_none()
    teams = [] if region is None else db.session.scalars(
        select(Team).options(selectinload(Team.region)).where(Team.region_id == region.id)).all()
    if region is None or not teams or (visible is not None and not {t.id for t in teams} <= visible):
        raise ValidationFailed("No such region among yours.", fields={"region": ["not your region"]})
    return teams, region, None


# ---------------------------------------------------------------- facts for the policy

def _last_visit_dates(debtor_ids):
    """The most recent visit day (debtor's local date) of each debtor."""
    if not debtor_ids:
        return {}
    rows = db.session.execute(
        select(Case.debtor_id, func.max(Visit.check_in_at), Debtor.timezone)
        .join(VisitTask, VisitTask.id == Visit.task_id).join(Case, Case.id == VisitTask.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(Case.debtor_id.in_(debtor_ids)).group_by(Case.debtor_id, Debtor.timezone))
    out = {}
    for debtor_id, last, zone in rows:
        last = last if last.tzinfo else last.replace(tzinfo=timezone.utc)
        out[debtor_id] = last.astimezone(ZoneInfo(zone)).date()
    return out


def _complaints_by_debtor(debtor_ids):
    rows = db.session.execute(select(Complaint.debtor_id, Complaint.collector_id).where(
        Complaint.debtor_id.in_(debtor_ids), Complaint.collector_id.is_not(None),
        Complaint.status.in_(OPEN_COMPLAINT))) if debtor_ids else []
    out = {}
    for debtor_id, collector_id in rows:
        out.setdefault(debtor_id, set()).add(collector_id)
    return out


def _contacts_by_case(case_ids):
    out = {case_id: [] for case_id in case_ids}
    for chunk_start in range(0, len(case_ids), 900):
        chunk = case_ids[chunk_start:chunk_start + 900]
        for attempt in db.session.scalars(select(ContactAttempt).where(ContactAttempt.case_id.in_(chunk))):
            out[attempt.case_id].append(attempt)
    return out


# ---------------------------------------------------------------- the engine's problem

def _hhmm(moment, zone, plan_date):
    local = moment.astimezone(zone)
    if local.date() < plan_date:
        return "00:00"
    if local.date() > plan_date:
        return "23:59"
    return local.strftime("%H:%M")


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
        "id": crew.code, "lat": round(lat, 6), "lon": round(lon, 6),
        "shift": [start.strftime("%H:%M"), end.strftime("%H:%M")],
        "max_visits": max(min(m.daily_capacity for m in members) - capacity_used, 0),
        "skills": sorted({lang for m in members for lang in (m.languages or [])}),
    }


def _crews(team_ids):
    return db.session.scalars(
        select(Crew).options(selectinload(Crew.members).selectinload(Collector.trainings),
                             selectinload(Crew.team).selectinload(Team.region))
        .where(Crew.team_id.in_(team_ids), Crew.active.is_(True)).order_by(Crew.code)).all()


def _tasks_used(team_ids, plan_date):
    """Tasks already started or done that day, per crew, and their cases."""
    rows = db.session.execute(
        select(VisitTask.crew_id, VisitTask.case_id).join(Case, Case.id == VisitTask.case_id)
        .where(Case.team_id.in_(team_ids), VisitTask.visit_date == plan_date, VisitTask.status.in_(STARTED)))
    used, cases = {}, set()
    for crew_id, case_id in rows:
        used[crew_id] = used.get(crew_id, 0) + 1
        cases.add(case_id)
    return used, cases


def build_problem(teams, zone_name, plan_date):
    """The engine's problem for these teams on this date, with what the policy decided."""
    engine = policy.current()
    team_ids = [t.id for t in teams]
    zone = ZoneInfo(zone_name)
    used, started_cases = _tasks_used(team_ids, plan_date)

    crews, crew_report, eligible_crews = _crews(team_ids), [], []
    for crew in crews:
        profile = engine.for_team(crew.team)
        refusals = rules.crew_blockers(profile, crew, plan_date)
        crew_report.append({"crew": crew.code, "team": crew.team.code, "eligible": not refusals,
                            "members": [m.code for m in crew.members],
                            "rules": [d.as_dict() for d in refusals]})
        if not refusals:
            eligible_crews.append((crew, _crew_unit(crew, used.get(crew.id, 0))))

    cases = db.session.scalars(
        select(Case).options(selectinload(Case.debtor), selectinload(Case.team).selectinload(Team.region))
        .where(Case.team_id.in_(team_ids), Case.stage == "field_visit").order_by(Case.id)).all()
    cases = [c for c in cases if c.id not in started_cases]
    debtor_ids = list({c.debtor_id for c in cases})
    contacts = _contacts_by_case([c.id for c in cases])
    last_visits = _last_visit_dates(debtor_ids)
    complaints = _complaints_by_debtor(debtor_ids)

    tasks, blocked, context = [], [], {}
    for case in cases:
        profile = engine.for_team(case.team)
        debtor = case.debtor
        refusals = rules.task_blockers(profile, debtor_flags=debtor.flags, contact_attempts=contacts[case.id],
                                       visit_date=plan_date, debtor_tz=debtor.timezone,
                                       last_visit_date=last_visits.get(debtor.id))
        windows = rules.visiting_windows(profile, debtor.timezone, debtor.availability, plan_date)
        if not windows:
            refusals.append(rules.no_window_refusal(profile, plan_date))
        entry = {"case_id": case.id, "loan_ref": case.loan_ref, "team": case.team.code, "profile": profile.label}
        if refusals:
            blocked.append({**entry, "task": _task_key(case.id), "reason": "policy",
                            "rules": [d.as_dict() for d in refusals]})
            continue
        excluded = []
        for crew, _ in eligible_crews:
            conflict = rules.complaint_conflict(profile, crew, complaints.get(debtor.id, set()))
            if conflict is not None:
                excluded.append(crew.code)
        task = {
            "id": _task_key(case.id), "lat": debtor.lat, "lon": debtor.lon,
            "windows": [[_hhmm(a, zone, plan_date), _hhmm(b, zone, plan_date)] for a, b in windows],
            "service_minutes": current_app.config.get("VISIT_SERVICE_MINUTES", 30),
            "priority": case.priority, "skills": [debtor.language] if debtor.language else [],
            "excluded_collectors": excluded,
        }
        task["windows"] = [w for w in task["windows"] if w[0] < w[1]]
        tasks.append(task)
        context[task["id"]] = entry
    problem = {"date": plan_date.isoformat(), "timezone": zone_name,
               "collectors": [unit for _, unit in eligible_crews], "tasks": tasks}
    return problem, {"tasks": context, "blocked": blocked, "crews": crew_report}


# ---------------------------------------------------------------- plans

def create_plan(data, user, time_limit=None):
    """Plan the day: a draft the supervisor previews before committing."""
    teams, region, team = resolve_scope(data, user)
    plan_date = data["date"]
    problem, context = build_problem(teams, region.timezone, plan_date)
    engine_plan = dispatch.solve(problem, time_limit=time_limit or current_app.config.get("DISPATCH_TIME_LIMIT"))
    result = _explain(problem, engine_plan, context)
    profile = policy.current().for_team(team or teams[0])
    plan = DispatchPlan(plan_date=plan_date, team_id=team.id if team else None,
                        region_id=None if team else region.id, status="draft", policy_profile=profile.label,
                        result=result, summary=_summary(result, engine_plan),
                        created_by_id=user.id if user is not None else None)
    db.session.add(plan)
    db.session.flush()
    audit.record("plan.drafted", plan, after={"date": plan_date.isoformat(), "summary": plan.summary})
    return plan


def _explain(problem, engine_plan, context):
    tasks = context["tasks"]
    routes = []
    for route in engine_plan["routes"]:
        stops = []
        for order, stop in enumerate(route["stops"], start=1):
            entry = tasks[stop["task"]]
            stops.append({**stop, **entry, "sequence": order,
                          "why": {"rule": "dispatch.route",
                                  "text": f"Crew {route['collector']} is eligible and has room; the engine's "
                                          f"route reaches the debtor at {stop['arrival']} inside a visiting window."}})
        routes.append({"crew": route["collector"], "distance_km": route["distance_km"], "stops": stops})
    unassigned = [{**tasks[u["task"]], "task": u["task"], "reason": u["reason"],
                   "rules": [], "why": dispatch.REASONS.get(u["reason"], u["reason"])}
                  for u in engine_plan["unassigned"]]
    return {"timezone": problem["timezone"], "routes": routes, "unassigned": unassigned + context["blocked"],
            "crews": context["crews"], "problem": problem, "engine": engine_plan["summary"]}


def _summary(result, engine_plan):
    loads = {r["crew"]: len(r["stops"]) for r in result["routes"]}
    return {
        "assigned": engine_plan["summary"]["assigned"],
        "unassigned": len(result["unassigned"]),
        "blocked_by_policy": sum(1 for u in result["unassigned"] if u["reason"] == "policy"),
        "priority_sum": engine_plan["summary"]["priority_sum"],
        "distance_km": engine_plan["summary"]["distance_km"],
        "solve_seconds": engine_plan["summary"]["solve_seconds"],
        "crews_eligible": sum(1 for c in result["crews"] if c["eligible"]),
        "crews_ineligible": sum(1 for c in result["crews"] if not c["eligible"]),
        "load": loads,
    }


def get_plan(plan_id, user):
    plan = db.session.get(DispatchPlan, plan_id)
    if plan is None:
        raise NotFound("No such plan.")
    visible = authz.visible_team_ids(user)
    if visible is not None:
        teams = {plan.team_id} if plan.team_id else set(db.session.scalars(
            select(Team.id).where(Team.region_id == plan.region_id)))
        if not teams <= visible:
            raise NotFound("No such plan.")
    return plan


def current_plan(plan):
    """The committed plan this draft would replace, if any."""
    return db.session.scalars(select(DispatchPlan).where(
        DispatchPlan.plan_date == plan.plan_date, DispatchPlan.team_id == plan.team_id,
        DispatchPlan.region_id == plan.region_id, DispatchPlan.status == "committed")).first()


def commit_plan(plan, user):
    """Write the draft's tasks; re-check the policy for each, since facts may have moved."""
    if plan.status != "draft":
        raise Conflict(f"This plan is {plan.status}; only a draft can be committed.")
    zone = ZoneInfo(plan.result["timezone"])
    previous = current_plan(plan)
    if previous is not None:
        previous.status = "superseded"
    case_ids = [s["case_id"] for r in plan.result["routes"] for s in r["stops"]] + \
               [u["case_id"] for u in plan.result["unassigned"]]
    cases = {c.id: c for c in db.session.scalars(
        select(Case).options(selectinload(Case.debtor), selectinload(Case.team).selectinload(Team.region))
        .where(Case.id.in_(case_ids)))} if case_ids else {}
    existing = {t.case_id: t for t in db.session.scalars(select(VisitTask).where(
        VisitTask.visit_date == plan.plan_date, VisitTask.case_id.in_(case_ids)))} if case_ids else {}
    crews = {c.code: c for c in db.session.scalars(select(Crew).where(
        Crew.code.in_([r["crew"] for r in plan.result["routes"]])))}
    contacts = _contacts_by_case(list(cases))
    last_visits = _last_visit_dates(list({c.debtor_id for c in cases.values()}))
    engine = policy.current()
    changed = 0
    for route in plan.result["routes"]:
        for stop in route["stops"]:
            case = cases.get(stop["case_id"])
            if case is None:
                continue
            refusals = rules.task_blockers(
                engine.for_team(case.team), debtor_flags=case.debtor.flags, contact_attempts=contacts[case.id],
                visit_date=plan.plan_date, debtor_tz=case.debtor.timezone,
                last_visit_date=last_visits.get(case.debtor_id)) if case.stage == "field_visit" else []
            task = existing.get(case.id)
            if task is not None and task.status in STARTED:
                continue
            if case.stage != "field_visit" or refusals:
                why = {"reason": "policy", "rules": [d.as_dict() for d in refusals]} if refusals else \
                    {"reason": "stage", "text": f"the case moved to {case.stage} before the plan was committed"}
                changed += _write_task(task, case, plan, None, stop, zone, why)
                continue
            changed += _write_task(task, case, plan, crews[route["crew"]], stop, zone, stop["why"])
    for entry in plan.result["unassigned"]:
        case = cases.get(entry["case_id"])
        task = existing.get(entry["case_id"])
        if case is None or (task is not None and task.status in STARTED):
            continue
        why = {"reason": entry["reason"], "rules": entry.get("rules", []), "text": entry.get("why")}
        changed += _write_task(task, case, plan, None, None, zone, why)
    plan.status, plan.committed_at = "committed", clock.now()
    db.session.flush()
    audit.record("plan.committed", plan, after={"date": plan.plan_date.isoformat(), "tasks_written": changed,
                                                "superseded": previous.id if previous else None})
    return plan


def _remember_crew(task, crew):
    """Keep every crew a task was given to, so a phone of a former crew gets 'conflict', not 404."""
    if crew is not None and crew.id not in (task.crew_history or []):
        task.crew_history = [*(task.crew_history or []), crew.id]


def _local_to_utc(plan_date, hhmm, zone):
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(plan_date, time(hours, minutes), zone).astimezone(timezone.utc)


def _write_task(task, case, plan, crew, stop, zone, why):
    before = None if task is None else {"status": task.status, "crew_id": task.crew_id, "sequence": task.sequence}
    if task is None:
        task = VisitTask(case_id=case.id, visit_date=plan.plan_date, priority=case.priority)
        db.session.add(task)
    task.plan_id = plan.id
    task.crew_id = crew.id if crew else None
    _remember_crew(task, crew)
    task.status = "assigned" if crew else "open"
    task.sequence = stop["sequence"] if crew else None
    task.planned_start = _local_to_utc(plan.plan_date, stop["start"], zone) if crew else None
    task.planned_end = _local_to_utc(plan.plan_date, stop["end"], zone) if crew else None
    task.reason = why
    db.session.flush()
    after = {"status": task.status, "crew_id": task.crew_id, "sequence": task.sequence}
    if before != after:
        audit.record("task.planned", task, before=before, after=after)
        return 1
    return 0


# ---------------------------------------------------------------- manual moves

def _task_facts(task):
    case = task.case
    profile = policy.current().for_team(case.team)
    contacts = _contacts_by_case([case.id])[case.id]
    last = _last_visit_dates([case.debtor_id]).get(case.debtor_id)
    return case, profile, contacts, last


def assign_task(task, data, user):
    """Move a task to a crew by hand. The same policy gate as planning applies; a
    refusal names its rule and nothing changes."""
    if task.status not in ("open", "assigned"):
        raise Conflict(f"The task is {task.status}; it can no longer be moved.")
    if "from_crew" in data:
        seen = data["from_crew"] or None
        if seen != (task.crew.code if task.crew else None):
            raise Conflict("The task was moved by someone else meanwhile; reload the board.", code="task_changed",
                           details={"now_crew": task.crew.code if task.crew else None})
    # Locking the crew row serialises parallel moves onto one crew, so capacity holds.
    crew = db.session.scalars(select(Crew).where(Crew.code == data["crew"]).with_for_update()).one_or_none()
    if crew is None or crew.team_id != task.case.team_id:
        raise ValidationFailed("No such crew in this task's team.", fields={"crew": ["not a crew of this team"]})
    case, profile, contacts, last = _task_facts(task)
    override = data.get("override_frequency", False)
    refusals = rules.task_blockers(profile, debtor_flags=case.debtor.flags, contact_attempts=contacts,
                                   visit_date=task.visit_date, debtor_tz=case.debtor.timezone,
                                   last_visit_date=last, override_frequency=override)
    refusals += rules.crew_blockers(profile, crew, task.visit_date)
    conflict = rules.complaint_conflict(profile, crew, _complaints_by_debtor([case.debtor_id]).get(case.debtor_id,
                                                                                                    set()))
    if conflict is not None:
        refusals.append(conflict)
    windows = rules.visiting_windows(profile, case.debtor.timezone, case.debtor.availability, task.visit_date)
    if not windows:
        refusals.append(rules.no_window_refusal(profile, task.visit_date))
    if case.stage != "field_visit":
        raise Conflict(f"The case is in {case.stage}, not field_visit.")
    if refusals:
        first = refusals[0]
        raise PolicyViolation(first.reason_en, rule_id=first.rule_id, profile_version=first.profile,
                              details={"reason_zh": first.reason_zh, "rules": [d.as_dict() for d in refusals]})
    if crew.id == task.crew_id:
        return task
    _route_with(crew, task, windows)
    before = {"status": task.status, "crew_id": task.crew_id}
    old_crew_id = task.crew_id
    task.crew_id, task.status = crew.id, "assigned"
    _remember_crew(task, crew)
    task.reason = {"reason": "manual", "by": user.username, "note": data.get("reason"),
                   "text": f"Moved by hand to crew {crew.code}: {data.get('reason') or 'no note'}"}
    db.session.flush()
    if old_crew_id is not None:
        _renumber(old_crew_id, task.visit_date)
    flag = rules.frequency_override_flag(profile, last, task.visit_date) if override else None
    if flag is not None:
        conduct.raise_flag(flag, crew_id=crew.id, case_id=case.id, task_id=task.id)
    audit.record("task.assigned", task, before=before, after={"status": task.status, "crew_id": crew.id},
                 extra={"note": data.get("reason"), "override_frequency": override})
    return task


def _route_with(crew, task, windows):
    """Order the crew's day with the new task by the engine; refuse if it cannot fit."""
    day = db.session.scalars(select(VisitTask).options(selectinload(VisitTask.case).selectinload(Case.debtor))
                             .where(VisitTask.crew_id == crew.id, VisitTask.visit_date == task.visit_date,
                                    VisitTask.status.in_(ACTIVE_TASK), VisitTask.id != task.id)).all()
    capacity = min(m.daily_capacity for m in crew.members if m.active)
    if len(day) >= capacity:
        raise Conflict(f"Crew {crew.code} already has {len(day)} visits on {task.visit_date}, its capacity.",
                       code="crew_full")
    zone = ZoneInfo(crew.team.region.timezone)
    profile = policy.current().for_team(crew.team)
    pending = [t for t in day if t.status == "assigned"] + [task]
    unit = _crew_unit(crew, len(day) - len(pending) + 1)
    problem_tasks = []
    for t in pending:
        debtor = t.case.debtor
        task_windows = windows if t is task else rules.visiting_windows(profile, debtor.timezone,
                                                                         debtor.availability, t.visit_date)
        problem_tasks.append({"id": str(t.id), "lat": debtor.lat, "lon": debtor.lon, "priority": t.priority,
                              "service_minutes": current_app.config.get("VISIT_SERVICE_MINUTES", 30),
                              "windows": [[_hhmm(a, zone, t.visit_date), _hhmm(b, zone, t.visit_date)]
                                          for a, b in task_windows]})
    problem = {"date": task.visit_date.isoformat(), "timezone": zone.key, "collectors": [unit], "tasks": problem_tasks}
    plan = dispatch.solve(problem)
    placed = {s["task"]: s for r in plan["routes"] for s in r["stops"]}
    if str(task.id) not in placed:
        reason = next((u["reason"] for u in plan["unassigned"] if u["task"] == str(task.id)), "capacity")
        raise Conflict(f"Crew {crew.code}'s day has no room for this visit ({reason}: "
                       f"{dispatch.REASONS.get(reason, reason)}).", code="route_infeasible")
    offset = len(day) - len(pending) + 1
    for t in pending:
        stop = placed.get(str(t.id))
        if stop is None:  # the engine would drop another stop to fit this one: refuse instead
            raise Conflict(f"Fitting this visit would push another of crew {crew.code}'s stops off its day.",
                           code="route_infeasible")
        order = [s["task"] for r in plan["routes"] for s in r["stops"]].index(str(t.id))
        t.sequence = offset + order
        t.planned_start = _local_to_utc(t.visit_date, stop["start"], zone)
        t.planned_end = _local_to_utc(t.visit_date, stop["end"], zone)


def _renumber(crew_id, visit_date):
    remaining = db.session.scalars(select(VisitTask).where(
        VisitTask.crew_id == crew_id, VisitTask.visit_date == visit_date,
        VisitTask.status.in_(ACTIVE_TASK)).order_by(VisitTask.sequence)).all()
    for number, t in enumerate(remaining, start=1):
        t.sequence = number


def unassign_task(task, data, user):
    if task.status != "assigned":
        raise Conflict(f"The task is {task.status}; only an assigned task can be unassigned.")
    before = {"status": task.status, "crew_id": task.crew_id}
    crew_id = task.crew_id
    task.crew_id, task.status, task.sequence = None, "open", None
    task.planned_start = task.planned_end = None
    task.reason = {"reason": "manual", "by": user.username, "note": data["reason"],
                   "text": f"Unassigned by hand: {data['reason']}"}
    db.session.flush()
    _renumber(crew_id, task.visit_date)
    audit.record("task.unassigned", task, before=before, after={"status": "open", "crew_id": None},
                 extra={"note": data["reason"]})
    return task


def list_tasks(args, user):
    stmt = authz.scope(select(VisitTask).options(
        selectinload(VisitTask.case).selectinload(Case.debtor), selectinload(VisitTask.crew)), VisitTask, user)
    if args.get("date"):
        stmt = stmt.where(VisitTask.visit_date == args["date"])
    if args.get("status"):
        stmt = stmt.where(VisitTask.status == args["status"])
    if args.get("crew"):
        stmt = stmt.where(VisitTask.crew.has(code=args["crew"]))
    return paginate(stmt, VisitTask, args)

