"""Benchmark: the audit log and the visit log on PostgreSQL at a million events.

    .venv/bin/python bench/audit_log.py --events 1000000

One command: it creates a throwaway PostgreSQL database, builds it with the
migrations, fills it fast with COPY (500 collectors in 250 crews of two over ten
teams, each with an agent account; cases, visits with recordings, agreements and
conduct flags; and N audit events over six months, chained with ``app.audit``'s own
``link_hash_values``), then measures through the app itself (the Flask test client,
with an auditor's bearer token, so authentication, validation, serialisation and the
request's commit are in every figure):

(a) filtered pages: one collector's events in one month, and other filters;
(b) full exports: CSV and NDJSON of every event (and the visit log), streamed;
    rows/s and peak RSS growth of this process while streaming;
(c) ``verify_chain`` over the whole chain, events/s; and the daily head.

Nothing is hard-coded: every figure printed is measured on this run. The database
is dropped at the end (``--keep`` keeps it and prints its URL).
"""

import argparse
import hashlib
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

START = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)  # six months
MONTHS = [(date(2026, m, 1), date(2026, m + 1, 1) - timedelta(days=1)) for m in range(5, 11)]
TEAMS, CREWS, COLLECTORS = 10, 250, 500
ACTIONS = [  # (action, entity_type, weight, field action with GPS)
    ("visit.checked_in", "visits", 18, True),
    ("visit.checked_out", "visits", 18, True),
    ("visit.recorded", "visits", 16, True),
    ("recording.uploaded", "recordings", 14, True),
    ("agreement.created", "repayment_agreements", 5, True),
    ("task.started", "visit_tasks", 10, False),
    ("contact_attempt.recorded", "contact_attempts", 8, False),
    ("case.updated", "cases", 6, False),
    ("pii.read", "debtors", 3, False),
    ("conduct_flag.raised", "conduct_flags", 2, False),
    ("debtor.updated", "debtors", 5, False),  # carries personal values: committed, kept beside the chain
]


def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def log(message):
    print(message, flush=True)


# ---------------------------------------------------------------- filling


