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

import hashlib
import json
import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

import dispatch
from app import audit, authz, clock, policy, routing, transactions
from app.errors import Conflict, NotFound, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    Collector,
    Crew,
    DispatchPlan,
    Region,
    Team,
    Visit,
    VisitTask,
)
from app.policy import rules
from app.services import conduct, door, geocoding
from app.services.common import paginate

log = logging.getLogger(__name__)
ACTIVE_TASK = ("assigned", "checked_in", "done")
STARTED = ("checked_in", "done")


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
        team = db.session.scalars(
            select(Team).options(selectinload(Team.region)).where(Team.code == data["team"])
        ).one_or_none()
        if team is None or (visible is not None and team.id not in visible):
            raise ValidationFailed("No such team among yours.", fields={"team": ["not one of your teams"]})
        return [team], team.region, team
    region = db.session.scalars(select(Region).where(Region.code == data["region"])).one_or_none()
    teams = (
        []
        if region is None
        else db.session.scalars(
            select(Team).options(selectinload(Team.region)).where(Team.region_id == region.id)
        ).all()
    )
    if region is None or not teams or (visible is not None and not {t.id for t in teams} <= visible):
        raise ValidationFailed("No such region among yours.", fields={"region": ["not your region"]})
    return teams, region, None


# ---------------------------------------------------------------- the engine's problem


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
    return db.session.scalars(
        select(Crew)
        .options(
            selectinload(Crew.members).selectinload(Collector.trainings),
            selectinload(Crew.team).selectinload(Team.region),
        )
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
        .options(selectinload(Case.debtor), selectinload(Case.team).selectinload(Team.region))
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


# ---------------------------------------------------------------- plans

# Solves of one request: the first, and a fresh one each time its inputs moved underneath.
PLAN_ATTEMPTS = 3


def create_plan(data, user, time_limit=None):
    """Plan the day: a draft the supervisor previews before committing.

    The solve takes seconds, so it runs outside any database transaction: the problem is
    gathered in a read transaction (on SQLite a deferred one, beside other writers), the
    engine solves with no transaction open, and the draft is written in a short
    transaction that first gathers the problem again, as of the same moment. If anything
    the solve used moved meanwhile (tasks, crews and collectors, training, a debtor's
    availability or place, a case's stage or priority, the day's started stops, the
    policy's verdicts), the draft is not written from the stale solve: the engine solves
    again on the new inputs, up to ``PLAN_ATTEMPTS`` solves; after that the request is
    refused (409 ``plan_inputs_changed``). The draft's transaction is left to the caller
    to commit, like any service's change; the phases before it commit themselves.
    """
    time_limit = time_limit or current_app.config.get("DISPATCH_TIME_LIMIT")
    plan_date = data["date"]
    teams, _region, _team = resolve_scope(data, user)
    # Tasks of days that ended unstarted go back to the pool first, with their reason:
    # a change (and its audit events) of its own, committed before the plan is gathered.
    door.withdraw_past_days([t.id for t in teams])
    db.session.commit()
    now = clock.now()
    with transactions.reading():
        problem, context = _gather(data, user, plan_date, now)
    db.session.rollback()  # nothing was written: this ends the read transaction
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        inputs = _digest(problem, context)
        result, summary = _solve(problem, context, plan_date, time_limit)
        # The draft's transaction: the scope and the problem judged again on the state now.
        problem, context = _gather(data, user, plan_date, now)
        if _digest(problem, context) == inputs:
            return _write_draft(data, user, plan_date, result, summary, attempt)
        log.info(
            "plan of %s for %s: inputs changed during solve %s of %s",
            plan_date,
            data.get("team") or data.get("region"),
            attempt,
            PLAN_ATTEMPTS,
        )
        db.session.rollback()
    raise Conflict(
        f"What the plan is made of changed during each of its {PLAN_ATTEMPTS} solves "
        "(tasks, crews, training or availability); plan again.",
        code="plan_inputs_changed",
    )


def _gather(data, user, plan_date, now):
    teams, region, _team = resolve_scope(data, user)
    return build_problem(teams, region.timezone, plan_date, now=now)


def _digest(problem, context):
    """A fingerprint of everything a solve reads (its problem and the policy's verdicts)."""
    text = json.dumps([problem, context], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _solve(problem, context, plan_date, time_limit):
    """The engine's routes (and the road times they use) and their explanation: no database."""
    travel = _with_roads(problem, plan_date)
    engine_plan = dispatch.solve(problem, time_limit=time_limit)
    result = _explain(problem, engine_plan, context)
    result["travel"] = travel
    return result, _summary(result, engine_plan)


def _write_draft(data, user, plan_date, result, summary, attempt):
    teams, region, team = resolve_scope(data, user)
    profile = policy.current().for_team(team or teams[0])
    plan = DispatchPlan(
        plan_date=plan_date,
        team_id=team.id if team else None,
        region_id=None if team else region.id,
        status="draft",
        policy_profile=profile.label,
        result=result,
        summary={**summary, "solves": attempt},
        created_by_id=user.id if user is not None else None,
    )
    db.session.add(plan)
    db.session.flush()
    audit.record("plan.drafted", plan, after={"date": plan_date.isoformat(), "summary": plan.summary})
    return plan


def _with_roads(problem, day):
    """Road durations and distances from the table service (``ROUTING_URL``) as the
    problem's matrix; without it, or when it fails, the engine's own model. Says which."""
    if not routing.configured():
        return {"source": "model"}
    if not problem["tasks"] or not problem["collectors"]:
        return {"source": "model", "note": "nothing to route"}
    try:
        problem["matrix"] = routing.matrix_for(problem, day)
    except routing.RoutingError as exc:
        log.warning("road travel times unavailable, planning with the model: %s", exc)
        return {"source": "model", "note": f"routing service failed: {exc}"}
    return {"source": "routing", "locations": len(problem["matrix"]["locations"])}


def _explain(problem, engine_plan, context):
    tasks = context["tasks"]
    routes = []
    for route in engine_plan["routes"]:
        stops = []
        # A day under way: the new stops follow the crew's started and finished ones.
        offset = context.get("offsets", {}).get(route["collector"], 0)
        for order, stop in enumerate(route["stops"], start=1):
            entry = tasks[stop["task"]]
            stops.append(
                {
                    **stop,
                    **entry,
                    "sequence": offset + order,
                    "why": {
                        "rule": "dispatch.route",
                        "text": f"Crew {route['collector']} is eligible and has room; the engine's "
                        f"route reaches the debtor at {stop['arrival']} inside a visiting window.",
                    },
                }
            )
        routes.append({"crew": route["collector"], "distance_km": route["distance_km"], "stops": stops})
    unassigned = [
        {
            **tasks[u["task"]],
            "task": u["task"],
            "reason": u["reason"],
            "rules": [],
            "why": dispatch.REASONS.get(u["reason"], u["reason"]),
        }
        for u in engine_plan["unassigned"]
    ]
    return {
        "timezone": problem["timezone"],
        "routes": routes,
        "unassigned": unassigned + context["blocked"],
        "crews": context["crews"],
        "problem": problem,
        "engine": engine_plan["summary"],
    }


def _summary(result, engine_plan):
    loads = {r["crew"]: len(r["stops"]) for r in result["routes"]}
    return {
        "assigned": engine_plan["summary"]["assigned"],
        "unassigned": len(result["unassigned"]),
        "blocked_by_policy": sum(1 for u in result["unassigned"] if u["reason"] == "policy"),
        "no_location": sum(1 for u in result["unassigned"] if u["reason"] == "no_location"),
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
        teams = (
            {plan.team_id}
            if plan.team_id
            else set(db.session.scalars(select(Team.id).where(Team.region_id == plan.region_id)))
        )
        if not teams <= visible:
            raise NotFound("No such plan.")
    return plan


def current_plan(plan):
    """The committed plan this draft would replace, if any."""
    return db.session.scalars(
        select(DispatchPlan).where(
            DispatchPlan.plan_date == plan.plan_date,
            DispatchPlan.team_id == plan.team_id,
            DispatchPlan.region_id == plan.region_id,
            DispatchPlan.status == "committed",
        )
    ).first()


def _plan_team_ids(plan):
    if plan.team_id is not None:
        return [plan.team_id]
    return list(db.session.scalars(select(Team.id).where(Team.region_id == plan.region_id)))


def commit_plan(plan, user):
    """Write the draft's tasks. Every rule is judged again against the state at this
    moment, since facts may have moved since the draft was made (a flag, a complaint, a
    crew member gone, training lapsed, a visit made or committed elsewhere, the clock):
    a stop that no longer holds is not committed, and says why."""
    if plan.status != "draft":
        raise Conflict(f"This plan is {plan.status}; only a draft can be committed.")
    zone = ZoneInfo(plan.result["timezone"])
    now = clock.now()
    if plan.plan_date < _today(zone):
        raise Conflict("This draft is for a day that is over; plan again.", code="plan_day_over")
    previous = current_plan(plan)
    if previous is not None:
        previous.status = "superseded"
    case_ids = [s["case_id"] for r in plan.result["routes"] for s in r["stops"]] + [
        u["case_id"] for u in plan.result["unassigned"]
    ]
    cases = (
        {
            c.id: c
            for c in db.session.scalars(
                select(Case)
                .options(selectinload(Case.debtor), selectinload(Case.team).selectinload(Team.region))
                .where(Case.id.in_(case_ids))
            )
        }
        if case_ids
        else {}
    )
    existing = (
        {
            t.case_id: t
            for t in db.session.scalars(
                select(VisitTask).where(VisitTask.visit_date == plan.plan_date, VisitTask.case_id.in_(case_ids))
            )
        }
        if case_ids
        else {}
    )
    crews = {
        c.code: c
        for c in db.session.scalars(
            select(Crew)
            .options(selectinload(Crew.members).selectinload(Collector.trainings))
            .where(Crew.code.in_([r["crew"] for r in plan.result["routes"]]))
        )
    }
    facts = door.day_facts(list(cases.values()))
    changed, dropped = 0, 0
    for route in plan.result["routes"]:
        crew = crews.get(route["crew"])
        for stop in route["stops"]:
            case = cases.get(stop["case_id"])
            task = existing.get(stop["case_id"])
            if case is None or (task is not None and task.status in STARTED):
                continue
            refusals = (
                door.day_refusals(
                    case,
                    crew,
                    plan.plan_date,
                    facts,
                    exclude_task_id=task.id if task is not None else None,
                    replanned_day=plan.plan_date,
                )
                if crew is not None
                else []
            )
            start = _local_to_utc(plan.plan_date, stop["start"], zone)
            if refusals:
                why = {
                    "reason": "policy",
                    "rules": [d.as_dict() for d in refusals],
                    "text": f"Not committed: {refusals[0].reason_en}",
                }
            elif crew is None or not crew.active:
                why = {"reason": "crew", "text": f"Crew {route['crew']} is no longer available."}
            elif start < now:
                why = {
                    "reason": "time_passed",
                    "text": f"Its planned time ({stop['start']}) passed before the plan was committed; plan again.",
                }
            else:
                changed += _write_task(task, case, plan, crew, stop, zone, stop["why"])
                # The debtor now has a visit that day: another case of theirs in this draft is judged with it.
                facts.visit_days.setdefault(case.debtor_id, []).append((plan.plan_date, None, "this_plan"))
                continue
            dropped += 1
            changed += _write_task(task, case, plan, None, None, zone, why)
    for entry in plan.result["unassigned"]:
        case = cases.get(entry["case_id"])
        task = existing.get(entry["case_id"])
        if case is None or (task is not None and task.status in STARTED):
            continue
        why = {
            "reason": entry["reason"],
            "rules": entry.get("rules", []),
            "text": entry.get("why"),
            **({"text_zh": entry["why_zh"]} if entry.get("why_zh") else {}),
        }
        changed += _write_task(task, case, plan, None, None, zone, why)
    for crew in crews.values():
        door.renumber(crew.id, plan.plan_date)
    plan.status, plan.committed_at = "committed", now
    db.session.flush()
    # Tasks of the superseded plan this draft did not cover, judged again like the rest.
    withdrawn = door.withdraw_unlawful(
        team_ids=_plan_team_ids(plan), visit_date=plan.plan_date, cause=f"plan_committed:{plan.id}"
    )
    audit.record(
        "plan.committed",
        plan,
        after={
            "date": plan.plan_date.isoformat(),
            "tasks_written": changed,
            "dropped_at_commit": dropped,
            "withdrawn": len(withdrawn),
            "superseded": previous.id if previous else None,
        },
    )
    return plan


def _remember_crew(task, crew):
    """Keep every crew a task was given to, so a phone of a former crew gets 'conflict', not 404."""
    if crew is not None and crew.id not in (task.crew_history or []):
        task.crew_history = [*(task.crew_history or []), crew.id]


def _local_to_utc(plan_date, hhmm, zone):
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(plan_date, time(hours, minutes), zone).astimezone(UTC)


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


def _refusal_kept(action, task, user, exc, **extra):
    """A supervisor's refused move is on record like a refused field action: the attempt's
    changes are undone, the refusal is written and kept, and the answer is the error."""
    audit.record(
        action,
        task,
        extra={"code": exc.code, "rule_id": getattr(exc, "rule_id", None), "message": exc.message, **extra},
    )
    exc.keep_record = True
    return exc


def assign_task(task, data, user):
    """Move a task to a crew by hand. The same rules as planning apply, judged now; a
    refusal names its rule, changes nothing and is kept on record."""
    attempt = db.session.begin_nested()
    try:
        result = _assign(task, data, user)
    except (PolicyViolation, Conflict) as exc:
        attempt.rollback()
        raise _refusal_kept(
            "task.assign_refused", task, user, exc, crew=data.get("crew"), note=data.get("reason")
        ) from None
    attempt.commit()
    return result


def _assign(task, data, user):
    if task.status not in ("open", "assigned", "withdrawn"):
        raise Conflict(f"The task is {task.status}; it can no longer be moved.")
    if "from_crew" in data:
        seen = data["from_crew"] or None
        if seen != (task.crew.code if task.crew else None):
            raise Conflict(
                "The task was moved by someone else meanwhile; reload the board.",
                code="task_changed",
                details={"now_crew": task.crew.code if task.crew else None},
            )
    # Locking the crew row serialises parallel moves onto one crew, so capacity holds.
    crew = db.session.scalars(select(Crew).where(Crew.code == data["crew"]).with_for_update()).one_or_none()
    if crew is None or crew.team_id != task.case.team_id:
        raise ValidationFailed("No such crew in this task's team.", fields={"crew": ["not a crew of this team"]})
    case = task.case
    if case.debtor.lat is None:
        raise Conflict(f"{geocoding.NO_LOCATION['why']} / {geocoding.NO_LOCATION['why_zh']}", code="no_location")
    profile = policy.current().for_team(case.team)
    zone = ZoneInfo(crew.team.region.timezone)
    if task.visit_date < _today(ZoneInfo(case.debtor.timezone)):
        door.refuse([rules.planned_day(profile, task.visit_date, case.debtor.timezone, clock.now())])
    override = data.get("override_frequency", False)
    facts = door.day_facts([case])
    refusals = door.day_refusals(
        case, crew, task.visit_date, facts, exclude_task_id=task.id, override_frequency=override
    )
    windows = _open_windows(
        rules.visiting_windows(profile, case.debtor.timezone, case.debtor.availability, task.visit_date),
        clock.now(),
        task.visit_date,
        _today(zone),
    )
    if not windows and not any(r.rule_id.endswith(".no_visiting_window") for r in refusals):
        refusals.append(rules.no_window_refusal(profile, task.visit_date))
    if refusals:
        door.refuse(refusals)
    if crew.id == task.crew_id:
        return task
    _route_with(crew, task, windows)
    before = {"status": task.status, "crew_id": task.crew_id}
    old_crew_id = task.crew_id
    task.crew_id, task.status = crew.id, "assigned"
    _remember_crew(task, crew)
    task.reason = {
        "reason": "manual",
        "by": user.username,
        "note": data.get("reason"),
        "override_frequency": bool(override),
        "text": f"Moved by hand to crew {crew.code}: {data.get('reason') or 'no note'}",
    }
    db.session.flush()
    if old_crew_id is not None:
        door.renumber(old_crew_id, task.visit_date)
    visit_days = facts.days_for(case.debtor_id, exclude_task_id=task.id)
    flag = rules.frequency_override_flag(profile, visit_days, task.visit_date) if override else None
    if flag is not None:
        conduct.raise_flag(flag, crew_id=crew.id, case_id=case.id, task_id=task.id)
    audit.record(
        "task.assigned",
        task,
        before=before,
        after={"status": task.status, "crew_id": crew.id},
        extra={"note": data.get("reason"), "override_frequency": override},
    )
    return task


def move_options(task):
    """Each crew of the task's team and what a move there would meet now: the policy's
    refusals (rule ids, in English and Chinese) and the crew's room, judged as a move
    would be but changing nothing. The board marks the crews the policy would refuse and
    answers a dragged stop before it is dropped; the move itself is judged again."""
    case = task.case
    profile = policy.current().for_team(case.team)
    crews = db.session.scalars(
        select(Crew).options(selectinload(Crew.members)).where(Crew.team_id == case.team_id).order_by(Crew.code)
    ).all()
    stops = dict(
        db.session.execute(
            select(VisitTask.crew_id, func.count())
            .where(
                VisitTask.crew_id.in_([c.id for c in crews]),
                VisitTask.visit_date == task.visit_date,
                VisitTask.status.in_(ACTIVE_TASK),
                VisitTask.id != task.id,
            )
            .group_by(VisitTask.crew_id)
        ).all()
    )
    facts = door.day_facts([case])
    past_day = (
        [rules.planned_day(profile, task.visit_date, case.debtor.timezone, clock.now())]
        if task.visit_date < _today(ZoneInfo(case.debtor.timezone))
        else []
    )
    # A debtor known only by an address has no place to route to: no crew may take it yet.
    movable = task.status in ("open", "assigned", "withdrawn") and case.debtor.lat is not None
    options = []
    for crew in crews:
        refusals = past_day + door.day_refusals(case, crew, task.visit_date, facts, exclude_task_id=task.id)
        active = [m for m in crew.members if m.active]
        capacity = min(m.daily_capacity for m in active) if active else 0
        full = stops.get(crew.id, 0) >= capacity
        options.append(
            {
                "crew": crew.code,
                "current": crew.id == task.crew_id,
                "stops": stops.get(crew.id, 0),
                "capacity": capacity,
                "full": full,
                "rules": [r.as_dict() for r in refusals],
                "allowed": movable and not refusals and not full and crew.id != task.crew_id,
            }
        )
    return {"task_id": task.id, "status": task.status, "visit_date": task.visit_date, "crews": options}


def _route_with(crew, task, windows):
    """Order the crew's day with the new task by the engine; refuse if it cannot fit. A
    day under way keeps its started stops and goes on from where the crew is now."""
    day = db.session.scalars(
        select(VisitTask)
        .options(selectinload(VisitTask.case).selectinload(Case.debtor))
        .where(
            VisitTask.crew_id == crew.id,
            VisitTask.visit_date == task.visit_date,
            VisitTask.status.in_(ACTIVE_TASK),
            VisitTask.id != task.id,
        )
    ).all()
    capacity = min(m.daily_capacity for m in crew.members if m.active)
    if len(day) >= capacity:
        raise Conflict(
            f"Crew {crew.code} already has {len(day)} visits on {task.visit_date}, its capacity.", code="crew_full"
        )
    zone = ZoneInfo(crew.team.region.timezone)
    profile = policy.current().for_team(crew.team)
    now, today = clock.now(), _today(zone)
    pending = [t for t in day if t.status == "assigned"] + [task]
    started = [t for t in day if t.status in STARTED]
    unit = _crew_unit(crew, len(started))
    if task.visit_date == today:
        visits = (
            {v.task_id: v for v in db.session.scalars(select(Visit).where(Visit.task_id.in_([t.id for t in started])))}
            if started
            else {}
        )
        for t in started:
            t.visit = visits.get(t.id)
        unit = _resume(unit, started, now, zone)
        if unit is None:
            raise Conflict(f"Crew {crew.code} has no working time left today.", code="route_infeasible")
    problem_tasks = []
    for t in pending:
        debtor = t.case.debtor
        task_windows = (
            windows
            if t is task
            else _open_windows(
                rules.visiting_windows(profile, debtor.timezone, debtor.availability, t.visit_date),
                now,
                t.visit_date,
                today,
            )
        )
        problem_tasks.append(
            {
                "id": str(t.id),
                "lat": debtor.lat,
                "lon": debtor.lon,
                "priority": t.priority,
                "service_minutes": current_app.config.get("VISIT_SERVICE_MINUTES", 30),
                "windows": [
                    w
                    for w in ([_hhmm(a, zone, t.visit_date), _hhmm(b, zone, t.visit_date)] for a, b in task_windows)
                    if w[0] < w[1]
                ],
            }
        )
    problem = {"date": task.visit_date.isoformat(), "timezone": zone.key, "collectors": [unit], "tasks": problem_tasks}
    _with_roads(problem, task.visit_date)
    # One crew's day, inside a supervisor's request: a short search, not a day's planning budget.
    plan = dispatch.solve(problem, time_limit=current_app.config["MOVE_TIME_LIMIT"])
    placed = {s["task"]: s for r in plan["routes"] for s in r["stops"]}
    if str(task.id) not in placed:
        reason = next((u["reason"] for u in plan["unassigned"] if u["task"] == str(task.id)), "capacity")
        raise Conflict(
            f"Crew {crew.code}'s day has no room for this visit ({reason}: {dispatch.REASONS.get(reason, reason)}).",
            code="route_infeasible",
        )
    order = [s["task"] for r in plan["routes"] for s in r["stops"]]
    for t in pending:
        stop = placed.get(str(t.id))
        if stop is None:  # the engine would drop another stop to fit this one: refuse instead
            raise Conflict(
                f"Fitting this visit would push another of crew {crew.code}'s stops off its day.",
                code="route_infeasible",
            )
        t.sequence = len(started) + 1 + order.index(str(t.id))
        t.planned_start = _local_to_utc(t.visit_date, stop["start"], zone)
        t.planned_end = _local_to_utc(t.visit_date, stop["end"], zone)


def unassign_task(task, data, user):
    """Take a task off its crew, with a reason; a refusal is kept on record."""
    if task.status != "assigned":
        exc = Conflict(f"The task is {task.status}; only an assigned task can be unassigned.")
        raise _refusal_kept("task.unassign_refused", task, user, exc, note=data.get("reason"))
    before = {"status": task.status, "crew_id": task.crew_id}
    crew_id = task.crew_id
    task.crew_id, task.status, task.sequence = None, "open", None
    task.planned_start = task.planned_end = None
    task.reason = {
        "reason": "manual",
        "by": user.username,
        "note": data["reason"],
        "text": f"Unassigned by hand: {data['reason']}",
    }
    db.session.flush()
    door.renumber(crew_id, task.visit_date)
    audit.record(
        "task.unassigned",
        task,
        before=before,
        after={"status": "open", "crew_id": None},
        extra={"note": data["reason"]},
    )
    return task


def list_tasks(args, user):
    stmt = authz.scope(
        select(VisitTask).options(selectinload(VisitTask.case).selectinload(Case.debtor), selectinload(VisitTask.crew)),
        VisitTask,
        user,
    )
    if args.get("date"):
        stmt = stmt.where(VisitTask.visit_date == args["date"])
    if args.get("status"):
        stmt = stmt.where(VisitTask.status == args["status"])
    if args.get("crew"):
        stmt = stmt.where(VisitTask.crew.has(code=args["crew"]))
    return paginate(stmt, VisitTask, args)
