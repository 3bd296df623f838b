"""Benchmark: audit appends per second on PostgreSQL with 1, 4, 16 and 64 concurrent writers.

    .venv/bin/python bench/audit_append.py [--writers 1,4,16,64] [--seconds 8] [--chains 16] [--spread both]

One command: it creates a throwaway PostgreSQL database, builds it with the migrations,
then for each writer count forks that many processes (each with its own connection) that
append through ``app.audit`` itself, as a request does: ``audit.record`` one event (with a
position and a personal value, like a field action) and ``db.session.commit()``, in a loop,
for ``--seconds``. Every commit is a real PostgreSQL commit (WAL flush), so a writer's
append costs what a field action's audit append costs.

``--spread``: ``same`` puts every writer's events on one chain (one actor for all: the
worst case, and what every append did before the log was partitioned); ``spread`` gives
each writer its own actor, so with ``--chains`` > 1 their appends land on different
chains (``AUDIT_CHAINS``; ignored by a build without partitions). ``both`` runs the two.

"app ms" / "pg ms": CPU milliseconds per append of the writer processes and of their
PostgreSQL backends (from /proc; PostgreSQL runs on the same machine), which is what a
capacity model needs (docs/capacity.md). "head lock wait": the share of the writers' time
spent in the statement that locks a chain head, i.e. queued behind another writer of the
same chain (0 % would be no queue).

Each run ends with ``verify_chain``: the figures count only appends that verify. The load
average is printed before and after: the machine is shared, so compare the rows of one
run with each other rather than with another machine's. The database is dropped at the end.
"""

import argparse
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("APP_ENV", "development")

import flask_migrate  # noqa: E402
import sync_batch  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import text as sa_text  # noqa: E402

from app import audit, create_app  # noqa: E402
from app.extensions import db  # noqa: E402


def cpu_seconds(pid):
    """CPU time (user + system) of a process so far, from /proc: PostgreSQL's backend of a
    connection runs on this machine, so its share of an append can be read directly."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def writer(app, number, spread, start, go, stop_at, results):
    """One process: append until ``stop_at`` (after all have started), count the commits."""
    with app.app_context():
        db.engine.dispose(close=False)  # the parent's pool is not this process's
        actor = SimpleNamespace(id=1000 + (number if spread else 0), role="agent")
        # Time spent in the statement that locks a chain head (waiting for the writer before).
        waited, started = [0.0], [0.0]

        def before(conn, cursor, statement, *rest):
            started[0] = time.perf_counter() if "FOR UPDATE" in statement else 0.0

        def after(conn, cursor, statement, *rest):
            if started[0]:
                waited[0] += time.perf_counter() - started[0]

        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        # Warm up: the first statement of a connection pays for connecting.
        audit.record("bench.warmup", entity_type="bench", entity_id=number, actor=actor)
        db.session.commit()
        backend = db.session.execute(sa_text("SELECT pg_backend_pid()")).scalar_one()
        db.session.commit()
        start.wait()
        go.wait()
        waited[0] = 0.0
        cpu, pg_cpu = time.process_time(), cpu_seconds(backend)
        appended, n = 0, 0
        deadline = stop_at.value
        while time.time() < deadline:
            n += 1
            audit.record(
                "bench.appended",
                entity_type="visits",
                entity_id=f"{number}-{n}",
                actor=actor,
                before={"status": "planned"},
                after={"status": "visited", "phone": "13800001111"},
                lat=31.2 + number / 1000,
                lon=121.4,
            )
            db.session.commit()
            appended += 1
        cpu, pg_cpu = time.process_time() - cpu, cpu_seconds(backend) - pg_cpu
        db.session.remove()
        db.engine.dispose()
    results.put((appended, waited[0], cpu, pg_cpu))


def run(app, writers, seconds, spread):
    context = multiprocessing.get_context("fork")
    start, go = context.Barrier(writers + 1), context.Barrier(writers + 1)
    stop_at = context.Value("d", 0.0)
    results = context.Queue()
    processes = [
        context.Process(target=writer, args=(app, n, spread, start, go, stop_at, results)) for n in range(writers)
    ]
    for process in processes:
        process.start()
    start.wait()  # every writer connected and warm
    began = time.time()
    stop_at.value = began + seconds
    go.wait()  # writers read the deadline after this
    counts = [results.get(timeout=seconds + 600) for _ in processes]
    wall = time.time() - began
    for process in processes:
        process.join(timeout=60)
    appended = sum(c[0] for c in counts)
    return (
        appended,
        wall,
        sum(c[1] for c in counts) / (wall * writers),
        1000 * sum(c[2] for c in counts) / max(appended, 1),
        1000 * sum(c[3] for c in counts) / max(appended, 1),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=lambda v: [int(w) for w in v.split(",")], default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--chains", type=int, default=16, help="AUDIT_CHAINS (a partitioned build only).")
    parser.add_argument("--spread", choices=("same", "spread", "both"), default="both")
    args = parser.parse_args()
    url, (admin, name) = sync_batch.database("postgresql")
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_ENABLED": False,
                "LOG_FORMAT": "none",
                "AUDIT_CHAINS": args.chains,
            }
        )
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            db.session.remove()
            db.engine.dispose()
        modes = ("same", "spread") if args.spread == "both" else (args.spread,)
        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"PostgreSQL local; load average before {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        print(f"AUDIT_CHAINS={args.chains}, {args.seconds:g} s per row", flush=True)
        print(
            f"{'writers':>8}{'actors':>9}{'appends':>10}{'appends/s':>11}{'per writer/s':>14}"
            f"{'head lock wait':>16}{'app ms':>10}{'pg ms':>10}{'load':>7}",
            flush=True,
        )
        for mode in modes:
            for writers in args.writers:
                appended, wall, locked, cpu, pg_cpu = run(app, writers, args.seconds, mode == "spread")
                print(
                    f"{writers:>8}{mode:>9}{appended:>10}{appended / wall:>11.0f}{appended / wall / writers:>14.1f}"
                    f"{locked:>16.0%}{cpu:>10.2f}{pg_cpu:>10.2f}{os.getloadavg()[0]:>7.2f}",
                    flush=True,
                )
        with app.app_context():
            result = audit.verify_chain()
            print(f"verify_chain: ok={result['ok']}, {result['checked']} events", flush=True)
            db.session.remove()
            db.engine.dispose()
        print(f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
