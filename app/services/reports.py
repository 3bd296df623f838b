"""The portfolio report: how collection is going, for a period, grouped one way.

Every figure is an SQL aggregate over the source rows (ledger, agreements, contact
attempts, visits and their tasks, conduct flags, complaints, DPD marks); Python only
shapes the few grouped rows that come back. Each source is read within the period by
its own time column, through a small calendar of windows: a day of the period starts at
midnight in the team's region's time zone, so a window is one (time zone, slot) row with
its UTC bounds and its first and last local dates, and day and week groupings are exact
across time zones and daylight-saving changes.

Money stays per currency: amounts in integer minor units, never summed across currencies.
The figures are defined, one line each, in docs/reports.md.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, String, and_, case, func, literal, select, text, union_all

from app import authz
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.models import (
    Case,
    CaseDpdMark,
    Collector,
    Complaint,
    ConductFlag,
    ContactAttempt,
    Crew,
    LedgerEntry,
    Region,
    RepaymentAgreement,
    Team,
    UTCDateTime,
    Visit,
    VisitTask,
)
from app.policy.strategy import CURRENT, default_strategy

GROUPS = ("team", "crew", "collector", "region", "dpd_bucket", "day", "week")
TIME_GROUPS = ("day", "week")
MAX_DAYS = 366
MAX_DAYS_BY_DAY = 92  # one group per day: a quarter at most
NEW = "new"  # the bucket of a case whose DPD was not yet known when the period began
NONE = "none"  # a row with nothing to group it by (a flag about no case, a promise made off a visit)
ALL = "all"
# An agreement counts as a promise made once it was in force (not refused, not waiting).
MADE = ("active", "kept", "broken", "cancelled")
WORKING_TASKS = ("assigned", "checked_in", "done")
# Which groupings each family of figures can be split by: money and remote contact belong
# to cases, not to the crew or collector who happened to visit them.
CASE_GROUPS = ("team", "region", "dpd_bucket", "day", "week")
SUPPORTS = {
    "recovered": CASE_GROUPS,
    "book": ("team", "region", "dpd_bucket"),  # outstanding at the start, and roll rates
    "outstanding": ("team", "region", "dpd_bucket"),
    "promises": GROUPS,
    "remote": CASE_GROUPS,
    "visits": GROUPS,  # with the outcome mix
    "crew_days": ("team", "crew", "region", "dpd_bucket", "day", "week"),
    "flags": GROUPS,
    "complaints": GROUPS,
    "rolls": ("team", "region", "dpd_bucket"),
}


@dataclass(frozen=True)
class Scope:
    team_ids: frozenset | None  # None: every team


def resolve_scope(user, team_code=None, region_code=None):
    """The teams a report covers: the caller's, narrowed to one team or region.

    A supervisor asking for a team or region that is not wholly theirs is refused (403),
    and an unknown code gets the same answer, so codes outside their scope do not leak."""
    visible = authz.visible_team_ids(user)
    ids = None if visible is None else frozenset(visible)
    if team_code is not None:
        team = db.session.scalars(select(Team).where(Team.code == team_code)).one_or_none()
        if visible is not None and (team is None or team.id not in visible):
            raise Forbidden("That team is not one of yours.", fields={"team": ["not one of your teams"]})
        if team is None:
            raise ValidationFailed(f"No team with code {team_code!r}.", fields={"team": ["does not exist"]})
        ids = frozenset({team.id})
    if region_code is not None:
        region = db.session.scalars(select(Region).where(Region.code == region_code)).one_or_none()
        region_teams = (
            frozenset(db.session.scalars(select(Team.id).where(Team.region_id == region.id)))
            if region is not None
            else frozenset()
        )
        if visible is not None and (region is None or not region_teams <= visible):
            raise Forbidden("That region is not wholly yours.", fields={"region": ["not one of your regions"]})
        if region is None:
            raise ValidationFailed(f"No region with code {region_code!r}.", fields={"region": ["does not exist"]})
        ids = region_teams if ids is None else ids & region_teams
    return Scope(ids)


def check_period(start, end, group_by):
    if end < start:
        raise ValidationFailed("The period ends before it starts.", fields={"to": ["must not be before from"]})
    longest = MAX_DAYS_BY_DAY if group_by == "day" else MAX_DAYS
    if (end - start).days + 1 > longest:
        raise ValidationFailed(
            f"The period is too long: at most {longest} days" + (" when grouped by day." if group_by == "day" else "."),
            fields={"to": [f"at most {longest} days after from"]},
        )


# ---------------------------------------------------------------- the calendar


def _slots(start, end, group_by):
    """(key, first day, last day) of each group of a time grouping; one slot otherwise."""
    if group_by == "day":
        return [(d.isoformat(), d, d) for d in (start + timedelta(n) for n in range((end - start).days + 1))]
    if group_by == "week":
        out, monday = [], start - timedelta(days=start.weekday())
        while monday <= end:
            out.append((monday.isoformat(), max(monday, start), min(monday + timedelta(6), end)))
            monday += timedelta(7)
        return out
    return [("", start, end)]


def _calendar(zones, slots, name):
    """A CTE of windows: (tz, key, start_at, end_at, first_day, last_day), one per time zone and slot."""
    selects = []
    for zone in sorted(zones):
        tz = ZoneInfo(zone)
        for key, first, last in slots:
            selects.append(
                select(
                    literal(zone, String()).label("tz"),
                    literal(key, String()).label("key"),
                    literal(datetime.combine(first, time(0), tz), UTCDateTime()).label("start_at"),
                    literal(datetime.combine(last + timedelta(1), time(0), tz), UTCDateTime()).label("end_at"),
                    literal(first, Date()).label("first_day"),
                    literal(last, Date()).label("last_day"),
                )
            )
    query = selects[0] if len(selects) == 1 else union_all(*selects)
    return query.cte(name)


def _bounds(zones, start, end):
    """The widest UTC bounds of the period over the scope's time zones (for the indexes)."""
    starts = [datetime.combine(start, time(0), ZoneInfo(z)) for z in zones]
    ends = [datetime.combine(end + timedelta(1), time(0), ZoneInfo(z)) for z in zones]
    return min(starts), max(ends)


