"""The solvers compared with the dispatch engine, one per subprocess.

``python bench/dispatch_peers.py PEER PROBLEM.json PLAN.json`` solves one
problem with one peer and writes the contract's plan JSON, whose
``summary.solve_seconds`` is the time from the parsed problem dict to the
routes (building matrices included).  Every peer sees exactly the engine's
inputs — the contract's travel model, priorities, skills, allowed/excluded
collectors, windows, shifts and ``max_visits`` — and its plan is written with
the engine's plan builder so that ``check`` judges all of them alike.

Peers: ``engine`` (``engine:SECONDS`` with that time limit); ``vroom0``/
``vroom2``/``vroom5`` (VROOM on the whole day at that exploration level,
a thread per search: ``dispatch.vroom_backend.THREADS``); ``ortools``
(OR-Tools routing, guided local search under a time limit); ``greedy``
(nearest crew first).  With ``DISPATCH_ENGINE_ROOT`` set, the ``dispatch``
package is imported from that folder instead (an earlier revision of the
engine, for side-by-side runs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("DISPATCH_ENGINE_ROOT") or str(Path(__file__).resolve().parent.parent))

from dispatch import solve  # noqa: E402
from dispatch.model import Instance  # noqa: E402
from dispatch.plan import build_plan  # noqa: E402
from dispatch.problem import parse  # noqa: E402
from dispatch.routes import best_insertion, evaluate  # noqa: E402
from dispatch.solver import unassigned_reasons  # noqa: E402
from dispatch.vroom_backend import solve_part  # noqa: E402

ORTOOLS_MAX_NODES = 4000  # a dense matrix handed over as Python lists beyond this needs many GB


def ortools_time_limit(n_tasks: int) -> int:
    """Seconds of OR-Tools search: generous, so it is not handicapped by the budget."""
    return int(min(120, max(10, n_tasks / 20)))


def run_vroom(inst: Instance, level: int) -> dict[int, list[int]]:
    return solve_part(inst, np.flatnonzero(inst.servable), np.arange(inst.m), level)


def run_greedy(inst: Instance) -> dict[int, list[int]]:
    """Highest priority first, each task to the nearest eligible crew that can fit it.

    "Nearest" is by home base; the task goes to that collector's cheapest
    feasible position, else to the next nearest collector, and so on.
    """
    routes = {c: [] for c in range(inst.m)}
    times = {c: evaluate(inst, c, []) for c in range(inst.m)}
    order = np.flatnonzero(inst.servable)
    order = order[np.argsort(-inst.priority[order], kind="stable")]
    for task in order:
        candidates = np.flatnonzero(inst.eligible[task])
        km = inst.legs_km(np.full(len(candidates), task), candidates + inst.n)
        for c in candidates[np.argsort(km, kind="stable")]:
            found = best_insertion(inst, int(task), int(c), routes[c], times[c])
            if found:
                routes[c].insert(found.position, int(task))
                times[c] = evaluate(inst, int(c), routes[c])
                break
    return routes


def run_ortools(inst: Instance) -> dict[int, list[int]]:
    """OR-Tools routing with the contract's lexicographic order as penalties.

    Dropping a task costs ``priority * BIG_PRIORITY + BIG_TASK`` and arcs
    cost metres, with ``BIG_TASK`` above any possible total distance and
    ``BIG_PRIORITY`` above all ``BIG_TASK`` together, so priority comes
    first, then the count, then distance — as in the contract.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    servable = np.flatnonzero(inst.servable)
    # A task with several windows becomes one node per window, in a single
    # disjunction: at most one copy is visited.  (Holes in a cumul domain via
    # RemoveInterval made OR-Tools drop every task in our trials.)
    copies = [(int(task), w) for task in servable for w in inst.windows[task]]
    tasks = np.array([task for task, _ in copies], dtype=np.int64)
    t, m = len(tasks), inst.m
    if t + 2 * m > ORTOOLS_MAX_NODES:
        raise RuntimeError(f"not attempted: {t + 2 * m} nodes exceed {ORTOOLS_MAX_NODES}")
    locs = np.concatenate([tasks, np.arange(m) + inst.n, np.arange(m) + inst.n + inst.m])
    seconds, metres = inst.matrices(locs)
    service = np.zeros(len(locs), dtype=np.int64)
    service[:t] = inst.service[tasks]
    travel = (seconds + service[:, None]).tolist()
    manager = pywrapcp.RoutingIndexManager(len(locs), m, [t + j for j in range(m)], [t + m + j for j in range(m)])
    routing = pywrapcp.RoutingModel(manager)
    cost = routing.RegisterTransitMatrix(metres.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    time_cb = routing.RegisterTransitMatrix(travel)
    routing.AddDimension(time_cb, 24 * 3600, 24 * 3600, False, "time")
    clock = routing.GetDimensionOrDie("time")
    count = routing.RegisterUnaryTransitVector([1] * t + [0] * (2 * m))
    routing.AddDimensionWithVehicleCapacity(
        count, 0, [int(min(inst.max_visits[c], t)) for c in range(m)], True, "visits"
    )
    big_task = int(metres.max()) * (t + 2 * m) + 1
    big_priority = big_task * (len(servable) + 1)
    nodes_of: dict[int, list[int]] = {}
    for row, (task, (a, b)) in enumerate(copies):
        index = manager.NodeToIndex(row)
        clock.CumulVar(index).SetRange(a, b)
        allowed = [int(c) for c in np.flatnonzero(inst.eligible[task])]
        if len(allowed) < m:
            routing.VehicleVar(index).SetValues([-1] + allowed)
        nodes_of.setdefault(task, []).append(index)
    for task, indices in nodes_of.items():
        routing.AddDisjunction(indices, int(inst.priority[task]) * big_priority + big_task, 1)
    for c in range(m):
        for index in (routing.Start(c), routing.End(c)):
            clock.CumulVar(index).SetRange(int(inst.shift_start[c]), int(inst.shift_end[c]))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.seconds = ortools_time_limit(t)
    solution = routing.SolveWithParameters(params)
    routes = {c: [] for c in range(m)}
    if solution is None:
        return routes
    for c in range(m):
        index = solution.Value(routing.NextVar(routing.Start(c)))
        while not routing.IsEnd(index):
            routes[c].append(int(tasks[manager.IndexToNode(index)]))
            index = solution.Value(routing.NextVar(index))
    return routes


def main(peer: str, problem_path: str, plan_path: str) -> None:
    problem = json.loads(Path(problem_path).read_text(encoding="utf-8"))
    began = time.perf_counter()
    if peer == "engine" or peer.startswith("engine:"):
        plan = solve(problem, time_limit=float(peer[7:]) if ":" in peer else None)
    else:
        inst = Instance(parse(problem))
        if peer.startswith("vroom"):
            routes = run_vroom(inst, int(peer[5:]))
        elif peer == "ortools":
            routes = run_ortools(inst)
        elif peer == "greedy":
            routes = run_greedy(inst)
        else:
            raise SystemExit(f"unknown peer {peer!r}")
        plan = build_plan(inst, routes, unassigned_reasons(inst, routes), time.perf_counter() - began)
    Path(plan_path).write_text(json.dumps(plan), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