def copy_rows(cursor, table, columns, rows):
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill_organisation(conn, rng):
    """Region, teams, crews of two, collectors each with an agent account, staff accounts."""
    cur = conn.cursor()
    now = datetime.now(UTC)
    cur.execute("INSERT INTO regions (id, code, name, timezone) VALUES (1, 'SH', 'Shanghai', 'Asia/Shanghai')")
    copy_rows(
        cur,
        "teams",
        ("id", "code", "name", "region_id"),
        ((t, f"T{t:02d}", f"Team {t}", 1) for t in range(1, TEAMS + 1)),
    )
    copy_rows(
        cur,
        "crews",
        ("id", "code", "name", "team_id", "active"),
        ((c, f"K{c:03d}", f"Crew {c}", 1 + (c - 1) % TEAMS, True) for c in range(1, CREWS + 1)),
    )
    password = "!no-login"  # the benchmark signs in with a token made directly
    users = [
        (1, "auditor", "Auditor", password, "auditor", None, True, now),
        (2, "admin", "Admin", password, "admin", None, True, now),
    ]
    users += [
        (2 + t, f"sup{t:02d}", f"Supervisor {t}", password, "supervisor", t, True, now) for t in range(1, TEAMS + 1)
    ]
    first_agent = len(users) + 1
    users += [
        (first_agent + i, f"agent{i:03d}", f"Agent {i}", password, "agent", None, True, now) for i in range(COLLECTORS)
    ]
    copy_rows(
        cur,
        "users",
        ("id", "username", "display_name", "password_hash", "role", "team_id", "active", "created_at"),
        users,
    )
    collectors = []
    for i in range(COLLECTORS):
        crew = 1 + i // 2
        collectors.append(
            (
                i + 1,
                f"C{i:03d}",
                first_agent + i,
                f"Collector {i}",
                1 + (crew - 1) % TEAMS,
                crew,
                31.0 + rng.random() * 0.5,
                121.2 + rng.random() * 0.5,
                '["zh"]',
                "09:00",
                "18:00",
                10,
                True,
                True,
                now,
            )
        )
    copy_rows(
        cur,
        "collectors",
        (
            "id",
            "code",
            "user_id",
            "name",
            "team_id",
            "crew_id",
            "home_lat",
            "home_lon",
            "languages",
            "shift_start",
            "shift_end",
            "daily_capacity",
            "background_cleared",
            "active",
            "created_at",
        ),
        collectors,
    )
    for table in ("regions", "teams", "crews", "users", "collectors"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {
        "agent_user_ids": [first_agent + i for i in range(COLLECTORS)],
        "staff_user_ids": list(range(1, first_agent)),
    }


def fill_visits(conn, rng, visits):
    """Debtors and cases; one task and one visit per (case, day); recordings, agreements, flags."""
    from app.crypto import DEVELOPMENT_ENCRYPTION_KEYS, DEVELOPMENT_INDEX_KEY, Keyring

    keys = Keyring(DEVELOPMENT_ENCRYPTION_KEYS, DEVELOPMENT_INDEX_KEY)  # the bench app runs as development
    cur = conn.cursor()
    now = datetime.now(UTC)
    cases = max(visits // 3, 1)
    copy_rows(
        cur,
        "debtors",
        (
            "id",
            "name",
            "phone",
            "national_id",
            "national_id_index",
            "address",
            "lat",
            "lon",
            "timezone",
            "language",
            "availability",
            "flags",
            "created_at",
            "updated_at",
        ),
        (
            (
                d,
                f"Debtor {d}",
                keys.encrypt(f"138{d:08d}", "debtors.phone"),
                keys.encrypt(f"3101011990{d:08d}", "debtors.national_id"),
                keys.blind_index(f"3101011990{d:08d}", "national_id"),
                f"{d} Road, Shanghai",
                31.0 + rng.random() * 0.5,
                121.2 + rng.random() * 0.5,
                "Asia/Shanghai",
                "zh",
                "[]",
                "{}",
                now,
                now,
            )
            for d in range(1, cases + 1)
        ),
    )
    copy_rows(
        cur,
        "cases",
        (
            "id",
            "loan_ref",
            "debtor_id",
            "team_id",
            "product",
            "currency",
            "principal_minor",
            "outstanding_minor",
            "days_past_due",
            "stage",
            "priority",
            "created_at",
            "updated_at",
        ),
        (
            (c, f"L{c:08d}", c, 1 + c % TEAMS, "cash_loan", "CNY", 1_000_000, 800_000, 60, "field_visit", 50, now, now)
            for c in range(1, cases + 1)
        ),
    )
    tasks, rows, recordings, agreements, flags = [], [], [], [], []
    used = set()
    days = (END - START).days
    for v in range(1, visits + 1):
        case = rng.randrange(1, cases + 1)
        day = rng.randrange(days)
        while (case, day) in used:
            case, day = rng.randrange(1, cases + 1), rng.randrange(days)
        used.add((case, day))
        team = 1 + case % TEAMS
        crew = team + TEAMS * rng.randrange(CREWS // TEAMS)
        collector = 2 * crew - 1 + rng.randrange(2)
        at = START + timedelta(days=day, seconds=rng.randrange(8 * 3600, 20 * 3600) - 8 * 3600)
        tasks.append((v, case, (START + timedelta(days=day)).date(), "done", crew, 50, "{}", 1, now, now))
        out = at + timedelta(minutes=rng.randrange(10, 60))
        rows.append(
            (
                v,
                v,
                crew,
                collector,
                at,
                at - timedelta(seconds=rng.randrange(60)),
                31.2 + rng.random() * 0.1,
                121.4 + rng.random() * 0.1,
                10.0,
                rng.random() * 300,
                False,
                out,
                out,
                31.2,
                121.4,
                12.0,
                rng.random() * 300,
                False,
                rng.choice(["promise_to_pay", "not_home", "refused", "paid", "dispute"]),
                rng.choice(["debtor", "debtor", "relative", None]),
                "Visited; talked at the door.",
                now,
            )
        )
        recordings.append(
            (
                v,
                hashlib.sha256(str(v).encode()).hexdigest(),
                48000,
                "audio/mp4",
                "audio",
                f"recordings/{v}",
                1200,
                v,
                now,
            )
        )
        if v % 5 == 0:
            agreements.append((len(agreements) + 1, case, v, "instalment", "active", "CNY", 600_000, 0, now))
        if v % 20 == 0:
            flags.append(
                (
                    len(flags) + 1,
                    rng.choice(["geofence_outside", "out_of_hours", "short_recording"]),
                    "cn.rule",
                    "cn@2026.1",
                    collector,
                    crew,
                    case,
                    v,
                    v,
                    "{}",
                    "open",
                    at,
                )
            )
    copy_rows(
        cur,
        "visit_tasks",
        (
            "id",
            "case_id",
            "visit_date",
            "status",
            "crew_id",
            "priority",
            "reason",
            "version",
            "created_at",
            "updated_at",
        ),
        tasks,
    )
    copy_rows(
        cur,
        "visits",
        (
            "id",
            "task_id",
            "crew_id",
            "collector_id",
            "check_in_at",
            "check_in_device_at",
            "check_in_lat",
            "check_in_lon",
            "check_in_accuracy_m",
            "check_in_distance_m",
            "check_in_mock",
            "check_out_at",
            "check_out_device_at",
            "check_out_lat",
            "check_out_lon",
            "check_out_accuracy_m",
            "check_out_distance_m",
            "check_out_mock",
            "outcome",
            "person_met",
            "notes",
            "created_at",
        ),
        rows,
    )
    copy_rows(
        cur,
        "recordings",
        (
            "id",
            "sha256",
            "size_bytes",
            "content_type",
            "kind",
            "storage_key",
            "duration_seconds",
            "visit_id",
            "uploaded_at",
        ),
        recordings,
    )
    copy_rows(
        cur,
        "repayment_agreements",
        ("id", "case_id", "visit_id", "kind", "status", "currency", "total_minor", "waiver_minor", "created_at"),
        agreements,
    )
    copy_rows(
        cur,
        "conduct_flags",
        (
            "id",
            "kind",
            "rule_id",
            "profile_version",
            "collector_id",
            "crew_id",
            "case_id",
            "task_id",
            "visit_id",
            "details",
            "status",
            "raised_at",
        ),
        flags,
    )
    for table in ("debtors", "cases", "visit_tasks", "visits", "recordings", "repayment_agreements", "conduct_flags"):
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )


def fill_events(conn, rng, count, people, chains=1):
    """``count`` events over six months, 90% by the collectors' agent accounts, correctly chained
    (``chains`` > 1: a partitioned log, each event on its actor's chain as ``app.audit`` puts it)."""
    import json

    from app.audit import canonical_json, commit_personal, link_hash_values
    from auditchain import chain_genesis

    cur = conn.cursor()
    span = (END - START).total_seconds()
    stamps = sorted(rng.random() * span for _ in range(count))
    actions = [a for a in ACTIONS for _ in range(a[2])]
    agents, staff = people["agent_user_ids"], people["staff_user_ids"]
    heads = {c: (0, chain_genesis(c)) for c in range(1, chains + 1)}
    columns = (
        "seq",
        "occurred_at",
        "actor_user_id",
        "actor_role",
        "action",
        "entity_type",
        "entity_id",
        "changes",
        "request_id",
        "client_ip",
        "lat",
        "lon",
        "prev_hash",
        "hash",
        "chain",
    )
    beside, subjects = [], []

    def rows():
        for seq in range(1, count + 1):
            at = START + timedelta(seconds=stamps[seq - 1])
            action, entity_type, _, field = rng.choice(actions)
            if rng.random() < 0.9:
                actor, role = rng.choice(agents), "agent"
            else:
                actor, role = rng.choice(staff), rng.choice(["supervisor", "admin", "auditor"])
            entity_id = str(rng.randrange(1, 200_000))
            if action == "debtor.updated":  # as app.audit.record writes it: personal values committed
                hashed, values = commit_personal(
                    {
                        "before": {"phone": f"138****{rng.randrange(10000):04d}", "address": f"{seq} Old Road…"},
                        "after": {"phone": f"139****{rng.randrange(10000):04d}", "address": f"{seq} New Road…"},
                    }
                )
                changes = canonical_json(hashed)
                beside.append((seq, json.dumps(values, sort_keys=True, ensure_ascii=False)))
                subjects.append((int(entity_id), seq))
            else:
                changes = canonical_json(
                    {
                        "before": {"status": "assigned"},
                        "after": {"status": "checked_in", "amount": f"{rng.randrange(100, 90000)}.00"},
                    }
                )
            request_id, client_ip = uuid.UUID(int=rng.getrandbits(128)).hex, f"10.{seq % 256}.{seq // 256 % 256}.7"
            lat = round(31.0 + rng.random() * 0.5, 6) if field else None
            lon = round(121.2 + rng.random() * 0.5, 6) if field else None
            chain = 1 if chains == 1 else 1 + actor % chains
            prev = heads[chain][1]
            digest = link_hash_values(
                seq,
                at.isoformat(),
                actor,
                role,
                action,
                entity_type,
                entity_id,
                changes,
                request_id,
                client_ip,
                lat,
                lon,
                prev,
            )
            yield (
                seq,
                at,
                actor,
                role,
                action,
                entity_type,
                entity_id,
                changes,
                request_id,
                client_ip,
                lat,
                lon,
                prev,
                digest,
                chain,
            )
            heads[chain] = (seq, digest)

    copy_rows(cur, "audit_events", columns, rows())
    copy_rows(cur, "audit_personal_values", ("seq", "values"), beside)
    copy_rows(cur, "audit_event_subjects", ("debtor_id", "seq"), subjects)
    for chain, (seq, digest) in heads.items():
        cur.execute(
            "INSERT INTO audit_chain_head (id, seq, hash) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (chain, seq, digest),
        )
    cur.execute("SELECT setval('audit_event_seq', %s)", (count,))
    log(f"    {len(beside):,} events carry personal values (committed; the values kept beside the chain)")


# ---------------------------------------------------------------- measuring


def foundation_verify(db, batch_size=20000):
    """The foundation's verify_chain (commit 3058fba), for a side-by-side ratio: SQLAlchemy
    mappings and json.dumps for every link. Same answer, measured on the same data."""
    import json

    from app.models import AuditEvent

    def link_hash(row):
        content = json.dumps(
            [
                row["seq"],
                row["occurred_at"].isoformat(),
                row["actor_user_id"],
                row["actor_role"],
                row["action"],
                row["entity_type"],
                row["entity_id"],
                row["changes"],
                row["request_id"],
                row["client_ip"],
                row["lat"],
                row["lon"],
                row["prev_hash"],
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(content.encode("utf-8")).hexdigest()

    checked, prev = 0, "0" * 64
    stmt = sa.select(*AuditEvent.__table__.columns).order_by(AuditEvent.seq)
    for row in db.session.execute(stmt.execution_options(yield_per=batch_size)).mappings():
        if row["seq"] != checked + 1 or row["prev_hash"] != prev or link_hash(row) != row["hash"]:
            return False, checked
        checked, prev = checked + 1, row["hash"]
    return True, checked


def cpu_and_wall(work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def timed_get(client, url, headers, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        body = response.get_data()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, body[:300])
    return times, response


def page_figures(client, headers, label, urls):
    samples, sizes = [], []
    client.get(urls[0], headers=headers).get_data()  # warm caches and the plan
    for url in urls:
        times, response = timed_get(client, url, headers, 3)
        samples += times
        sizes.append(len(response.get_json()["items"]))
    samples.sort()
    return {
        "what": label,
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(len(samples) * 0.95) - 1],
        "max_ms": samples[-1],
        "items": f"{min(sizes)}–{max(sizes)}",
        "requests": len(samples),
    }


def stream_figures(client, headers, url, label):
    """Stream a download, counting lines, and sample this process's RSS at every chunk."""
    import gc

    gc.collect()
    baseline = peak = rss_kb()
    started = time.perf_counter()
    response = client.get(url, headers=headers, buffered=False)
    assert response.status_code == 200
    lines = size = chunks = 0
    for chunk in response.response:
        lines += chunk.count(b"\n")
        size += len(chunk)
        chunks += 1
        if chunks % 4 == 0:
            peak = max(peak, rss_kb())
    response.close()
    seconds = time.perf_counter() - started
    peak = max(peak, rss_kb())
    rows = lines - (1 if "csv" in url else 0)
    return {
        "what": label,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "mb": size / 1e6,
        "rss_growth_mb": (peak - baseline) / 1024,
    }


def run(args):
    import flask_migrate
    import psycopg

    from app import create_app
    from app.extensions import db

    admin_url = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"fc_bench_audit_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    app = create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_FORMAT": "none",
            "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )
    rng = random.Random(args.seed)
    results = {}
    try:
        with app.app_context():
            flask_migrate.upgrade()
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            started = time.perf_counter()
            people = fill_organisation(conn, rng)
            fill_visits(conn, rng, args.visits)
            conn.commit()
            log(f"filled organisation and {args.visits:,} visits in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            fill_events(conn, rng, args.events, people, args.chains)
            conn.commit()
            log(f"filled {args.events:,} chained events in {time.perf_counter() - started:.1f} s")
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
        results["fill"] = True
        with app.app_context():
            from app.auth import _token_digest
            from app.models import ApiToken, User

            token = "bench-" + uuid.uuid4().hex
            auditor = db.session.scalar(sa.select(User).where(User.username == "auditor"))
            db.session.add(
                ApiToken(
                    user_id=auditor.id,
                    token_hash=_token_digest(token),
                    expires_at=datetime.now(UTC) + timedelta(hours=6),
                )
            )
            db.session.commit()
            db.session.remove()
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        pick = random.Random(args.seed + 1)
        collectors = [f"C{pick.randrange(COLLECTORS):03d}" for _ in range(args.samples)]
        months = [pick.choice(MONTHS) for _ in range(args.samples)]

        def month_query(i):
            first, last = months[i]
            return f"from={first.isoformat()}&to={last.isoformat()}"

        second_pages = []
        for i, c in enumerate(collectors):
            first = client.get(f"/api/v1/audit/events?collector={c}&{month_query(i)}", headers=headers).get_json()
            if first["next_after"] is not None:
                second_pages.append(f"/api/v1/audit/events?collector={c}&{month_query(i)}&after={first['next_after']}")
        second_pages = second_pages or [f"/api/v1/audit/events?collector={collectors[0]}&{month_query(0)}"]
        pages = [
            page_figures(
                client,
                headers,
                "events: one collector, one month (50/page)",
                [f"/api/v1/audit/events?collector={c}&{month_query(i)}" for i, c in enumerate(collectors)],
            ),
            page_figures(
                client,
                headers,
                "events: one collector, one month, 500/page",
                [f"/api/v1/audit/events?collector={c}&{month_query(i)}&limit=500" for i, c in enumerate(collectors)],
            ),
            page_figures(client, headers, "events: one collector, one month, 2nd page", second_pages),
            page_figures(
                client,
                headers,
                "events: one action, one month",
                [f"/api/v1/audit/events?action=agreement.created&{month_query(i)}" for i in range(args.samples)],
            ),
            page_figures(
                client,
                headers,
                "events: one entity",
                [
                    f"/api/v1/audit/events?entity_type=cases&entity_id={pick.randrange(1, 200000)}"
                    for _ in range(args.samples)
                ],
            ),
            page_figures(
                client,
                headers,
                "events: unfiltered, deep keyset page",
                [f"/api/v1/audit/events?after={pick.randrange(args.events)}" for _ in range(args.samples)],
            ),
            page_figures(
                client,
                headers,
                "visits: one collector, one month",
                [f"/api/v1/audit/visits?collector={c}&{month_query(i)}" for i, c in enumerate(collectors)],
            ),
            page_figures(
                client,
                headers,
                "visits: one crew, one month, flagged",
                [
                    f"/api/v1/audit/visits?crew=K{pick.randrange(1, CREWS + 1):03d}&{month_query(i)}&flag=out_of_hours"
                    for i in range(args.samples)
                ],
            ),
        ]
        results["pages"] = pages
        exports = [
            stream_figures(client, headers, "/api/v1/audit/events?format=csv", "events, CSV, all"),
            stream_figures(client, headers, "/api/v1/audit/events?format=ndjson", "events, NDJSON, all"),
            stream_figures(client, headers, "/api/v1/audit/visits?format=csv", "visits, CSV, all"),
        ]
        results["exports"] = exports
        with app.app_context():
            from app import audit

            runs = []
            for workers in args.verify_workers:
                for _ in range(args.verify_runs):
                    verified, wall, cpu = cpu_and_wall(lambda w=workers: audit.verify_chain(workers=w))
                    runs.append(
                        {
                            "checked": verified["checked"],
                            "ok": verified["ok"],
                            "seconds": wall,
                            "cpu": cpu,
                            "workers": workers,
                        }
                    )
            results["verify"] = runs
            if args.compare:
                (ok, checked), wall, cpu = cpu_and_wall(lambda: foundation_verify(db))
                results["verify_foundation"] = {"checked": checked, "ok": ok, "seconds": wall, "cpu": cpu}
            started = time.perf_counter()
            day = audit.daily_head(date(2026, 8, 15))
            results["daily_head"] = {
                "ms": (time.perf_counter() - started) * 1000,
                "seq": day["seq"],
                "final": day["final"],
            }
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                audit.verify_chain()
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
            db.session.remove()
            db.engine.dispose()
    finally:
        if args.keep:
            log(f"kept {url}")
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20, help="Different filters per page measurement.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile", action="store_true", help="Also profile verify_chain.")
    parser.add_argument("--verify-runs", type=int, default=2)
    parser.add_argument(
        "--verify-workers",
        type=lambda v: [int(w) for w in v.split(",")],
        default=[1, 2],
        help="Process counts to verify with, e.g. 1,2.",
    )
    parser.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="Skip the foundation's verify_chain (the side-by-side reference).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    parser.add_argument(
        "--chains", type=int, default=1, help="A partitioned log of this many chains (AUDIT_CHAINS); 1: one chain."
    )
    args = parser.parse_args()
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    log(
        f"{args.events:,} events on {args.chains} chain(s), {args.visits:,} visits; "
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {' '.join(load)}"
    )
    results = run(args)
    log(f"\n(a) pages through the API (auditor token; each figure over {args.samples} different filters × 3)")
    log(f"{'what':<46} {'median':>8} {'p95':>8} {'max':>8}  items")
    for p in results["pages"]:
        log(f"{p['what']:<46} {p['median_ms']:6.1f}ms {p['p95_ms']:6.1f}ms {p['max_ms']:6.1f}ms  {p['items']}")
    log("\n(b) streamed exports through the API")
    log(f"{'what':<22} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB':>7} {'peak RSS growth':>16}")
    for e in results["exports"]:
        log(
            f"{e['what']:<22} {e['rows']:>10,} {e['seconds']:8.1f} {e['rows_per_s']:9,.0f} {e['mb']:7.0f} "
            f"{e['rss_growth_mb']:13.1f} MB"
        )
    log("\n(c) verify_chain over the whole chain (wall clock; and, in one process, per CPU-second)")
    for v in results["verify"]:
        per_cpu = f"; {v['checked'] / v['cpu']:,.0f} events per CPU-second" if v["workers"] == 1 else ""
        log(
            f"    {v['workers']} process{'es' if v['workers'] > 1 else ''}: {v['checked']:,} events, ok={v['ok']}: "
            f"{v['seconds']:.2f} s, {v['checked'] / v['seconds']:,.0f} events/s{per_cpu}"
        )
    if "verify_foundation" in results:
        f = results["verify_foundation"]
        best = min((v for v in results["verify"] if v["workers"] == 1), key=lambda v: v["cpu"])
        log(
            f"    the foundation's verify on the same data: {f['seconds']:.2f} s, {f['checked'] / f['seconds']:,.0f} "
            f"events/s; {f['checked'] / f['cpu']:,.0f} per CPU-second (ok={f['ok']}); "
            f"now {f['cpu'] / best['cpu']:.1f}x less CPU"
        )
    d = results["daily_head"]
    log(f"    daily head of 2026-08-15: seq {d['seq']:,}, final={d['final']}, {d['ms']:.1f} ms")
    with open("/proc/loadavg") as loadavg:
        log(f"load average at the end: {' '.join(loadavg.read().split()[:3])}")


if __name__ == "__main__":
    main()
