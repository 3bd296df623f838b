"""The door decides: every rule of the policy judged again where the action happens.

A plan is a proposal. The same day rules (``rules.visit_refusals``: the case's stage,
the debtor's flags, prior contact and notices, the frequency cap across visits made
and committed by anyone, a visiting window that day, the crew's size, every member's
activity, vetting and training on that day, an open complaint) are asked when a plan
is drafted and committed, when a task is moved by hand, when a change may have made a
committed task unlawful (which is then withdrawn at once), and at the check-in, where
the time of day, the planned day, the place and the crew's other open visit are
judged too — each time with the facts as they stand at that moment, on the server's
clock. This module gathers those facts in a few queries and asks ``app.policy.rules``;
it decides nothing itself.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from app import audit, clock, geo, policy
from app.errors import PolicyViolation
from app.extensions import db
from app.models import Case, Collector, Complaint, ContactAttempt, Crew, Debtor, Team, Visit, VisitTask
from app.policy import rules

OPEN_COMPLAINT = ("open", "under_review")
COMMITTED = ("assigned", "checked_in", "done")
# A task not yet started: the only kind a change can still withdraw.
NOT_STARTED = ("assigned",)


@dataclass
class DayFacts:
    """What the day rules need to know about a set of cases, read in a few queries."""

    contacts: dict = field(default_factory=dict)  # case id → contact attempts
    visit_days: dict = field(default_factory=dict)  # debtor id → [(local date, task id, kind)]
    complaints: dict = field(default_factory=dict)  # debtor id → collector ids under complaint

    def days_for(self, debtor_id, *, exclude_task_id=None, replanned_day=None, visits_only=False):
        """The debtor's other visit days: visits made and (unless ``visits_only``) tasks
        committed, without the task being judged, and without the unstarted tasks of a
        day being planned afresh."""
        days = set()
        for day, task_id, kind in self.visit_days.get(debtor_id, ()):
            if (exclude_task_id is not None and task_id == exclude_task_id) or (visits_only and kind != "visit"):
                continue
            if replanned_day is not None and kind == "assigned" and day == replanned_day:
                continue
            days.add(day)
        return days


def day_facts(cases, *, visits_only=False):
    """The facts of ``cases`` (with their debtors loaded) that the day rules ask about;
    ``visits_only``: without the tasks committed (for rules asked with ``visits_only``)."""
    case_ids = [c.id for c in cases]
    debtor_ids = list({c.debtor_id for c in cases})
    facts = DayFacts(contacts={cid: [] for cid in case_ids})
    for chunk in _chunks(case_ids):
        for attempt in db.session.scalars(select(ContactAttempt).where(ContactAttempt.case_id.in_(chunk))):
            facts.contacts[attempt.case_id].append(attempt)
    days = defaultdict(list)
    for chunk in _chunks(debtor_ids):
        for debtor_id, task_id, at, zone in db.session.execute(
            select(Case.debtor_id, Visit.task_id, Visit.check_in_at, Debtor.timezone)
            .join(VisitTask, VisitTask.id == Visit.task_id)
            .join(Case, Case.id == VisitTask.case_id)
            .join(Debtor, Debtor.id == Case.debtor_id)
            .where(Case.debtor_id.in_(chunk))
        ):
            days[debtor_id].append((at.astimezone(ZoneInfo(zone)).date(), task_id, "visit"))
        for debtor_id, task_id, day, status in (
            ()
            if visits_only
            else db.session.execute(
                select(Case.debtor_id, VisitTask.id, VisitTask.visit_date, VisitTask.status)
                .join(Case, Case.id == VisitTask.case_id)
                .where(Case.debtor_id.in_(chunk), VisitTask.status.in_(COMMITTED))
            )
        ):
            days[debtor_id].append((day, task_id, status))
        for debtor_id, collector_id in db.session.execute(
            select(Complaint.debtor_id, Complaint.collector_id).where(
                Complaint.debtor_id.in_(chunk),
                Complaint.collector_id.is_not(None),
                Complaint.status.in_(OPEN_COMPLAINT),
            )
        ):
            facts.complaints.setdefault(debtor_id, set()).add(collector_id)
    facts.visit_days = dict(days)
    return facts


def _chunks(ids, size=900):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def day_refusals(
    case,
    crew,
    visit_date,
    facts,
    *,
    exclude_task_id=None,
    replanned_day=None,
    override_frequency=False,
    visits_only=False,
):
    """Why ``crew`` may not visit ``case``'s debtor on ``visit_date`` (empty: it may)."""
    profile = policy.current().for_team(case.team)
    debtor = case.debtor
    return rules.visit_refusals(
        profile,
        case_stage=case.stage,
        debtor_flags=debtor.flags,
        contact_attempts=facts.contacts.get(case.id, []),
        visit_date=visit_date,
        debtor_tz=debtor.timezone,
        availability=debtor.availability,
        visit_days=facts.days_for(
            debtor.id, exclude_task_id=exclude_task_id, replanned_day=replanned_day, visits_only=visits_only
        ),
        crew=crew,
        collectors_under_complaint=facts.complaints.get(debtor.id, set()),
        override_frequency=override_frequency,
    )


