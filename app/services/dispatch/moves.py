"""Visit tasks by hand: the crews a task could move to, assigning and unassigning it (the
board's moves), and the task list."""

from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

import dispatch
from app import audit, authz, clock, policy
from app.errors import Conflict, PolicyViolation, ValidationFailed
from app.extensions import db
from app.models import Case, Crew, Visit, VisitTask
from app.policy import rules
from app.services import conduct, door, geocoding
from app.services.common import paginate
from app.services.dispatch.plans import _local_to_utc, _remember_crew, _with_roads
from app.services.dispatch.problem import ACTIVE_TASK, STARTED, _crew_unit, _hhmm, _open_windows, _resume, _today


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
