"""Split a large day into territories small enough for VROOM to solve well.

One VROOM run over 1,000 tasks takes tens of seconds at exploration level 2
and grows faster than linearly with size, while a territory of a couple of
hundred tasks is solved at level 0 in a fraction of a second.  So:

1. Territories: the collectors' home bases are cut by recursive coordinate
   bisection (always split the wider side at the median) into groups of about
   ``collectors_per_part``.  Bisection is deterministic, needs no random
   start, and yields compact, equally staffed groups; because teams are
   staffed by demand, equal staff means roughly equal work.
2. Tasks to territories: tasks are taken by decreasing priority and given to
   the nearest *eligible* collector who still has visits to spare (a
   stand-in for capacity, with some slack); the task joins that collector's
   territory.  Once every eligible collector is notionally full, the task
   goes to the nearest one's territory, where the territory's solve decides
   what to drop.
"""

from __future__ import annotations

import numpy as np

from .model import Instance

KM_PER_DEG = 111.2
NEAREST_CANDIDATES = 40


def plane_xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular projection in km around latitude ``lat0``, fine at city scale."""
    return np.column_stack([lon * KM_PER_DEG * np.cos(np.radians(lat0)), lat * KM_PER_DEG])


def territories(inst: Instance, collectors_per_part: int) -> list[np.ndarray]:
    """Groups of collector indices, compact and of (nearly) equal size."""
    xy = plane_xy(inst.lat[inst.n : inst.n + inst.m], inst.lon[inst.n : inst.n + inst.m], inst.lat0)
    parts: list[np.ndarray] = []

    def split(members: np.ndarray) -> None:
        if len(members) <= collectors_per_part:
            parts.append(np.sort(members))
            return
        spread = xy[members].max(axis=0) - xy[members].min(axis=0)
        axis = int(np.argmax(spread))
        order = members[np.argsort(xy[members, axis], kind="stable")]
        # Cut so both halves hold a whole number of parts where possible.
        pieces = -(-len(members) // collectors_per_part)
        cut = len(members) * (pieces // 2) // pieces
        split(order[:cut])
        split(order[cut:])

    if inst.m:
        split(np.arange(inst.m))
    return parts


def assign_tasks(inst: Instance, parts: list[np.ndarray], slack: float) -> list[np.ndarray]:
    """Task indices for each territory; tasks nobody may serve are left out.

    A collector notionally takes up to ``slack`` times its ``max_visits``:
    a little over one lets each territory's solve pick which low-priority
    tasks to drop rather than sending them far away up front.
    """
    part_of = np.empty(inst.m, dtype=np.int64)
    for p, part in enumerate(parts):
        part_of[part] = p
    servable = np.flatnonzero(inst.servable)
    # Highest priority first, so that the notional capacity goes to them.
    order = servable[np.argsort(-inst.priority[servable], kind="stable")]
    spare = np.ceil(inst.max_visits * slack).astype(np.int64)
    home = np.empty(inst.n, dtype=np.int64)
    starts = np.arange(inst.m) + inst.n
    for lo in range(0, len(order), 1024):
        rows = order[lo : lo + 1024]
        km = inst.km_matrix(rows, starts)
        km[~inst.eligible[rows]] = np.inf
        k = min(NEAREST_CANDIDATES, inst.m)
        near = np.argpartition(km, k - 1, axis=1)[:, :k] if k < inst.m else np.tile(np.arange(inst.m), (len(rows), 1))
        near_km = np.take_along_axis(km, near, axis=1)
        near = np.take_along_axis(near, np.argsort(near_km, axis=1, kind="stable"), axis=1)
        near_km = np.sort(near_km, axis=1)
        for r, task in enumerate(rows):
            chosen = near[r, 0]
            for c, d in zip(near[r], near_km[r]):
                if not np.isfinite(d):
                    break
                if spare[c] > 0:
                    chosen = c
                    break
            spare[chosen] -= 1
            home[task] = part_of[chosen]
    members: list[list[int]] = [[] for _ in parts]
    for task in servable:
        members[home[task]].append(task)
    return [np.array(m, dtype=np.int64) for m in members]
