"""Solve a (sub-)problem with VROOM through pyvroom.

VROOM's objective is the contract's order exactly: it maximises the sum of
priorities, then the number of assigned jobs, then minimises cost.  The cost
matrix is the travel model's distance in metres, so "cost" is distance; the
duration matrix is in ceiled seconds (see ``travel.py``).

Skills, ``allowed_collectors`` and ``excluded_collectors`` all become VROOM
skills: tasks are grouped by the set of collectors that may serve them and
each distinct set gets one skill id, held by exactly the collectors in it.
That encodes any mix of the three rules with as few skill ids as there are
distinct sets (a handful, plus one per task with its own allow/exclude list).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import vroom
from vroom._vroom import VroomInputException  # pyvroom exports it nowhere else
from vroom.solution.solution import Solution

from .model import Instance

__all__ = ["VroomInputException", "solve_part"]

# VROOM runs each of its searches (up to 32) in a thread of its own, at most ``nb_threads``
# at once through a std::counting_semaphore. The semaphore compiled into the pyvroom wheel
# can lose a wake-up (libstdc++ before GCC 13, bug 104928): a search waiting for its turn
# sleeps for ever and the solve with it (seen: a demo seed that never ended, a plan request
# held until gunicorn killed its worker; the waiting thread asleep in the semaphore, the
# others done). With a thread for every search none ever waits on the semaphore; the
# searches, and so the plans, are the same, and they share the machine's cores as before.
THREADS = 32


def solve_part(
    inst: Instance,
    tasks: npt.ArrayLike,
    collectors: npt.ArrayLike,
    exploration_level: int = 5,
    initial: dict[int, list[int]] | None = None,
    searches: int | None = None,
) -> dict[int, list[int]]:
    """Routes (collector index -> ordered task indices) for ``tasks`` over ``collectors``.

    With ``initial`` routes, VROOM skips its construction heuristics and runs
    its local search from them, ``exploration_level`` being the depth of its
    ruin-and-recreate.  With ``searches``, VROOM builds only that many starting
    solutions (level 0 builds four) and ``exploration_level`` is the depth.
    Tasks that VROOM leaves out are simply absent from every route.
    """
    tasks = np.asarray(tasks, dtype=np.int64)
    collectors = np.asarray(collectors, dtype=np.int64)
    if len(tasks) == 0 or len(collectors) == 0:
        return {int(c): [] for c in collectors}
    t, k = len(tasks), len(collectors)
    locs = np.concatenate([tasks, collectors + inst.n, collectors + inst.n + inst.m])
    seconds, metres = inst.matrices(locs)

    problem = vroom.Input()
    problem.set_durations_matrix("car", seconds.astype(np.uint32))
    problem.set_costs_matrix("car", metres.astype(np.uint32))

    may = inst.static_ok[np.ix_(tasks, collectors)]
    skill_of_set: dict[bytes, int] = {}
    task_skill = np.full(t, -1, dtype=np.int64)
    for row in range(t):
        if not may[row].all():
            key = may[row].tobytes()
            task_skill[row] = skill_of_set.setdefault(key, len(skill_of_set))
    vehicle_skills: list[set[int]] = [set() for _ in range(k)]
    for key, skill in skill_of_set.items():
        for holder in np.flatnonzero(np.frombuffer(key, dtype=bool)):
            vehicle_skills[holder].add(skill)

    row_of = {int(task): row for row, task in enumerate(tasks)}
    for j, c in enumerate(collectors):
        visits = int(inst.max_visits[c])
        vehicle_steps = (
            ()
            if initial is None
            else (
                [vroom.VehicleStepStart()]
                + [vroom.VehicleStepSingle(row_of[task]) for task in initial[int(c)]]
                + [vroom.VehicleStepEnd()]
            )
        )
        problem.add_vehicle(
            vroom.Vehicle(
                j,
                start=t + j,
                end=t + k + j,
                time_window=vroom.TimeWindow(int(inst.shift_start[c]), int(inst.shift_end[c])),
                skills=vehicle_skills[j],
                max_tasks=min(visits, t),
                steps=vehicle_steps,
            )
        )
    for row, task in enumerate(tasks):
        problem.add_job(
            vroom.Job(
                row,
                location=row,
                default_service=int(inst.service[task]),
                skills=set() if task_skill[row] < 0 else {int(task_skill[row])},
                priority=int(inst.priority[task]),
                time_windows=[vroom.TimeWindow(a, b) for a, b in inst.windows[task]],
            )
        )
    if searches is None:
        solution = problem.solve(exploration_level=exploration_level, nb_threads=THREADS)
    else:  # pyvroom's binding of VROOM's (searches, depth) entry point
        solution = Solution(
            problem._solve(nb_searches=searches, depth=exploration_level, nb_threads=THREADS, timeout=None)
        )
    steps = np.asarray(solution._routes_numpy())
    routes: dict[int, list[int]] = {int(c): [] for c in collectors}
    is_job = steps["type"].astype("U9") == "job"
    for vehicle, job in zip(steps["vehicle_id"][is_job], steps["id"][is_job]):
        routes[int(collectors[vehicle])].append(int(tasks[job]))
    return routes
