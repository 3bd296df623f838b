"""A realistic demo: a Shanghai lender's field operation.

Sixteen real districts with their coordinates, four teams, 48 collectors in crews
of two with training records (some expiring soon, one lapsed), overdue cases in
every stage with contact history and some blocking flags, a handful of cases known
only by their address (for the pin queue), a few in remote contact that the collection
strategy's nightly job (``flask jobs submit apply_strategy``) moves into field visits by
its rules, ten more paid in part over the last eight weeks (some ageing from M1 into M2,
for the Performance page), and one account per role.

The operation is set up on the morning of the day before, and that day is worked
through the service itself, on a clock moved stop by stop: the demo agent's crew
visits its first stops (outcomes, a promise to pay, a recording, a visit closed without
its recording and so flagged), so the audit desk and the board have a true finished
day to show from the first minute. Then today's plan is committed.
"""

import contextlib
import hashlib
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import audit, auth, clock, money
from app.extensions import db
from app.models import (
    Case,
    Collector,
    ContactAttempt,
    Crew,
    Debtor,
    Region,
    RepaymentAgreement,
    Team,
    TrainingRecord,
    User,
)

TZ = "Asia/Shanghai"
REGION = ("SH", "Shanghai", TZ)
# (district, Chinese name, lat, lon, team, residential spread in degrees)
DISTRICTS = [
    ("Huangpu", "黄浦区", 31.2317, 121.4846, "SH-CENTRAL", 0.015),
    ("Jing'an", "静安区", 31.2286, 121.4481, "SH-CENTRAL", 0.02),
    ("Xuhui", "徐汇区", 31.1885, 121.4365, "SH-CENTRAL", 0.025),
    ("Changning", "长宁区", 31.2204, 121.4243, "SH-CENTRAL", 0.02),
    ("Hongkou", "虹口区", 31.2646, 121.5055, "SH-CENTRAL", 0.015),
    ("Pudong", "浦东新区", 31.2215, 121.5447, "SH-EAST", 0.06),
    ("Yangpu", "杨浦区", 31.2595, 121.5260, "SH-EAST", 0.02),
    ("Putuo", "普陀区", 31.2495, 121.3973, "SH-NORTHWEST", 0.02),
    ("Baoshan", "宝山区", 31.4051, 121.4895, "SH-NORTHWEST", 0.04),
    ("Jiading", "嘉定区", 31.3747, 121.2655, "SH-NORTHWEST", 0.04),
    ("Minhang", "闵行区", 31.1126, 121.3816, "SH-SOUTH", 0.04),
    ("Songjiang", "松江区", 31.0322, 121.2277, "SH-SOUTH", 0.04),
    ("Qingpu", "青浦区", 31.1509, 121.1240, "SH-SOUTH", 0.04),
    ("Fengxian", "奉贤区", 30.9180, 121.4741, "SH-SOUTH", 0.04),
    ("Jinshan", "金山区", 30.7418, 121.3417, "SH-SOUTH", 0.03),
    ("Chongming", "崇明区", 31.6229, 121.3970, "SH-NORTHWEST", 0.05),
]
TEAMS = [
    ("SH-CENTRAL", "Central Shanghai"),
    ("SH-EAST", "Pudong & Yangpu"),
    ("SH-NORTHWEST", "Putuo, Baoshan, Jiading & Chongming"),
    ("SH-SOUTH", "Minhang & the southern districts"),
]
ROADS = [
    "南京西路",
    "淮海中路",
    "四川北路",
    "长寿路",
    "张杨路",
    "漕溪北路",
    "虹桥路",
    "控江路",
    "共和新路",
    "沪太路",
    "莘庄路",
    "人民北路",
    "城中路",
    "青松路",
    "南桥路",
    "陈家镇路",
    "世纪大道",
    "肇嘉浜路",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕红梅晓东文博子涵浩然欣怡宇轩"
PRODUCTS = ["cash_loan", "consumer_instalment", "credit_card"]
MODULES = ("law_compliance", "communication")
CREDENTIALS = [
    ("admin", "admin-demo-pass", "admin"),
    ("supervisor", "supervisor-demo-pass", "supervisor"),
    ("auditor", "auditor-demo-pass", "auditor"),
    ("agent", "agent-demo-pass", "agent"),
    ("agent2", "agent-demo-pass", "agent"),
]
STAGE_WEIGHTS = [
    ("notice", 12),
    ("remote_contact", 25),
    ("field_visit", 38),
    ("agreement", 10),
    ("resolved", 8),
    ("closed", 7),
]


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _national_id(rng, serial):
    """An 18-character PRC resident id with a valid ISO 7064 check character."""
    birth = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 365 * 38))
    body = f"3101{rng.randrange(1, 20):02d}{birth:%Y%m%d}{serial % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


