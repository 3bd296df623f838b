"""The contract's travel model, vectorised with numpy for the solver.

``distance_km = haversine(R = 6371.0088 km) * circuity`` and
``minutes = distance_km / speed_kmh * 60``.  The checker (``check.py``)
deliberately re-implements the same formula with scalar ``math`` so that a
bug here cannot hide itself from the check.

The solver works in whole seconds and whole metres because VROOM takes
integer matrices.  Durations are rounded *up*: a route that is feasible with
ceiled durations is feasible with the exact ones, so nothing the solver
accepts can be rejected by the checker for rounding.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1, lon1, lat2, lon2, circuity: float) -> np.ndarray:
    """Road distance between every point of set 1 (rows) and set 2 (columns)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))[:, None]
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))[None, :]
    l1 = np.radians(np.asarray(lon1, dtype=np.float64))[:, None]
    l2 = np.radians(np.asarray(lon2, dtype=np.float64))[None, :]
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0))) * circuity


def km_to_minutes(km, speed_kmh: float):
    """Travel minutes for a road distance (float, exact model)."""
    return km / speed_kmh * 60.0


def km_to_seconds_ceil(km: np.ndarray, speed_kmh: float) -> np.ndarray:
    """Whole travel seconds, rounded up so integer schedules stay conservative."""
    return np.ceil(km * (3600.0 / speed_kmh)).astype(np.int64)


def km_to_metres(km: np.ndarray) -> np.ndarray:
    """Whole metres, used as the cost that the solvers minimise."""
    return np.rint(km * 1000.0).astype(np.int64)
