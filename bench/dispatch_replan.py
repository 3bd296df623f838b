"""How long re-planning takes on a committed day, and whether its plans hold.

    python bench/dispatch_replan.py --tasks 1000 --collectors 120 --seed 1

Solves one generated day, then inserts urgent tasks at several moments of
the day and drops collectors out at several moments, timing each call (the
whole public function: parsing, eligibility, insertion, plan building) and
verifying every resulting plan with ``dispatch.check``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatch import check, drop_collector, generate, insert_task, solve  # noqa: E402

MOMENTS = ["09:00", "11:00", "13:00", "15:00", "17:00"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--collectors", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4, help="calls per moment")
    args = parser.parse_args()
    problem = generate(args.tasks, args.collectors, seed=args.seed)
    plan = solve(problem)
    print(f"day: {args.tasks} tasks, {args.collectors} collectors, {plan['summary']['assigned']} assigned")
    rng = np.random.default_rng(args.seed)
    lats = [t["lat"] for t in problem["tasks"]]
    lons = [t["lon"] for t in problem["tasks"]]

    inserts, drops, failures, moves = [], [], 0, []
    for now in MOMENTS:
        for k in range(args.repeats):
            j = int(rng.integers(len(lats)))
            urgent = {
                "id": f"urgent-{now}-{k}",
                "lat": lats[j] + 0.003,
                "lon": lons[j],
                "priority": 100,
                "windows": [[now, "20:00"]],
            }
            began = time.perf_counter()
            result = insert_task(problem, plan, urgent, now=now)
            inserts.append(time.perf_counter() - began)
            moves.append(len(result["moves"]))
            failures += bool(check(result["problem"], result["plan"]))
            route = plan["routes"][int(rng.integers(len(plan["routes"])))]
            began = time.perf_counter()
            result = drop_collector(problem, plan, route["collector"], now=now)
            drops.append(time.perf_counter() - began)
            failures += bool(check(problem, result["plan"]))

    for name, times in (("insert_task", inserts), ("drop_collector", drops)):
        print(
            f"{name:<15} calls {len(times):>3}  median {statistics.median(times) * 1000:7.1f} ms"
            f"  max {max(times) * 1000:7.1f} ms"
        )
    print(f"insert_task moved other stops in {sum(m > 0 for m in moves)} of {len(moves)} calls")
    print(f"plans failing check: {failures}")


if __name__ == "__main__":
    main()