def _phone(rng):
    return f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}"


def _near(rng, lat, lon, spread):
    return round(lat + rng.uniform(-spread, spread), 6), round(lon + rng.uniform(-spread, spread) * 1.15, 6)


def seed(case_count=1200, seed=7, today=None):
    """Create the demo rows; return the credentials, or None if the demo is already there."""
    if db.session.scalars(select(Region).where(Region.code == REGION[0])).first() is not None:
        return None
    rng = random.Random(seed)
    local_today = today or clock.today(TZ)
    yesterday = local_today - timedelta(days=1)
    past = clock.FrozenClock(datetime.combine(yesterday, time(7, 0), ZoneInfo(TZ)))
    with _clock(past):
        collectors = _seed_operation(rng, case_count, local_today)
        _work_a_past_day(yesterday, past)
    _seed_paid_history(local_today)
    # Today's plan for the supervisor's team is committed, so the board and the field
    # app have a day to show from the first minute.
    from app.services import dispatch

    plan = dispatch.create_plan({"date": local_today, "team": "SH-CENTRAL"}, None, time_limit=2)
    dispatch.commit_plan(plan, None)
    audit.record(
        "demo.seeded",
        entity_type="system",
        extra={"collectors": len(collectors), "cases": case_count, "seed": seed, "worked_day": yesterday.isoformat()},
    )
    return CREDENTIALS


@contextlib.contextmanager
def _clock(replacement):
    """The server's clock replaced while the demo's past is written (the audit log's
    stamps follow it, so they never go backwards)."""
    from flask import current_app

    config = current_app.config
    saved = config.get("CLOCK")
    config["CLOCK"] = replacement
    try:
        yield replacement
    finally:
        config["CLOCK"] = saved


def _seed_operation(rng, case_count, local_today):
    region = Region(code=REGION[0], name=REGION[1], timezone=REGION[2])
    db.session.add(region)
    db.session.flush()
    teams = {}
    for code, name in TEAMS:
        teams[code] = Team(code=code, name=name, region_id=region.id)
        db.session.add(teams[code])
    db.session.flush()
    for row in (region, *teams.values()):
        audit.record(f"{row.__tablename__[:-1]}.created", row, after={"code": row.code, "name": row.name})

    users = {}
    for username, password, role in CREDENTIALS:
        users[username] = User(
            username=username,
            display_name=username.capitalize(),
            password_hash=auth.hash_password(password),
            role=role,
            team_id=teams["SH-CENTRAL"].id if role == "supervisor" else None,
            active=True,
        )
        db.session.add(users[username])
    db.session.flush()
    for user in users.values():
        audit.record("user.created", user, after={"username": user.username, "role": user.role})

    collectors = _seed_collectors(rng, teams, users, local_today)
    _seed_cases(rng, teams, case_count, local_today)
    _seed_address_only(teams, local_today)
    _seed_for_escalation(teams, local_today)
    db.session.flush()
    return collectors


# What the demo agent's crew did at its first stops the day before: (outcome, person met,
# notes, minutes at the door, a recording of this many seconds or None).
PAST_STOPS = [
    ("promise_to_pay", "debtor", "债务人同意周五前还清本月款项。", 14, 95),
    ("not_home", "nobody", "敲门无人应答，已留联系卡。", 6, 70),
    ("third_party_only", "neighbour", "邻居开门，未透露任何信息。", 5, None),
    ("refused", "debtor", "债务人称收入中断，拒绝还款，态度平和。", 18, 120),
]