# ---------------------------------------------------------------- building blocks


def _dpd_at(case_id, moment):
    """The case's DPD as its latest mark before ``moment`` (NULL: not yet known)."""
    return (
        select(CaseDpdMark.days_past_due)
        .where(CaseDpdMark.case_id == case_id, CaseDpdMark.at < moment)
        .order_by(CaseDpdMark.at.desc(), CaseDpdMark.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def bucket_of(dpd):
    """A DPD column as the strategy's bucket id; NULL is "new", -1 (no case) is "none"."""
    strategy = default_strategy()
    whens = [(dpd.is_(None), NEW), (dpd < 0, NONE), (dpd == 0, CURRENT)]
    for b in strategy.buckets:
        whens.append((dpd <= b.max_dpd if b.max_dpd is not None else dpd >= b.min_dpd, b.id))
    return case(*whens, else_=CURRENT)


def _door_seconds(dialect):
    if dialect == "postgresql":
        return func.extract("epoch", Visit.check_out_at - Visit.check_in_at)
    return (func.julianday(Visit.check_out_at) - func.julianday(Visit.check_in_at)) * 86400.0


class _Query:
    """The pieces every family shares for one report run: scope, windows, the group key."""

    def __init__(self, scope, start, end, zones, group_by):
        self.scope, self.group_by = scope, group_by
        self.dialect = db.session.get_bind().dialect.name
        self.period = _calendar(zones, _slots(start, end, None), "period")
        self.slots = _calendar(zones, _slots(start, end, group_by), "slots") if group_by in TIME_GROUPS else self.period
        self.lo, self.hi = _bounds(zones, start, end)
        self.first, self.last = start, end

    def rows(self, stmt, name):
        """A family's rows before grouping. Grouping by bucket, each row's key is a lookup of
        its case's DPD: the rows are materialised on PostgreSQL, so the lookup runs once a row
        and not once for each branch of the bucket's CASE."""
        if self.group_by == "dpd_bucket":
            return stmt.cte(name).prefix_with("MATERIALIZED", dialect="postgresql")
        return stmt.subquery(name)

    def teams(self, team_col):
        return True if self.scope.team_ids is None else team_col.in_(sorted(self.scope.team_ids))

    def case_key(self, case_id, cal, crew=None, collector=None):
        """The raw group key of a row about ``case_id`` (a DPD for dpd_bucket, mapped later)."""
        g = self.group_by
        if g is None:
            return literal(ALL, String())
        if g == "team":
            return Team.id
        if g == "region":
            return Team.region_id
        if g in TIME_GROUPS:
            return cal.c.key
        if g == "crew":
            return crew
        if g == "collector":
            return collector
        if g == "dpd_bucket":
            return case((case_id.is_(None), -1), else_=_dpd_at(case_id, self.period.c.start_at))
        raise ValueError(g)

    def outer_key(self, raw):
        return bucket_of(raw) if self.group_by == "dpd_bucket" else raw

    def joins(self, stmt, team_id, cal):
        """Join the team, its region and the calendar windows of its time zone."""
        stmt = stmt.join(Team, Team.id == team_id).join(Region, Region.id == Team.region_id)
        stmt = stmt.join(cal, cal.c.tz == Region.timezone)
        # The scope's teams named on the row's own team column too: the planner then reads
        # only their cases (ix_cases_team_book) instead of every case joined to the teams.
        return stmt.where(self.teams(Team.id), self.teams(team_id))

    def in_window(self, column, cal):
        return and_(column >= cal.c.start_at, column < cal.c.end_at, column >= self.lo, column < self.hi)


# ---------------------------------------------------------------- families of figures


def _recovered(q):
    k = q.case_key(Case.id, q.slots).label("k")
    inner = q.joins(
        select(k, LedgerEntry.currency.label("currency"), LedgerEntry.amount_minor.label("amount"))
        .select_from(LedgerEntry)
        .join(Case, Case.id == LedgerEntry.case_id),
        Case.team_id,
        q.slots,
    )
    inner = q.rows(inner.where(LedgerEntry.kind == "payment", q.in_window(LedgerEntry.created_at, q.slots)), "paid")
    key = q.outer_key(inner.c.k)
    rows = db.session.execute(
        select(key, inner.c.currency, func.count(), func.sum(inner.c.amount)).group_by(key, inner.c.currency)
    )
    out = defaultdict(dict)
    for key_, currency, count, total in rows:
        out[key_][currency] = {"payments": count, "recovered_minor": int(total)}
    return out


def _book(q):
    """The cases in scope, in one pass: what each owed when the period began (today's balance
    less every ledger movement since; nothing for a case created later), and its DPD bucket
    then and at the period's end. Returns (outstanding by group and currency, rolls by group).

    Each case is read through indexes alone: its ledger movements since the start and its
    latest DPD mark before the end are index probes of that case (ix_ledger_entries_case_created_delta,
    ix_case_dpd_marks_case_at_dpd). Its DPD at the start is the same mark unless the case has a mark
    inside the period (few do: a mark is a bucket change), found in one range read of the marks
    by time; only those cases are probed a second time."""
    p = q.period
    moved = (
        select(func.sum(LedgerEntry.delta_minor))
        .where(LedgerEntry.case_id == Case.id, LedgerEntry.created_at >= p.c.start_at)
        .scalar_subquery()
    )
    owed = case(
        (Case.created_at < p.c.start_at, Case.outstanding_minor - Case.credit_minor - func.coalesce(moved, 0)),
        else_=None,
    )
    # Cases with a mark inside the widest bounds of the period (a superset of those with one
    # inside their own time zone's period): their DPD at the start may differ from the end's.
    changed = (
        select(CaseDpdMark.case_id.label("case_id"))
        .where(CaseDpdMark.at >= q.lo, CaseDpdMark.at < q.hi)
        .distinct()
        .subquery("changed")
    )
    g = q.group_by
    key = Team.id if g == "team" else Team.region_id if g == "region" else literal(ALL, String())
    ends = q.joins(
        select(
            key.label("k"),
            Case.id.label("case_id"),
            Case.currency.label("currency"),
            p.c.start_at.label("start_at"),
            owed.label("owed"),
            _dpd_at(Case.id, p.c.end_at).label("d1"),
            changed.c.case_id.label("changed"),
        ).select_from(Case),
        Case.team_id,
        p,
    ).outerjoin(changed, changed.c.case_id == Case.id)
    # Materialised on PostgreSQL: each case's lookups run once, not once per CASE branch.
    ends = ends.cte("book_ends").prefix_with("MATERIALIZED", dialect="postgresql")
    d0 = case((ends.c.changed.is_(None), ends.c.d1), else_=_dpd_at(ends.c.case_id, ends.c.start_at))
    inner = (
        select(ends.c.k, ends.c.currency, ends.c.owed, d0.label("d0"), ends.c.d1)
        .cte("book")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    b0, b1 = bucket_of(inner.c.d0), bucket_of(inner.c.d1)
    outer_key = b0 if g == "dpd_bucket" else inner.c.k
    positive = case((inner.c.owed > 0, inner.c.owed), (inner.c.owed.is_(None), None), else_=0)
    rows = db.session.execute(
        select(outer_key, inner.c.currency, b0, b1, func.sum(positive), func.count()).group_by(
            outer_key, inner.c.currency, b0, b1
        )
    )
    outstanding, rolls = defaultdict(dict), defaultdict(dict)
    for key_, currency, start, end, total, n in rows:
        if total is not None:
            outstanding[key_][currency] = outstanding[key_].get(currency, 0) + int(total)
        if start != NEW:  # known when the period began
            rolls[key_][(start, end)] = rolls[key_].get((start, end), 0) + n
    return outstanding, rolls


def _promises(q):
    k = q.case_key(Case.id, q.slots, crew=Visit.crew_id, collector=Visit.collector_id).label("k")
    inner = q.joins(
        select(k, RepaymentAgreement.status.label("status"))
        .select_from(RepaymentAgreement)
        .join(Case, Case.id == RepaymentAgreement.case_id)
        .outerjoin(Visit, Visit.id == RepaymentAgreement.visit_id),
        Case.team_id,
        q.slots,
    )
    inner = inner.where(RepaymentAgreement.status.in_(MADE), q.in_window(RepaymentAgreement.created_at, q.slots))
    inner = q.rows(inner, "made")
    key = q.outer_key(inner.c.k)
    rows = db.session.execute(
        select(
            key,
            func.count(),
            func.sum(case((inner.c.status == "kept", 1), else_=0)),
            func.sum(case((inner.c.status == "broken", 1), else_=0)),
        ).group_by(key)
    )
    return {
        key_: {"promises_made": made, "promises_kept": int(kept), "promises_broken": int(broken)}
        for key_, made, kept, broken in rows
    }


def _remote(q):
    k = q.case_key(Case.id, q.slots).label("k")
    inner = q.joins(
        select(k, ContactAttempt.result.label("result"))
        .select_from(ContactAttempt)
        .join(Case, Case.id == ContactAttempt.case_id),
        Case.team_id,
        q.slots,
    )
    inner = inner.where(
        ContactAttempt.channel != "in_person",
        ContactAttempt.purpose == "contact",
        q.in_window(ContactAttempt.occurred_at, q.slots),
    )
    inner = q.rows(inner, "tried")
    key = q.outer_key(inner.c.k)
    rows = db.session.execute(
        select(key, func.count(), func.sum(case((inner.c.result == "reached", 1), else_=0))).group_by(key)
    )
    return {key_: {"remote_attempts": n, "remote_debtor_met": int(met)} for key_, n, met in rows}


def _visits(q):
    """Visits by group and outcome, in one statement: the outcome mix, and summed over the
    outcomes, the visits, the debtors met and the time at the door."""
    k = q.case_key(Case.id, q.slots, crew=Visit.crew_id, collector=Visit.collector_id).label("k")
    seconds = case((Visit.check_out_at.is_not(None), _door_seconds(q.dialect)), else_=None).label("seconds")
    inner = q.joins(
        select(k, Visit.person_met.label("met"), func.coalesce(Visit.outcome, NONE).label("outcome"), seconds)
        .select_from(Visit)
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .join(Case, Case.id == VisitTask.case_id),
        Case.team_id,
        q.slots,
    )
    inner = q.rows(
        inner.where(
            VisitTask.visit_date >= q.slots.c.first_day,
            VisitTask.visit_date <= q.slots.c.last_day,
            VisitTask.visit_date >= q.first,
            VisitTask.visit_date <= q.last,
        ),
        "visited",
    )
    key = q.outer_key(inner.c.k)
    rows = db.session.execute(
        select(
            key,
            inner.c.outcome,
            func.count(),
            func.sum(case((inner.c.met == "debtor", 1), else_=0)),
            func.count(inner.c.seconds),
            func.sum(inner.c.seconds),
        ).group_by(key, inner.c.outcome)
    )
    visits, outcomes = {}, defaultdict(dict)
    for key_, outcome, n, met, timed, total in rows:
        v = visits.setdefault(key_, {"visits": 0, "visits_debtor_met": 0, "door_visits_timed": 0, "door_seconds": 0.0})
        v["visits"] += n
        v["visits_debtor_met"] += int(met)
        v["door_visits_timed"] += timed
        v["door_seconds"] += float(total or 0)
        outcomes[key_][outcome] = n
    return visits, outcomes


def _crew_days(q):
    k = q.case_key(Case.id, q.slots, crew=VisitTask.crew_id).label("k")
    inner = q.joins(
        select(k, VisitTask.crew_id.label("crew_id"), VisitTask.visit_date.label("day"))
        .select_from(VisitTask)
        .join(Case, Case.id == VisitTask.case_id),
        Case.team_id,
        q.slots,
    )
    inner = inner.where(
        VisitTask.crew_id.is_not(None),
        VisitTask.status.in_(WORKING_TASKS),
        VisitTask.visit_date >= q.slots.c.first_day,
        VisitTask.visit_date <= q.slots.c.last_day,
        VisitTask.visit_date >= q.first,
        VisitTask.visit_date <= q.last,
    )
    inner = q.rows(inner, "worked")
    distinct = select(q.outer_key(inner.c.k).label("k"), inner.c.crew_id, inner.c.day).distinct().subquery()
    return {key_: n for key_, n in db.session.execute(select(distinct.c.k, func.count()).group_by(distinct.c.k))}


def _about_team(model):
    """A flag's or complaint's team: its case's, else its collector's."""
    return func.coalesce(Case.team_id, Collector.team_id)


def _flags(q):
    k = q.case_key(
        ConductFlag.case_id,
        q.slots,
        crew=func.coalesce(ConductFlag.crew_id, Collector.crew_id),
        collector=ConductFlag.collector_id,
    ).label("k")
    inner = q.joins(
        select(k, ConductFlag.rule_id.label("rule_id"))
        .select_from(ConductFlag)
        .outerjoin(Case, Case.id == ConductFlag.case_id)
        .outerjoin(Collector, Collector.id == ConductFlag.collector_id),
        _about_team(ConductFlag),
        q.slots,
    )
    inner = q.rows(inner.where(q.in_window(ConductFlag.raised_at, q.slots)), "flagged")
    key = q.outer_key(inner.c.k)
    out = defaultdict(dict)
    for key_, rule, n in db.session.execute(select(key, inner.c.rule_id, func.count()).group_by(key, inner.c.rule_id)):
        out[key_][rule] = n
    return out


def _complaints(q):
    k = q.case_key(Complaint.case_id, q.slots, crew=Collector.crew_id, collector=Complaint.collector_id).label("k")
    inner = q.joins(
        select(k)
        .select_from(Complaint)
        .outerjoin(Case, Case.id == Complaint.case_id)
        .outerjoin(Collector, Collector.id == Complaint.collector_id),
        _about_team(Complaint),
        q.slots,
    )
    inner = q.rows(inner.where(q.in_window(Complaint.received_at, q.slots)), "complained")
    key = q.outer_key(inner.c.k)
    return {key_: n for key_, n in db.session.execute(select(key, func.count()).group_by(key))}


# ---------------------------------------------------------------- the report


def _ratio(numerator, denominator, scale=1, places=4):
    if not denominator:
        return None
    return round(numerator * scale / denominator, places)


FAMILIES = {
    "recovered": _recovered,
    "book": _book,
    "promises": _promises,
    "remote": _remote,
    "crew_days": _crew_days,
    "flags": _flags,
    "complaints": _complaints,
    "visits": _visits,
}
PAIRS = {"book": ("outstanding", "rolls"), "visits": ("visits", "outcomes")}
NOT_ADDITIVE = ("crew_days",)  # a crew-day may hold tasks of two groups
COUNTED = ("complaints", "crew_days")  # families whose groups hold a number, not a dict


def _sum(values):
    """The sum of a family's groups: numbers added, nested dicts added key by key."""
    total = {}
    for value in values:
        for k, v in value.items():
            if isinstance(v, dict):
                total[k] = _sum([total.get(k, {}), v])
            else:
                total[k] = total.get(k, 0) + v
    return total


def _run(scope, start, end, zones, group_by):
    """Each family's grouped rows, and the totals: summed from the groups where every row is
    in exactly one group (no second pass over the rows), queried again where not."""
    q = _Query(scope, start, end, zones, group_by)
    grouped = {name: run(q) for name, run in FAMILIES.items() if group_by in SUPPORTS[name]}
    for pair, (first, second) in PAIRS.items():  # two families from one statement
        if pair in grouped:
            grouped[first], grouped[second] = grouped.pop(pair)
    totals = {
        name: {ALL: sum(rows.values()) if name in COUNTED else _sum(list(rows.values()))}
        for name, rows in grouped.items()
        if name not in NOT_ADDITIVE
    }
    rest = [name for name in FAMILIES if PAIRS.get(name, (name,))[0] not in totals]
    if rest:
        q_all = _Query(scope, start, end, zones, None)
        for name in rest:
            found = FAMILIES[name](q_all)
            if name in PAIRS:
                totals[PAIRS[name][0]], totals[PAIRS[name][1]] = found
            else:
                totals[name] = found
    return grouped, totals


def _figures(fam, key, group_by, outstanding_key=None):
    """One group's figures from the families' grouped rows; None where a family does not apply."""
    g = group_by or "team"

    def has(name):
        return name in fam and (group_by is None or g in SUPPORTS[name])

    visits = fam["visits"].get(key, {})
    n_visits = visits.get("visits", 0)
    row = {"key": key}
    if has("recovered"):
        recovered = fam["recovered"].get(key, {})
        outstanding = (
            fam["outstanding"].get(outstanding_key if outstanding_key is not None else key, {})
            if "outstanding" in fam
            else {}
        )
        money = []
        for currency in sorted(set(recovered) | set(outstanding)):
            got = recovered.get(currency, {"payments": 0, "recovered_minor": 0})
            owed = outstanding.get(currency) if "outstanding" in fam else None
            money.append(
                {
                    "currency": currency,
                    "payments": got["payments"],
                    "recovered_minor": got["recovered_minor"],
                    "outstanding_at_start_minor": owed,
                    "recovery_rate": _ratio(got["recovered_minor"], owed) if owed is not None else None,
                }
            )
        row["money"] = money
    else:
        row["money"] = None
    if has("promises"):
        p = {"promises_made": 0, "promises_kept": 0, "promises_broken": 0, **fam["promises"].get(key, {})}
        row.update(p, promise_kept_rate=_ratio(p["promises_kept"], p["promises_kept"] + p["promises_broken"]))
    else:
        row.update(promises_made=None, promises_kept=None, promises_broken=None, promise_kept_rate=None)
    if has("remote"):
        r = {"remote_attempts": 0, "remote_debtor_met": 0, **fam["remote"].get(key, {})}
        row.update(r, remote_contact_rate=_ratio(r["remote_debtor_met"], r["remote_attempts"]))
    else:
        row.update(remote_attempts=None, remote_debtor_met=None, remote_contact_rate=None)
    met = visits.get("visits_debtor_met", 0)
    row.update(visits=n_visits, visits_debtor_met=met, field_contact_rate=_ratio(met, n_visits))
    if has("crew_days"):
        days = fam["crew_days"].get(key, 0)
        row.update(crew_days=days, visits_per_crew_day=_ratio(n_visits, days, places=2))
    else:
        row.update(crew_days=None, visits_per_crew_day=None)
    row["outcomes"] = [{"key": k, "count": n} for k, n in sorted(fam["outcomes"].get(key, {}).items())]
    timed = visits.get("door_visits_timed", 0)
    row.update(
        door_visits_timed=timed, door_minutes_avg=round(visits["door_seconds"] / 60 / timed, 1) if timed else None
    )
    rules = fam["flags"].get(key, {})
    total_flags = sum(rules.values())
    row.update(
        flags=total_flags,
        flags_per_100_visits=_ratio(total_flags, n_visits, 100, 2),
        flags_by_rule=[
            {"key": r, "count": n, "per_100_visits": _ratio(n, n_visits, 100, 2)} for r, n in sorted(rules.items())
        ],
    )
    row["complaints"] = fam["complaints"].get(key, 0)
    if has("rolls"):
        rolls = fam["rolls"].get(key, {})
        from_totals = defaultdict(int)
        for (b0, _b1), n in rolls.items():
            from_totals[b0] += n
        order = {b: i for i, b in enumerate((*default_strategy().bucket_ids, NEW, NONE))}
        row["roll_rates"] = [
            {"from_bucket": b0, "to_bucket": b1, "cases": n, "rate": _ratio(n, from_totals[b0])}
            for (b0, b1), n in sorted(rolls.items(), key=lambda i: (order[i[0][0]], order[i[0][1]]))
        ]
    else:
        row["roll_rates"] = None
    return row


def _labels(group_by, keys, scope):
    """(key text, label) for each group, in display order; every team/region/bucket/slot is
    listed even when empty, crews and collectors only when they have rows."""
    if group_by in ("team", "region"):
        model = Team if group_by == "team" else Region
        stmt = select(model.id, model.code, model.name)
        if scope.team_ids is not None:
            stmt = stmt.where(
                (Team.id if model is Team else Region.id).in_(
                    sorted(scope.team_ids)
                    if model is Team
                    else select(Team.region_id).where(Team.id.in_(sorted(scope.team_ids)))
                )
            )
        return [(i, code, name) for i, code, name in db.session.execute(stmt.order_by(model.code))]
    if group_by in ("crew", "collector"):
        model = Crew if group_by == "crew" else Collector
        ids = sorted(k for k in keys if k is not None)
        found = {
            i: (code, name)
            for i, code, name in db.session.execute(select(model.id, model.code, model.name).where(model.id.in_(ids)))
        }
        rows = sorted(((i, *found[i]) for i in ids if i in found), key=lambda r: r[1])
        return rows + ([(None, NONE, "")] if None in keys else [])
    if group_by == "dpd_bucket":
        ids = (*default_strategy().bucket_ids, NEW, NONE)
        return [(b, b, b) for b in ids if b in keys or b in default_strategy().bucket_ids]
    raise ValueError(group_by)


def portfolio(user, start, end, group_by="team", team_code=None, region_code=None):
    """The portfolio report for ``user``'s scope (narrowed to a team or region)."""
    check_period(start, end, group_by)
    return report_for(resolve_scope(user, team_code, region_code), start, end, group_by)


def report_for(scope, start, end, group_by):
    """The portfolio report over ``scope``'s teams (the weekly job asks for one team's)."""
    zones_stmt = select(Region.timezone).join(Team, Team.region_id == Region.id).distinct()
    if scope.team_ids is not None:
        zones_stmt = zones_stmt.where(Team.id.in_(sorted(scope.team_ids)))
    zones = set(db.session.scalars(zones_stmt)) or {"UTC"}
    if db.session.get_bind().dialect.name == "postgresql":
        # These statements are estimated costly enough for PostgreSQL to compile them to machine
        # code (JIT), which took seconds where running them takes milliseconds.
        db.session.execute(text("SET LOCAL jit = off"))
    strategy = default_strategy()
    result = {
        "from": start,
        "to": end,
        "group_by": group_by,
        "strategy": f"{strategy.id}@{strategy.version}",
        "buckets": list(strategy.bucket_ids),
        "groups": [],
        "totals": None,
    }
    if scope.team_ids is not None and not scope.team_ids:
        fam = {"visits": {}, "outcomes": {}, "flags": {}, "complaints": {}}
        result["totals"] = _figures(fam, ALL, None)
        return result
    grouped, totals = _run(scope, start, end, zones, group_by)
    result["totals"] = _figures(totals, ALL, None)
    if group_by in TIME_GROUPS:
        # The denominator of each slot's recovery rate: what was outstanding when the period began.
        grouped["outstanding"] = totals["outstanding"]
        for key, _first, _last in _slots(start, end, group_by):
            row = _figures(grouped, key, group_by, outstanding_key=ALL)
            row["label"] = key
            result["groups"].append(row)
        return result
    keys = set()
    for family in grouped.values():
        keys |= set(family)
    for raw, code, label in _labels(group_by, keys, scope):
        row = _figures(grouped, raw, group_by)
        row["key"], row["label"] = code, label
        result["groups"].append(row)
    return result
