"""A day's plan: a draft solved by the engine (solved again while its inputs move), kept
for the supervisor to preview, and committed as the day's visit tasks."""

import hashlib
import json
import logging
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

import dispatch
from app import audit, authz, clock, policy, routing, transactions
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import Case, Collector, Crew, DispatchPlan, Team, VisitTask
from app.services import door
from app.services.dispatch.problem import STARTED, _today, build_problem, resolve_scope

log = logging.getLogger(__name__)


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