def _work_a_past_day(day, past):
    """Plan ``day`` for the supervisor's team at 07:00, commit it, and work the demo
    agent's first stops through the field service as the phone would, online."""
    from api.schemas.field import PositionIn, VisitIn
    from app.services import dispatch
    from app.services.field import agent_route, recordings
    from app.services.field import events as field_events

    plan = dispatch.create_plan({"date": day, "team": "SH-CENTRAL"}, None, time_limit=2)
    dispatch.commit_plan(plan, None)
    agent = db.session.scalars(select(User).where(User.username == "agent")).one()
    stops = [stop for stop in agent_route.route(agent, day)["stops"] if stop["status"] == "assigned"]
    zone = ZoneInfo(TZ)
    for number, (stop, (outcome, person, notes, minutes, seconds)) in enumerate(zip(stops, PAST_STOPS), 1):
        arrive = max(past(), datetime.fromisoformat(stop["planned_start"]))
        past.set(arrive.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=2))
        place = {"lat": round(stop["debtor"]["lat"] + 0.0003, 6), "lon": stop["debtor"]["lon"], "accuracy_m": 9.0}
        task = stop["task_id"]
        data = PositionIn().load(
            {"client_event_id": f"demo-{day}-{number}-in", **place, "device_time": past().isoformat()}
        )
        status, answer = field_events.act(agent, "check_in", task, data)
        if status != "accepted":  # the policy said no at the door: the demo keeps that too
            continue
        recording_ids = []
        if seconds is not None:
            past.advance(minutes=1)
            content = b"OggS" + f"demo recording {day} stop {number}".encode() * 64
            recording, _ = recordings.store_recording(
                agent,
                {"task_id": task, "sha256": hashlib.sha256(content).hexdigest(), "duration_seconds": seconds},
                content,
                "audio/ogg",
            )
            recording_ids.append(recording.id)
        past.advance(minutes=minutes)
        body = {
            "client_event_id": f"demo-{day}-{number}-visit",
            "outcome": outcome,
            "person_met": person,
            "notes": notes,
            "recording_ids": recording_ids,
            "device_time": past().isoformat(),
        }
        if outcome == "promise_to_pay":
            due = stop["case"]["amount_due"]
            body["agreement"] = {
                "kind": "promise",
                "total": due,
                "due_date": (day + timedelta(days=4)).isoformat(),
                "acknowledgement": {"kind": "otp", "ref": f"OTP-{day:%m%d}-{number:02d}"},
            }
        field_events.act(agent, "visit", task, VisitIn().load(body))
        past.advance(minutes=1)
        field_events.act(
            agent,
            "check_out",
            task,
            PositionIn().load(
                {"client_event_id": f"demo-{day}-{number}-out", **place, "device_time": past().isoformat()}
            ),
        )
        past.advance(minutes=20)


def _seed_collectors(rng, teams, users, today):
    team_districts = {}
    for district in DISTRICTS:
        team_districts.setdefault(district[4], []).append(district)
    collectors, number = [], 0
    for team_code, _ in TEAMS:
        team = teams[team_code]
        for crew_no in range(1, 7):
            number += 1
            crew = Crew(code=f"{team_code}-K{crew_no:02d}", name=f"{team_code} crew {crew_no}", team_id=team.id)
            db.session.add(crew)
            db.session.flush()
            district = team_districts[team_code][(crew_no - 1) % len(team_districts[team_code])]
            for _member in range(2):
                serial = len(collectors) + 1
                lat, lon = _near(rng, district[2], district[3], district[5])
                languages = ["zh"] + (["wuu"] if rng.random() < 0.5 else []) + (["en"] if rng.random() < 0.15 else [])
                collector = Collector(
                    code=f"C{serial:03d}",
                    name=_name(rng),
                    team_id=team.id,
                    crew_id=crew.id,
                    home_lat=lat,
                    home_lon=lon,
                    languages=languages,
                    shift_start=time(9, 0),
                    shift_end=time(21, 0) if crew_no % 3 == 0 else time(18, 0),
                    daily_capacity=rng.choice((8, 10, 10, 12)),
                    background_cleared=True,
                    active=True,
                )
                db.session.add(collector)
                collectors.append(collector)
            db.session.flush()
            audit.record("crew.created", crew, after={"code": crew.code, "team": team_code})
    collectors[0].user_id, collectors[1].user_id = users["agent"].id, users["agent2"].id
    for index, collector in enumerate(collectors):
        for module in MODULES:
            passed = today - timedelta(days=rng.randrange(20, 300))
            expires = passed + timedelta(days=365)
            if index in (5, 6) and module == "law_compliance":
                expires = today + timedelta(days=rng.randrange(3, 14))  # expiring soon
                passed = expires - timedelta(days=365)
            if index == 9 and module == "law_compliance":
                expires = today - timedelta(days=4)  # lapsed: this crew is not eligible
                passed = expires - timedelta(days=365)
            db.session.add(
                TrainingRecord(
                    collector_id=collector.id,
                    module=module,
                    passed_at=passed,
                    expires_at=expires,
                    certificate_ref=f"NIFA-{collector.code}-{module[:3]}",
                )
            )
        audit.record("collector.created", collector, after={"code": collector.code, "team_id": collector.team_id})
    db.session.flush()
    return collectors