def refuse(refusals):
    """Raise the first refusal as a PolicyViolation that lists them all."""
    first = refusals[0]
    raise PolicyViolation(
        first.reason_en,
        rule_id=first.rule_id,
        profile_version=first.profile,
        details={"reason_zh": first.reason_zh, "rules": [d.as_dict() for d in refusals]},
    )


# ---------------------------------------------------------------- at the door


def lock_for_visit(task):
    """Lock the crew's and the debtor's rows (in that order, so two check-ins never wait on
    each other in a circle): two phones of one crew, or two crews at one debtor's door,
    check in one after the other, each seeing what the other did."""
    # The crew with its members and their trainings in one statement (only the crew row is
    # locked); then the case with its debtor and team read afresh in one, only the debtor's
    # row locked.
    crew = (
        db.session.scalars(
            select(Crew)
            .options(joinedload(Crew.members).joinedload(Collector.trainings))
            .where(Crew.id == task.crew_id)
            .with_for_update(of=Crew)
            .execution_options(populate_existing=True)
        )
        .unique()
        .one()
    )
    db.session.scalars(
        select(Case)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .options(contains_eager(Case.debtor), joinedload(Case.team).joinedload(Team.region))
        .where(Case.id == task.case_id)
        .with_for_update(of=Debtor)
        .execution_options(populate_existing=True)
    ).unique().one()
    return crew


def check_in_refusals(task, crew, collector, judged_at, lat, lon):
    """(refusals, flags) for a check-in at ``judged_at`` (the server's judgement of when it
    happened) at (lat, lon), against everything as it stands now."""
    case, debtor = task.case, task.case.debtor
    profile = policy.current().for_team(case.team)
    refusals = [d for d in [rules.collector_on_crew(profile, collector, task.crew_id)] if not d.allowed]
    if collector is not None and not collector.active:
        refusals += [
            d
            for d in rules.collector_blockers(profile, collector, task.visit_date)
            if d.rule_id.endswith(".collector_inactive")
        ]
    planned = rules.planned_day(profile, task.visit_date, debtor.timezone, judged_at)
    if not planned.allowed:
        refusals.append(planned)
    local_day = judged_at.astimezone(ZoneInfo(debtor.timezone)).date()
    facts = day_facts([case], visits_only=True)
    refusals += day_refusals(
        case,
        crew,
        local_day,
        facts,
        exclude_task_id=task.id,
        visits_only=True,
        override_frequency=bool((task.reason or {}).get("override_frequency")),
    )
    hours, hours_flag = rules.check_in_time(
        profile,
        debtor.timezone,
        judged_at,
        consent=debtor.flag("out_of_hours_consent"),
        availability=debtor.availability,
    )
    if not hours.allowed:
        refusals.append(hours)
    distance = geo.distance_m(lat, lon, debtor.lat, debtor.lon)
    places = [
        (p["kind"], geo.distance_m(lat, lon, p["lat"], p["lon"]))
        for p in debtor.places or []
        if p.get("lat") is not None and p.get("lon") is not None
    ]
    refusals += rules.check_in_where(profile, distance, places, debtor.flags)
    # The crew's visit still open today (one left open on an earlier day is flagged, not a lock).
    open_visit = db.session.scalar(
        select(VisitTask.id)
        .where(
            VisitTask.crew_id == task.crew_id,
            VisitTask.status == "checked_in",
            VisitTask.id != task.id,
            VisitTask.visit_date == task.visit_date,
        )
        .limit(1)
    )
    door = rules.one_visit_at_a_time(profile, crew.code, open_visit)
    if not door.allowed:
        refusals.append(door)
    return refusals, [f for f in [hours_flag] if f], distance


# ---------------------------------------------------------------- changes withdraw what they make unlawful


def _affected(where, *, from_day=None):
    """Tasks not yet started matching ``where`` (today and later in their debtor's zone)."""
    now = clock.now()
    # Today somewhere on earth starts at most 14 hours before UTC's; each task is then
    # measured against its own debtor's date below.
    earliest = (now - timedelta(hours=14)).date() if from_day is None else from_day
    tasks = db.session.scalars(
        select(VisitTask)
        .options(
            selectinload(VisitTask.case).selectinload(Case.debtor),
            selectinload(VisitTask.case).selectinload(Case.team).selectinload(Team.region),
            selectinload(VisitTask.crew).selectinload(Crew.members).selectinload(Collector.trainings),
        )
        .join(Case, Case.id == VisitTask.case_id)
        .where(VisitTask.status.in_(NOT_STARTED), VisitTask.visit_date >= earliest, *where)
        .order_by(VisitTask.id)
    ).all()
    return [t for t in tasks if t.visit_date >= clock.today(t.case.debtor.timezone)]


