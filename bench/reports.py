"""Benchmark: the portfolio report (``GET /api/v1/reports/portfolio``) over a big book on PostgreSQL.

    nice -n 10 .venv/bin/python bench/reports.py            # 1,000,000 visits, 200,000 cases
    .venv/bin/python bench/reports.py --cases 20000 --visits 100000 --runs 3   # a quick look

A throwaway database is migrated to head and filled in SQL (``generate_series``, not the
ORM): 5 regions of 8 teams (40 teams), 10 crews of two per team, the cases spread evenly
over the teams, a DPD mark per case plus one bucket change for half of them, 2 payments
per case, an agreement per 2 cases, 2 contact attempts per case, the visits (each on its
own task) over the year 2026, a conduct flag per 20 visits and a complaint per 200. The
database is ANALYZEd, then the report for one month (June 2026) is timed through the
service (``app.services.reports.portfolio``: every query and the shaping of the answer,
not the HTTP layer) for one team and for one whole region, grouped by team, and for the
region grouped by day: best and median of ``--runs``. If the slowest run is over 1 s, the
EXPLAIN (ANALYZE, BUFFERS) of its slowest statement is printed.
"""
import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

REGIONS, TEAMS_PER_REGION, CREWS_PER_TEAM = 5, 8, 10


def fill(conn, cases, visits):
    teams = REGIONS * TEAMS_PER_REGION
    crews = teams * CREWS_PER_TEAM

    def x(sql):
        return conn.exec_driver_sql(sql.replace("%", "%%"))  # the driver reads % as a placeholder

    x("SELECT setseed(0.2)")
    x(f"""INSERT INTO regions (id, code, name, timezone)
          SELECT g, 'R' || g, 'Region ' || g, 'Asia/Shanghai' FROM generate_series(1, {REGIONS}) g""")
    x(f"""INSERT INTO teams (id, code, name, region_id)
          SELECT g, 'T' || lpad(g::text, 3, '0'), '队 ' || g, (g - 1) / {TEAMS_PER_REGION} + 1
          FROM generate_series(1, {teams}) g""")
    x(f"""INSERT INTO crews (id, code, name, team_id, active)
          SELECT g, 'K' || g, 'Crew ' || g, (g - 1) / {CREWS_PER_TEAM} + 1, true FROM generate_series(1, {crews}) g""")
    x(f"""INSERT INTO collectors (id, code, name, team_id, crew_id, home_lat, home_lon, languages, shift_start,
                                  shift_end, daily_capacity, background_cleared, active, created_at)
          SELECT g, 'C' || g, 'Collector ' || g, ((g + 1) / 2 - 1) / {CREWS_PER_TEAM} + 1, (g + 1) / 2, 31.2, 121.4,
                 '["zh"]', '08:00', '20:00', 10, true, true, '2025-01-01'
          FROM generate_series(1, {crews * 2}) g""")
    x(f"""INSERT INTO debtors (id, name, address, lat, lon, location_status, geocode_attempts, timezone,
                               availability, flags, places, created_at, updated_at)
          SELECT g, 'D' || g, 'addr', 31.2, 121.4, 'located', 0, 'Asia/Shanghai', '[]', '{{}}', '[]',
                 '2025-01-01', '2025-01-01' FROM generate_series(1, {cases}) g""")
    # Case g is in team (g - 1) % teams + 1, created during 2025.
    x(f"""INSERT INTO cases (id, loan_ref, debtor_id, team_id, product, currency, principal_minor, outstanding_minor,
                             credit_minor, days_past_due, stage, priority, created_at, updated_at)
          SELECT g, 'L' || g, g, (g - 1) % {teams} + 1, 'cash_loan', 'CNY', 1000000, (random() * 900000)::int, 0,
                 (random() * 150)::int, 'field_visit', 50,
                 timestamptz '2025-01-01 00:00+00' + random() * interval '300 days', '2025-01-01'
          FROM generate_series(1, {cases}) g""")
    x("""INSERT INTO case_dpd_marks (case_id, at, days_past_due, bucket, strategy_version)
         SELECT id, created_at, days_past_due, 'M?', 'bench' FROM cases""")
    x(f"""INSERT INTO case_dpd_marks (case_id, at, days_past_due, bucket, strategy_version)
          SELECT g * 2, timestamptz '2026-01-01 00:00+00' + random() * interval '360 days', (random() * 150)::int,
                 'M?', 'bench' FROM generate_series(1, {cases // 2}) g""")
    x(f"""INSERT INTO ledger_entries (case_id, kind, amount_minor, delta_minor, balance_minor, currency, source,
                                      created_at)
          SELECT c, 'payment', a, -a, 0, 'CNY', 'bench', timestamptz '2026-01-01 00:00+00' + random() * interval '364 days'
          FROM (SELECT (random() * ({cases} - 1))::int + 1 AS c, (random() * 20000)::int + 1 AS a
                FROM generate_series(1, {cases * 2})) p""")
    # Visit i: on case i % cases + 1, a day of 2026 unique for that case; by a crew of the case's team.
    x(f"""INSERT INTO visit_tasks (id, case_id, visit_date, status, crew_id, priority, reason, crew_history, version,
                                   created_at, updated_at)
          SELECT i + 1, c, date '2026-01-01' + ((i / {cases}) * 73 + c % 73) % 365, 'done',
                 ((c - 1) % {teams}) * {CREWS_PER_TEAM} + i % {CREWS_PER_TEAM} + 1, 50, '{{}}', '[]', 1,
                 '2026-01-01', '2026-01-01'
          FROM (SELECT i, i % {cases} + 1 AS c FROM generate_series(0, {visits} - 1) i) s""")
    x("""INSERT INTO visits (id, task_id, crew_id, collector_id, check_in_at, check_in_lat, check_in_lon,
                             check_in_mock, check_out_at, check_out_mock, outcome, person_met, created_at)
         SELECT t.id, t.id, t.crew_id, t.crew_id * 2 - 1, s, 31.2, 121.4, false, s + random() * interval '40 minutes',
                false, (ARRAY['met_debtor','promise_to_pay','not_home','refused','moved'])[1 + (random() * 4)::int],
                (ARRAY['debtor','nobody','spouse'])[1 + (random() * 2)::int], s
         FROM (SELECT id, crew_id, visit_date + time '02:00' + random() * interval '10 hours' AS s
               FROM visit_tasks) t""")
    x(f"""INSERT INTO repayment_agreements (case_id, visit_id, kind, status, currency, total_minor, waiver_minor,
                                            owed_minor, created_at)
          SELECT v.task_id % {cases} + 1, v.id, 'promise',
                 (ARRAY['active','kept','broken','cancelled','pending_approval'])[1 + (random() * 4)::int],
                 'CNY', 10000, 0, 10000, v.check_in_at
          FROM visits v WHERE v.id % {max(1, visits * 2 // cases)} = 0""")
    x(f"""INSERT INTO contact_attempts (case_id, channel, purpose, result, occurred_at, created_at)
          SELECT (random() * ({cases} - 1))::int + 1, (ARRAY['call','sms'])[1 + (random())::int], 'contact',
                 (ARRAY['reached','no_answer'])[1 + (random())::int],
                 timestamptz '2026-01-01 00:00+00' + random() * interval '364 days', '2026-01-01'
          FROM generate_series(1, {cases * 2})""")
    x("""INSERT INTO conduct_flags (kind, rule_id, profile_version, collector_id, crew_id, case_id, visit_id, details,
                                    status, raised_at)
         SELECT 'k', (ARRAY['cn.hours','cn.two_person','cn.geofence'])[1 + (random() * 2)::int], 'cn@2026.1',
                v.collector_id, v.crew_id, t.case_id, v.id, '{}', 'open', v.check_in_at
         FROM visits v JOIN visit_tasks t ON t.id = v.task_id WHERE v.id % 20 = 0""")
    x("""INSERT INTO complaints (case_id, collector_id, channel, category, text, status, received_at)
         SELECT t.case_id, v.collector_id, 'phone', 'c', 'x', 'open', v.check_in_at + interval '1 day'
         FROM visits v JOIN visit_tasks t ON t.id = v.task_id WHERE v.id % 200 = 0""")
    for table in ("regions", "teams", "crews", "collectors", "cases", "visit_tasks", "visits"):
        x(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    x("ANALYZE")


def _reads(statement):
    """The source tables a report statement reads (to tell the families apart in the output)."""
    import re

    tables = ("ledger_entries", "repayment_agreements", "contact_attempts", "visits", "visit_tasks", "conduct_flags",
              "complaints", "case_dpd_marks")
    return ", ".join(t for t in tables if re.search(rf"FROM {t}\b|JOIN {t}\b", statement)) or "cases"


class Statements:
    """The time of each statement run while it listens."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append((time.perf_counter() - conn.info.pop("t0"), statement, parameters))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="the slowest statements of each report")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    options = parser.parse_args()

    import flask_migrate

    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.services import reports

    admin_engine = sa.create_engine(os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"),
                                    isolation_level="AUTOCOMMIT")
    name = f"fc_bench_reports_{uuid.uuid4().hex[:8]}"
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_engine.url.set(database=name).render_as_string(hide_password=False)
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://"})
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus; "
          f"load average {os.getloadavg()}")
    try:
        with app.app_context():
            flask_migrate.upgrade()
            started = time.perf_counter()
            with db.engine.begin() as conn:
                fill(conn, options.cases, options.visits)
            counts = {t: db.session.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in (
                "cases", "visits", "ledger_entries", "repayment_agreements", "contact_attempts", "conduct_flags",
                "complaints", "case_dpd_marks")}
            print(f"filled in {time.perf_counter() - started:.0f} s: {counts}")
            auditor = User(username="bench-auditor", password_hash="x", role="auditor", active=True)
            db.session.add(auditor)
            db.session.commit()
            month = (date(2026, 6, 1), date(2026, 6, 30))
            cases_ = [("one team, by team", dict(group_by="team", team_code="T001")),
                      ("one region (8 teams), by team", dict(group_by="team", region_code="R1")),
                      ("one region, by day", dict(group_by="day", region_code="R1")),
                      ("one region, by DPD bucket", dict(group_by="dpd_bucket", region_code="R1"))]
            slowest = (0, None)
            for label, kwargs in cases_:
                times = []
                for _ in range(options.runs):
                    listener = Statements(db.engine)
                    t0 = time.perf_counter()
                    result = reports.portfolio(auditor, *month, **kwargs)
                    elapsed = time.perf_counter() - t0
                    db.session.rollback()
                    sa.event.remove(db.engine, "before_cursor_execute", listener.before)
                    sa.event.remove(db.engine, "after_cursor_execute", listener.after)
                    times.append(elapsed)
                    worst = max(listener.seen, key=lambda s: s[0])
                    if elapsed > slowest[0]:
                        slowest = (elapsed, worst, label)
                print(f"{label:34s} best {min(times) * 1000:7.0f} ms  median {statistics.median(times) * 1000:7.0f} ms"
                      f"  ({options.runs} runs; visits in it: {result['totals']['visits']}, "
                      f"groups: {len(result['groups'])}, {len(listener.seen)} statements)")
                if options.verbose:
                    for seconds, statement, _ in sorted(listener.seen, key=lambda s: -s[0])[:6]:
                        print(f"    {seconds * 1000:6.0f} ms  reads {_reads(statement)}")
            if slowest[0] > 1.0:
                _, (seconds, statement, parameters), label = slowest
                print(f"\nslowest run over 1 s ({label}); its slowest statement took {seconds * 1000:.0f} ms:")
                with db.engine.connect() as conn:
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
                print("\n".join(plan))
            print(f"load average after: {os.getloadavg()}")
    finally:
        with app.app_context():
            db.engine.dispose()
        if options.keep:
            print(f"kept: {url}")
        else:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