# Cases the loan system sent with an address only: they wait for the geocoder (or, with
# none configured, the supervisor's pin) before they can be planned.
ADDRESS_ONLY = [
    "上海市黄浦区福州路318号",
    "上海市静安区昌平路990号",
    "上海市徐汇区衡山路12弄5号",
    "上海市长宁区武夷路521号201室",
    "上海市虹口区多伦路88号",
]


def _seed_address_only(teams, today):
    from app.services import geocoding

    rng = random.Random(19)  # a generator of their own: the rest of the demo stays as it was
    now = clock.now()
    for serial, address in enumerate(ADDRESS_ONLY, start=1):
        debtor = Debtor(
            name=_name(rng),
            phone=_phone(rng),
            national_id=_national_id(rng, 900 + serial),
            address=address,
            lat=None,
            lon=None,
            timezone=TZ,
            language="zh",
            availability=[],
            flags={},
            **geocoding.initial_state(),
        )
        db.session.add(debtor)
        db.session.flush()
        principal = rng.randrange(50, 2000) * 10000
        case = Case(
            loan_ref=f"SH{today:%y}9{serial:05d}",
            debtor_id=debtor.id,
            team_id=teams["SH-CENTRAL"].id,
            product="cash_loan",
            currency="CNY",
            principal_minor=principal,
            outstanding_minor=int(principal * 0.8),
            days_past_due=rng.randrange(60, 200),
            stage="field_visit",
            priority=rng.randrange(40, 90),
        )
        db.session.add(case)
        db.session.flush()
        db.session.add(
            ContactAttempt(
                case_id=case.id,
                channel="call",
                purpose="contact",
                result="no_answer",
                occurred_at=now - timedelta(days=3),
            )
        )
        audit.record("case.created", case, after={"loan_ref": case.loan_ref, "stage": case.stage, "address_only": True})


# Cases in remote contact for the strategy's nightly job (app/policy/strategies/default.toml):
# (days past due, failed calls in the last days, broken promises, debtor flags, what the job does).
FOR_ESCALATION = [
    (42, 3, 0, {}, "default.remote_to_field"),
    (75, 4, 0, {}, "default.remote_to_field"),
    (58, 5, 0, {"vulnerable": True}, "default.remote_to_field"),  # vulnerable does not block under cn
    (120, 3, 0, {}, "default.remote_to_field"),
    (46, 0, 1, {}, "default.broken_promise_to_field"),
    (90, 4, 0, {"cease": True}, None),  # a cease request: never sent to the field (cn.blocking_flag)
    (65, 2, 0, {}, None),  # two failed calls are not yet three
    (21, 4, 0, {}, None),  # M1: too early for the field
]


