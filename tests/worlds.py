"""Seeded worlds shared by tests and benchmarks that need a really committed database."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = "Asia/Shanghai"


def field_day(db, *, day, phones=1, stops=10, password="agent-password", password_hash=None):
    """One Shanghai team; per phone a crew of two trained collectors, the first signed in
    as ``agentNNN``, with ``stops`` assigned tasks on ``day`` (each case with a prior
    contact attempt). Commits, and returns per crew the agent's username and its tasks as
    (task id, lat, lon)."""
    from app.auth import hash_password
    from app.models import Case, Collector, ContactAttempt, Crew, Debtor, Region, Team, TrainingRecord, User, VisitTask

    password_hash = password_hash or hash_password(password)
    contacted = datetime.combine(day, time(10), ZoneInfo(SHANGHAI)) - timedelta(days=3)
    region = Region(code="SH", name="Shanghai", timezone=SHANGHAI)
    db.session.add(region)
    db.session.flush()
    team = Team(code="T", name="T", region_id=region.id)
    db.session.add(team)
    db.session.flush()
    crews = []
    for p in range(1, phones + 1):
        crew = Crew(code=f"K{p:03d}", name=f"K{p:03d}", team_id=team.id)
        agent = User(username=f"agent{p:03d}", password_hash=password_hash, role="agent", active=True)
        db.session.add_all([crew, agent])
        db.session.flush()
        for n in range(2):
            member = Collector(
                code=f"C{p:03d}{n}",
                name="C",
                team_id=team.id,
                crew_id=crew.id,
                home_lat=31.2,
                home_lon=121.4,
                languages=["zh"],
                shift_start=time(8),
                shift_end=time(22),
                daily_capacity=100,
                background_cleared=True,
                user_id=agent.id if n == 0 else None,
            )
            db.session.add(member)
            db.session.flush()
            for module in ("law_compliance", "communication"):
                db.session.add(
                    TrainingRecord(
                        collector_id=member.id,
                        module=module,
                        passed_at=day - timedelta(days=30),
                        expires_at=day + timedelta(days=300),
                    )
                )
        tasks = []
        for s in range(stops):
            lat = 31.1 + (p * stops + s) / 20000
            debtor = Debtor(
                name=f"D{p}-{s}", address="x", lat=lat, lon=121.4, timezone=SHANGHAI, availability=[], flags={}
            )
            db.session.add(debtor)
            db.session.flush()
            case = Case(
                loan_ref=f"L{p:03d}-{s:04d}",
                debtor_id=debtor.id,
                team_id=team.id,
                product="p",
                currency="CNY",
                principal_minor=100000,
                outstanding_minor=100000,
                days_past_due=40,
                stage="field_visit",
            )
            db.session.add(case)
            db.session.flush()
            db.session.add(
                ContactAttempt(
                    case_id=case.id, channel="call", purpose="contact", result="no_answer", occurred_at=contacted
                )
            )
            task = VisitTask(
                case_id=case.id,
                visit_date=day,
                status="assigned",
                crew_id=crew.id,
                sequence=s + 1,
                priority=10,
                crew_history=[crew.id],
            )
            db.session.add(task)
            db.session.flush()
            tasks.append((task.id, lat, 121.4))
        crews.append({"agent": agent.username, "tasks": tasks})
    db.session.commit()
    return crews
