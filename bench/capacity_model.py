"""The capacity model of docs/capacity.md: from measured costs to machines, for a lender
with 1,000 / 10,000 / 100,000 collectors. Arithmetic only, no database: every input is a
figure printed by a benchmark (pass the figures of your own run) or a stated assumption.

    .venv/bin/python bench/capacity_model.py \\
        --field-app-ms 26.5 --field-pg-ms 8.3 --field-audit 2.16 \\
        --route-app-ms 57.3 --route-pg-ms 7.3 --me-app-ms 6.3 --me-pg-ms 1.8 \\
        --login-app-ms 60 --login-pg-ms 2 --chain-commits-per-s 35

``--field-*``, ``--route-*``, ``--me-*``, ``--login-*``: CPU milliseconds per request of the
web worker and of PostgreSQL, and audit events per field action, from bench/capacity.py.
``--chain-commits-per-s``: what one audit chain carries when every writer queues on its
head (bench/audit_append.py, the "same" rows at 16 and 64 writers).
"""

import argparse
import math

SIZES = (1_000, 10_000, 100_000)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in (
        "field-app-ms",
        "field-pg-ms",
        "field-audit",
        "route-app-ms",
        "route-pg-ms",
        "me-app-ms",
        "me-pg-ms",
        "login-app-ms",
        "login-pg-ms",
        "chain-commits-per-s",
    ):
        p.add_argument(f"--{name}", type=float, required=True)
    # Assumptions (docs/capacity.md says where each comes from).
    p.add_argument("--stops", type=int, default=12, help="Doors per collector-day.")
    p.add_argument("--routes", type=int, default=4, help="Route fetches per collector-day.")
    p.add_argument("--mes", type=int, default=2, help="GET /me per collector-day.")
    p.add_argument("--logins", type=int, default=1, help="Logins per collector-day.")
    p.add_argument("--hours", type=float, default=9.0, help="The working day (the shift).")
    p.add_argument("--peak", type=float, default=2.0, help="Peak hour over the day's average hour.")
    p.add_argument("--utilisation", type=float, default=0.6, help="Target busy share of a core at peak.")
    p.add_argument("--collectors-per-team", type=int, default=50)
    p.add_argument("--plan-seconds", type=float, default=5.0, help="Engine CPU per team plan (DISPATCH_TIME_LIMIT).")
    p.add_argument("--night-hours", type=float, default=2.0, help="Window for the nightly plans.")
    p.add_argument("--web-cores-per-machine", type=int, default=4)
    a = p.parse_args()

    day = {  # requests per collector-day: (count, app ms, pg ms)
        "field action": (3 * a.stops, a.field_app_ms, a.field_pg_ms),
        "route": (a.routes, a.route_app_ms, a.route_pg_ms),
        "me": (a.mes, a.me_app_ms, a.me_pg_ms),
        "login": (a.logins, a.login_app_ms, a.login_pg_ms),
    }
    requests = sum(n for n, _, _ in day.values())
    app_ms = sum(n * c for n, c, _ in day.values())
    pg_ms = sum(n * c for n, _, c in day.values())
    appends = 3 * a.stops * a.field_audit
    print(
        f"per collector-day: {requests} requests ({3 * a.stops} field actions), {app_ms:,.0f} ms web CPU, "
        f"{pg_ms:,.0f} ms PostgreSQL CPU, {appends:.0f} audit events in {3 * a.stops} append transactions"
    )
    window = a.hours * 3600
    print(
        f"{'collectors':>11}{'peak req/s':>11}{'web cores':>10}{'gunicorn':>9}{'web hosts':>10}{'pg cores':>9}"
        f"{'commits/s':>10}{'chains':>7}{'plans':>6}{'rq':>4}{'events/yr':>11}"
    )
    for n in SIZES:
        rate = n * requests / window * a.peak
        web_cores = n * app_ms / 1000 / window * a.peak / a.utilisation
        hosts = max(1, math.ceil(web_cores / a.web_cores_per_machine))
        workers = 2 * hosts * a.web_cores_per_machine
        pg_cores = n * pg_ms / 1000 / window * a.peak / a.utilisation
        commits = n * 3 * a.stops / window * a.peak  # one append transaction per field action
        chains = max(1, math.ceil(commits / (a.chain_commits_per_s * a.utilisation)))
        teams = math.ceil(n / a.collectors_per_team)
        rq = max(1, math.ceil(teams * a.plan_seconds / (a.night_hours * 3600) / a.utilisation))
        events_year = n * appends * 250
        print(
            f"{n:>11,}{rate:>11.0f}{web_cores:>10.1f}{workers:>9}{hosts:>10}{pg_cores:>9.2f}{commits:>10.0f}"
            f"{chains:>7}{teams:>6}{rq:>4}{events_year / 1e9:>10.2f}B"
        )


if __name__ == "__main__":
    main()