def _seed_for_escalation(teams, today):
    """Cases the strategy job moves into field visits, and some it must leave where they are."""
    rng = random.Random(23)  # a generator of their own: the rest of the demo stays as it was
    now = clock.now()
    district = DISTRICTS[1]  # Jing'an, the supervisor's team
    for serial, (dpd, failed, broken, flags, _) in enumerate(FOR_ESCALATION, start=1):
        lat, lon = _near(rng, district[2], district[3], district[5])
        debtor = Debtor(
            name=_name(rng),
            phone=_phone(rng),
            national_id=_national_id(rng, 800 + serial),
            address=f"上海市{district[1]}{rng.choice(ROADS)}{rng.randrange(1, 1500)}弄{serial}号",
            lat=lat,
            lon=lon,
            timezone=TZ,
            language="zh",
            availability=[],
            flags=flags,
        )
        db.session.add(debtor)
        db.session.flush()
        principal = rng.randrange(200, 3000) * 10000
        case = Case(
            loan_ref=f"SH{today:%y}8{serial:05d}",
            debtor_id=debtor.id,
            team_id=teams["SH-CENTRAL"].id,
            product="cash_loan",
            currency="CNY",
            principal_minor=principal,
            outstanding_minor=int(principal * 0.9),
            days_past_due=dpd,
            stage="remote_contact",
            priority=0,
        )
        db.session.add(case)
        db.session.flush()
        for number in range(failed):
            db.session.add(
                ContactAttempt(
                    case_id=case.id,
                    channel="call",
                    purpose="contact",
                    result=("no_answer", "voicemail")[number % 2],
                    occurred_at=now - timedelta(days=2 + 3 * number, hours=rng.randrange(0, 8)),
                )
            )
        if broken:
            db.session.add(
                ContactAttempt(
                    case_id=case.id,
                    channel="call",
                    purpose="contact",
                    result="reached",
                    occurred_at=now - timedelta(days=20),
                )
            )
            db.session.add(
                RepaymentAgreement(
                    case_id=case.id,
                    kind="promise",
                    status="broken",
                    currency="CNY",
                    total_minor=case.outstanding_minor,
                    owed_minor=case.outstanding_minor,
                    acknowledgement_kind="otp",
                    acknowledgement_ref=f"OTP-{today:%m%d}-{serial:02d}",
                )
            )
        audit.record("case.created", case, after={"loan_ref": case.loan_ref, "stage": case.stage, "days_past_due": dpd})


# The Performance page's past: cases the supervisor's team has been collecting for about
# two months, paid in part week by week, some rolling from M1 into M2 on the way.
HISTORY_CASES = 10
HISTORY_WEEKS = 8


def _seed_paid_history(today):
    """Payments over the last eight weeks (through the payment service, each on its own
    day's clock) and DPD that grew across a bucket, on cases of their own in remote contact."""
    from app.services import agreements, ledger

    rng = random.Random(29)  # a generator of their own: the rest of the demo stays as it was
    zone = ZoneInfo(TZ)
    team = db.session.scalars(select(Team).where(Team.code == "SH-CENTRAL")).one()
    district = DISTRICTS[0]  # Huangpu
    start = datetime.combine(today - timedelta(weeks=HISTORY_WEEKS + 1), time(9, 0), zone)
    events = []
    with _clock(clock.FrozenClock(start)):
        for serial in range(1, HISTORY_CASES + 1):
            lat, lon = _near(rng, district[2], district[3], district[5])
            debtor = Debtor(
                name=_name(rng),
                phone=_phone(rng),
                national_id=_national_id(rng, 700 + serial),
                address=f"上海市{district[1]}{rng.choice(ROADS)}{rng.randrange(1, 1500)}号",
                lat=lat,
                lon=lon,
                timezone=TZ,
                language="zh",
                availability=[],
                flags={},
            )
            db.session.add(debtor)
            db.session.flush()
            principal = rng.randrange(300, 1500) * 10000
            case = Case(
                loan_ref=f"SH{today:%y}7{serial:05d}",
                debtor_id=debtor.id,
                team_id=team.id,
                product="consumer_instalment",
                currency="CNY",
                principal_minor=principal,
                outstanding_minor=principal,
                days_past_due=rng.randrange(10, 28),
                stage="remote_contact",
                priority=0,
            )
            db.session.add(case)
            db.session.flush()
            ledger.open_case(case)  # what it owed then: the recovery rate's denominator
            audit.record("case.created", case, after={"loan_ref": case.loan_ref, "stage": case.stage})
            for number in range(rng.randrange(2, 5)):
                day = today - timedelta(weeks=rng.randrange(0, HISTORY_WEEKS), days=rng.randrange(1, 7))
                amount = rng.randrange(30, 200) * 1000  # 300.00 to 1,990.00 yuan
                events.append(
                    (
                        datetime.combine(day, time(rng.randrange(9, 20), rng.randrange(0, 60)), zone),
                        "pay",
                        case.id,
                        f"DEMO-PAY-{case.loan_ref}-{number + 1}",
                        amount,
                    )
                )
            if serial % 3:  # two in three stayed unpaid long enough to roll into M2
                events.append((start + timedelta(days=30), "age", case.id, None, 30))
    for moment, kind, case_id, reference, amount in sorted(events, key=lambda e: (e[0], e[2])):
        with _clock(clock.FrozenClock(moment)):
            case = db.session.get(Case, case_id)
            if kind == "age":
                before = case.days_past_due
                case.days_past_due = before + amount
                db.session.flush()
                audit.record(
                    "case.updated", case, before={"days_past_due": before}, after={"days_past_due": case.days_past_due}
                )
            elif case.outstanding_minor > 0:
                major = money.to_decimal_string(min(amount, case.outstanding_minor), "CNY")
                agreements.record_payment(
                    {"reference": reference, "case_id": case.id, "amount": major, "currency": "CNY", "paid_at": moment}
                )
    db.session.flush()


