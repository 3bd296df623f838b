"""The portfolio report against a naive recomputation: a random book (seeded) over two time
zones, one of them changing to summer time inside the period; every figure of every
grouping worked out in plain Python from the rows and compared with the API's answer."""
import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

UTC = timezone.utc
FROM, TO = date(2026, 3, 20), date(2026, 4, 5)  # London moves to summer time on 29 March
SPAN = (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC))
MADE = ("active", "kept", "broken", "cancelled")
STATUSES = MADE + ("pending_approval", "rejected")
WORKING = ("assigned", "checked_in", "done")
OUTCOMES = ("met_debtor", "promise_to_pay", "not_home", "refused", None)
GROUPS = ("team", "crew", "collector", "region", "dpd_bucket", "day", "week")


def _moment(rng):
    start, end = SPAN
    return start + timedelta(minutes=rng.randrange(int((end - start).total_seconds() // 60)))


@pytest.fixture(scope="module")
def book(module_make, app):
    from app.extensions import db
    from app.models import (
        Case,
        Complaint,
        ConductFlag,
        ContactAttempt,
        LedgerEntry,
        RepaymentAgreement,
        Visit,
        VisitTask,
    )

    rng = random.Random(20)
    make = module_make
    clock = app.config["CLOCK"]
    regions = [make.region(code="SHA", timezone_name="Asia/Shanghai"),
               make.region(code="LON", timezone_name="Europe/London")]
    teams = [make.team(code=f"RT{i}", region=regions[i % 2]) for i in range(3)]
    crews, collectors = [], []
    for team in teams:
        for _ in range(2):
            crew = make.crew(team=team, members=2)
            crews.append((crew, team))
    with app.app_context():
        from app.models import Collector

        for c in db.session.scalars(db.select(Collector)).all():
            collectors.append((c.id, c.crew_id, c.team_id))
    cases = []
    for n in range(40):
        team = rng.choice(teams)
        created = _moment(rng) - timedelta(days=10)
        clock.set(created)
        case = make.case(team=team, currency=rng.choice(("CNY", "CNY", "GBP")), days_past_due=rng.randrange(0, 90),
                         outstanding_minor=rng.randrange(0, 500_000), credit_minor=rng.choice((0, 0, 500)),
                         created_at=created)
        cases.append(case)
    with app.app_context():  # DPD moves over the period, through the ORM as the services do
        for _ in range(40):
            clock.set(_moment(rng))
            case = db.session.get(Case, rng.choice(cases).id)
            case.days_past_due = rng.randrange(0, 120)
            db.session.commit()
        db.session.expunge_all()
    rows = []
    for _ in range(60):
        case = rng.choice(cases)
        amount = rng.randrange(1, 50_000)
        kind = rng.choice(("payment", "payment", "waiver", "principal"))
        sign = 1 if kind == "principal" else -1
        rows.append(LedgerEntry(case_id=case.id, kind=kind, amount_minor=amount, delta_minor=sign * amount,
                                balance_minor=0, currency=case.currency, source="test", created_at=_moment(rng)))
    for n in range(25):
        case = rng.choice(cases)
        rows.append(ContactAttempt(case_id=case.id, channel=rng.choice(("call", "sms", "in_person")),
                                   purpose=rng.choice(("contact", "contact", "overdue_notice")),
                                   result=rng.choice(("reached", "no_answer")), occurred_at=_moment(rng)))
    make._save(*rows)
    visits = []
    used = set()
    for n in range(50):
        case = rng.choice(cases)
        day = FROM + timedelta(days=rng.randrange(-5, 25))
        if (case.id, day) in used:
            continue
        used.add((case.id, day))
        crew, _team = rng.choice(crews)
        status = rng.choice(("open", "assigned", "done", "done", "cancelled", "checked_in"))
        task = make._save(VisitTask(case_id=case.id, visit_date=day, status=status,
                                    crew_id=None if status in ("open", "cancelled") else crew.id, priority=5))
        if status in ("done", "checked_in"):
            member = rng.choice([c for c in collectors if c[1] == crew.id])
            start = datetime.combine(day, time(10), UTC) + timedelta(minutes=rng.randrange(600))
            visits.append(make._save(Visit(
                task_id=task.id, crew_id=crew.id, collector_id=member[0], check_in_at=start,
                check_out_at=start + timedelta(minutes=rng.randrange(1, 90)) if status == "done" else None,
                check_in_lat=31.2, check_in_lon=121.4, outcome=rng.choice(OUTCOMES),
                person_met=rng.choice(("debtor", "nobody", "spouse")))))
    rows = []
    for n in range(25):
        case = rng.choice(cases)
        visit = rng.choice(visits + [None, None])
        rows.append(RepaymentAgreement(case_id=case.id, visit_id=visit.id if visit else None, kind="promise",
                                       status=rng.choice(STATUSES), currency=case.currency, total_minor=100,
                                       owed_minor=100, created_at=_moment(rng)))
    for n in range(20):
        case = rng.choice(cases + [None])
        collector = rng.choice(collectors + [None]) if case else rng.choice(collectors)
        rows.append(ConductFlag(kind="k", rule_id=rng.choice(("cn.hours", "cn.two_person", "cn.geofence")),
                                profile_version="cn@2026.1", case_id=case.id if case else None,
                                collector_id=collector[0] if collector else None,
                                crew_id=collector[1] if collector and rng.random() < 0.5 else None,
                                raised_at=_moment(rng)))
        rows.append(Complaint(case_id=case.id if case else None, collector_id=collector[0] if collector else None,
                              channel="phone", category="c", text="x", received_at=_moment(rng)))
    make._save(*rows)
    from tests.conftest import TEST_NOW

    clock.set(TEST_NOW)
    return {"headers": make.token(make.user("auditor"))}


def _load_rows(app):
    """Every row the report reads, as plain tuples."""
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
        Visit,
        VisitTask,
    )

    with app.app_context():
        def all_of(model):
            return db.session.scalars(db.select(model)).all()

        data = {name: all_of(model) for name, model in (
            ("cases", Case), ("marks", CaseDpdMark), ("collectors", Collector), ("complaints", Complaint),
            ("flags", ConductFlag), ("contacts", ContactAttempt), ("crews", Crew), ("ledger", LedgerEntry),
            ("regions", Region), ("agreements", RepaymentAgreement), ("teams", Team), ("visits", Visit),
            ("tasks", VisitTask))}
        db.session.expunge_all()
    return data


def _naive(data, group_by):
    """The report's figures, computed row by row in Python from their definitions."""
    from app.policy.strategy import default_strategy

    strategy = default_strategy()
    teams = {t.id: t for t in data["teams"]}
    zone = {r.id: ZoneInfo(r.timezone) for r in data["regions"]}
    cases = {c.id: c for c in data["cases"]}
    collectors = {c.id: c for c in data["collectors"]}
    crews = {c.id: c for c in data["crews"]}
    regions = {r.id: r for r in data["regions"]}
    tasks = {t.id: t for t in data["tasks"]}
    visits = {v.id: v for v in data["visits"]}

    def tz_of(team_id):
        return zone[teams[team_id].region_id]

    def start_of(team_id):
        return datetime.combine(FROM, time(0), tz_of(team_id))

    def end_of(team_id):
        return datetime.combine(TO + timedelta(1), time(0), tz_of(team_id))

    def local_day(moment, team_id):
        day = moment.astimezone(tz_of(team_id)).date()
        return day if FROM <= day <= TO else None

    def dpd_at(case_id, moment):
        marks = [m for m in data["marks"] if m.case_id == case_id and m.at < moment]
        return max(marks, key=lambda m: (m.at, m.id)).days_past_due if marks else None

    def bucket(dpd):
        return "new" if dpd is None else strategy.bucket_for(dpd)

    def key(team_id, day, case_id=None, crew=None, collector=None):
        g = group_by
        if g is None:
            return "all"
        if g == "team":
            return teams[team_id].code
        if g == "region":
            return regions[teams[team_id].region_id].code
        if g == "day":
            return day.isoformat()
        if g == "week":
            return (day - timedelta(days=day.weekday())).isoformat()
        if g == "crew":
            return crews[crew].code if crew else "none"
        if g == "collector":
            return collectors[collector].code if collector else "none"
        if g == "dpd_bucket":
            return "none" if case_id is None else bucket(dpd_at(case_id, start_of(team_id)))

    out = defaultdict(lambda: defaultdict(int))
    money = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for e in data["ledger"]:
        case = cases[e.case_id]
        day = local_day(e.created_at, case.team_id)
        if e.kind == "payment" and day and group_by not in ("crew", "collector"):
            m = money[key(case.team_id, day, case.id)][e.currency]
            m["payments"] += 1
            m["recovered_minor"] += e.amount_minor
    outstanding = defaultdict(lambda: defaultdict(int))
    for case in cases.values():
        if case.created_at >= start_of(case.team_id) or group_by in ("crew", "collector"):
            continue
        moved = sum(e.delta_minor for e in data["ledger"] if e.case_id == case.id
                    and e.created_at >= start_of(case.team_id))
        balance = case.outstanding_minor - case.credit_minor - moved
        k = "all" if group_by in (None, "day", "week") else key(case.team_id, None, case.id)
        outstanding[k][case.currency] += max(balance, 0)
    for a in data["agreements"]:
        case = cases[a.case_id]
        day = local_day(a.created_at, case.team_id)
        if a.status in MADE and day:
            visit = visits.get(a.visit_id)
            o = out[key(case.team_id, day, case.id, visit and visit.crew_id, visit and visit.collector_id)]
            o["promises_made"] += 1
            o["promises_kept"] += a.status == "kept"
            o["promises_broken"] += a.status == "broken"
    for c in data["contacts"]:
        case = cases[c.case_id]
        day = local_day(c.occurred_at, case.team_id)
        if day and c.channel != "in_person" and c.purpose == "contact" and group_by not in ("crew", "collector"):
            o = out[key(case.team_id, day, case.id)]
            o["remote_attempts"] += 1
            o["remote_debtor_met"] += c.result == "reached"
    outcomes = defaultdict(lambda: defaultdict(int))
    door = defaultdict(list)
    for v in visits.values():
        task = tasks[v.task_id]
        case = cases[task.case_id]
        if not FROM <= task.visit_date <= TO:
            continue
        k = key(case.team_id, task.visit_date, case.id, v.crew_id, v.collector_id)
        out[k]["visits"] += 1
        out[k]["visits_debtor_met"] += v.person_met == "debtor"
        outcomes[k][v.outcome or "none"] += 1
        if v.check_out_at:
            door[k].append((v.check_out_at - v.check_in_at).total_seconds())
    crew_days = defaultdict(set)
    for t in tasks.values():
        if t.crew_id and t.status in WORKING and FROM <= t.visit_date <= TO:
            case = cases[t.case_id]
            crew_days[key(case.team_id, t.visit_date, case.id, t.crew_id)].add((t.crew_id, t.visit_date))
    flags = defaultdict(lambda: defaultdict(int))
    for f in data["flags"]:
        collector = collectors.get(f.collector_id)
        team_id = cases[f.case_id].team_id if f.case_id else collector.team_id
        day = local_day(f.raised_at, team_id)
        if day:
            crew = f.crew_id or (collector.crew_id if collector else None)
            flags[key(team_id, day, f.case_id, crew, f.collector_id)][f.rule_id] += 1
    for c in data["complaints"]:
        collector = collectors.get(c.collector_id)
        team_id = cases[c.case_id].team_id if c.case_id else collector.team_id
        day = local_day(c.received_at, team_id)
        if day:
            out[key(team_id, day, c.case_id, collector.crew_id if collector else None, c.collector_id)][
                "complaints"] += 1
    rolls = defaultdict(lambda: defaultdict(int))
    for case in cases.values():
        if case.created_at >= end_of(case.team_id) or group_by not in (None, "team", "region", "dpd_bucket"):
            continue
        d0 = dpd_at(case.id, start_of(case.team_id))
        if d0 is None:
            continue
        d1 = dpd_at(case.id, end_of(case.team_id))
        rolls[key(case.team_id, None, case.id)][(bucket(d0), bucket(d1))] += 1
    return {"out": out, "money": money, "outstanding": outstanding, "outcomes": outcomes, "door": door,
            "crew_days": crew_days, "flags": flags, "rolls": rolls}


def _ratio(a, b, scale=1, places=4):
    return round(a * scale / b, places) if b else None


def _check(row, naive, group_by):
    k = row["key"]
    o = naive["out"].get(k, {})
    money_applies = group_by not in ("crew", "collector")
    if money_applies:
        got = {m["currency"]: m for m in row["money"]}
        paid = naive["money"].get(k, {})
        owed = naive["outstanding"].get("all" if group_by in ("day", "week") else k, {})
        assert set(got) == set(paid) | set(owed), k
        for currency, m in got.items():
            assert m["payments"] == paid.get(currency, {}).get("payments", 0), (k, currency)
            assert m["recovered_minor"] == paid.get(currency, {}).get("recovered_minor", 0), (k, currency)
            if group_by in ("crew", "collector"):
                continue
            expected_owed = owed.get(currency)
            assert m["outstanding_at_start_minor"] == expected_owed, (k, currency)
            assert m["recovery_rate"] == _ratio(m["recovered_minor"], expected_owed), (k, currency)
        for name in ("remote_attempts", "remote_debtor_met"):
            assert row[name] == o.get(name, 0), (k, name)
    else:
        assert row["money"] is None and row["remote_attempts"] is None
    for name in ("promises_made", "promises_kept", "promises_broken", "visits", "visits_debtor_met", "complaints"):
        assert row[name] == o.get(name, 0), (k, name)
    assert row["promise_kept_rate"] == _ratio(o.get("promises_kept", 0),
                                              o.get("promises_kept", 0) + o.get("promises_broken", 0))
    assert row["field_contact_rate"] == _ratio(o.get("visits_debtor_met", 0), o.get("visits", 0))
    if group_by != "collector":
        assert row["crew_days"] == len(naive["crew_days"].get(k, ())), k
        assert row["visits_per_crew_day"] == _ratio(o.get("visits", 0), row["crew_days"], places=2)
    assert {x["key"]: x["count"] for x in row["outcomes"]} == dict(naive["outcomes"].get(k, {})), k
    seconds = naive["door"].get(k, [])
    assert row["door_visits_timed"] == len(seconds)
    if seconds:
        assert row["door_minutes_avg"] == pytest.approx(sum(seconds) / 60 / len(seconds), abs=0.051)
    rules = dict(naive["flags"].get(k, {}))
    assert {x["key"]: x["count"] for x in row["flags_by_rule"]} == rules, k
    assert row["flags"] == sum(rules.values())
    assert row["flags_per_100_visits"] == _ratio(sum(rules.values()), o.get("visits", 0), 100, 2)
    if row["roll_rates"] is not None:
        expected = dict(naive["rolls"].get(k, {}))
        assert {(r["from_bucket"], r["to_bucket"]): r["cases"] for r in row["roll_rates"]} == expected, k
        for r in row["roll_rates"]:
            assert r["rate"] == _ratio(r["cases"], sum(n for (b0, _), n in expected.items() if b0 == r["from_bucket"]))


@pytest.mark.parametrize("group_by", GROUPS)
def test_every_figure_matches_a_naive_recomputation_from_the_rows(client, app, book, group_by):
    response = client.get(f"/api/v1/reports/portfolio?from={FROM}&to={TO}&group_by={group_by}",
                          headers=book["headers"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    data = _load_rows(app)
    naive = _naive(data, group_by)
    keys = {row["key"] for row in body["groups"]}
    seen = set(naive["out"]) | set(naive["money"]) | set(naive["outcomes"]) | set(naive["flags"])
    assert seen <= keys, seen - keys  # no group with rows is missing
    for row in body["groups"]:
        _check(row, naive, group_by)
    _check(body["totals"], _naive(data, None), None)
    assert body["totals"]["visits"] > 10 and body["totals"]["flags"] > 3  # the book is not empty