def withdraw_unlawful(*, debtor_ids=None, case_ids=None, crew_ids=None, team_ids=None, visit_date=None, cause):
    """Re-judge every task not yet started (today and later) of these debtors, cases, crews
    or teams against the day rules as they stand now; withdraw each the rules refuse,
    naming the rules. Returns the withdrawn tasks."""
    where = []
    if debtor_ids is not None:
        where.append(Case.debtor_id.in_(debtor_ids))
    if case_ids is not None:
        where.append(VisitTask.case_id.in_(case_ids))
    if crew_ids is not None:
        where.append(VisitTask.crew_id.in_(crew_ids))
    if team_ids is not None:
        where.append(Case.team_id.in_(team_ids))
    if visit_date is not None:
        where.append(VisitTask.visit_date == visit_date)
    tasks = _affected(where)
    if not tasks:
        return []
    facts = day_facts([t.case for t in tasks])
    withdrawn = []
    for task in tasks:
        refusals = day_refusals(
            task.case,
            task.crew,
            task.visit_date,
            facts,
            exclude_task_id=task.id,
            override_frequency=bool((task.reason or {}).get("override_frequency")),
        )
        if refusals:
            withdraw(task, refusals, cause)
            withdrawn.append(task)
            # Its day no longer holds a visit to this debtor: later tasks are judged without it.
            facts.visit_days[task.case.debtor_id] = [
                entry for entry in facts.visit_days.get(task.case.debtor_id, []) if entry[1] != task.id
            ]
    return withdrawn


def withdraw(task, refusals, cause):
    """Take a task not yet started off its crew's day, naming the rules that refuse it; the
    case stays in the planner's pool."""
    before = {"status": task.status, "crew_id": task.crew_id, "sequence": task.sequence}
    first = refusals[0]
    task.status, task.sequence = "withdrawn", None
    task.reason = {
        "reason": "withdrawn",
        "rule_id": first.rule_id,
        "profile": first.profile,
        "text": first.reason_en,
        "text_zh": first.reason_zh,
        "cause": cause,
        "rules": [d.as_dict() for d in refusals],
    }
    db.session.flush()
    if task.crew_id is not None:
        renumber(task.crew_id, task.visit_date)
    audit.record(
        "task.withdrawn",
        task,
        before=before,
        after={"status": "withdrawn", "crew_id": task.crew_id, "sequence": None},
        extra={"rule_ids": [d.rule_id for d in refusals], "cause": cause},
    )


def renumber(crew_id, visit_date):
    """Number a crew's stops of a day 1, 2, 3… in their order, without gaps."""
    remaining = db.session.scalars(
        select(VisitTask)
        .where(VisitTask.crew_id == crew_id, VisitTask.visit_date == visit_date, VisitTask.status.in_(COMMITTED))
        .order_by(VisitTask.sequence, VisitTask.id)
    ).all()
    for number, task in enumerate(remaining, start=1):
        if task.sequence != number:
            task.sequence = number
    db.session.flush()


def withdraw_past_days(team_ids=None):
    """A task whose day has ended in its debtor's zone without being started is withdrawn:
    the case goes back to the planner's pool, the reason names the planned-day rule."""
    now = clock.now()
    where = [VisitTask.status.in_(NOT_STARTED), VisitTask.visit_date <= (now + timedelta(hours=14)).date()]
    if team_ids is not None:
        where.append(Case.team_id.in_(team_ids))
    tasks = db.session.scalars(
        select(VisitTask)
        .options(
            selectinload(VisitTask.case).selectinload(Case.debtor),
            selectinload(VisitTask.case).selectinload(Case.team).selectinload(Team.region),
        )
        .join(Case, Case.id == VisitTask.case_id)
        .where(*where)
        .order_by(VisitTask.id)
    ).all()
    withdrawn = []
    for task in tasks:
        debtor = task.case.debtor
        if task.visit_date >= clock.today(debtor.timezone):
            continue
        profile = policy.current().for_team(task.case.team)
        withdraw(task, [rules.planned_day(profile, task.visit_date, debtor.timezone, now)], "day_ended")
        withdrawn.append(task)
    return withdrawn


def sweep(team_ids=None):
    """The daily re-check: past days' unstarted tasks withdrawn, then every task of today
    and later judged again (a training that expired overnight, a profile that changed)."""
    past = withdraw_past_days(team_ids)
    unlawful = (
        withdraw_unlawful(team_ids=team_ids, cause="daily_check")
        if team_ids is not None
        else withdraw_unlawful(cause="daily_check")
    )
    return {"withdrawn_past_day": len(past), "withdrawn_unlawful": len(unlawful)}