def _seed_cases(rng, teams, case_count, today):
    stages = [s for s, w in STAGE_WEIGHTS for _ in range(w)]
    now = clock.now()
    for serial in range(1, case_count + 1):
        district = rng.choice(DISTRICTS)
        lat, lon = _near(rng, district[2], district[3], district[5])
        flags = {}
        roll = rng.random()
        if roll < 0.03:
            flags["dispute"] = True
        elif roll < 0.04:
            flags["cease"] = True
        elif roll < 0.06:
            flags["vulnerable"] = True
        elif roll < 0.063:
            flags["deceased"] = True
        availability = []
        if rng.random() < 0.3:
            availability = (
                [{"start": "18:00", "end": "21:00"}]
                if rng.random() < 0.5
                else [{"days": [5, 6], "start": "09:00", "end": "12:00"}]
            )
        debtor = Debtor(
            name=_name(rng),
            phone=_phone(rng),
            national_id=_national_id(rng, serial),
            address=f"上海市{district[1]}{rng.choice(ROADS)}{rng.randrange(1, 1500)}弄{rng.randrange(1, 40)}号"
            f"{rng.randrange(1, 30)}0{rng.randrange(1, 6)}室",
            lat=lat,
            lon=lon,
            timezone=TZ,
            language="wuu" if rng.random() < 0.2 else "zh",
            availability=availability,
            flags=flags,
        )
        db.session.add(debtor)
        db.session.flush()
        principal = rng.randrange(50, 2000) * 10000  # 500.00 to 20,000.00 yuan, in fen
        stage = rng.choice(stages)
        case = Case(
            loan_ref=f"SH{today:%y}{serial:06d}",
            debtor_id=debtor.id,
            team_id=teams[district[4]].id,
            product=rng.choice(PRODUCTS),
            currency="CNY",
            principal_minor=principal,
            outstanding_minor=0 if stage == "resolved" else int(principal * rng.uniform(0.3, 1.15)),
            days_past_due=rng.randrange(5, 30) if stage == "notice" else rng.randrange(30, 360),
            stage=stage,
            priority=rng.randrange(10, 100),
        )
        db.session.add(case)
        db.session.flush()
        if stage != "notice":
            for _ in range(rng.randrange(1, 5)):
                occurred = now - timedelta(days=rng.randrange(1, 40), minutes=rng.randrange(0, 600))
                db.session.add(
                    ContactAttempt(
                        case_id=case.id,
                        channel=rng.choice(("call", "call", "sms")),
                        purpose="contact",
                        result=rng.choice(("no_answer", "no_answer", "reached", "refused", "voicemail")),
                        occurred_at=occurred,
                    )
                )
        audit.record("case.created", case, after={"loan_ref": case.loan_ref, "stage": stage})
    db.session.flush()
