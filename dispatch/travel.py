"""The contract's travel model, vectorised with numpy for the solver.

``distance_km = haversine(R = 6371.0088 km) * circuity`` and
``minutes = distance_km / speed_kmh * 60``.  The checker (``check.py``)
deliberately re-implements the same formula with scalar ``math`` so that a
bug here cannot hide itself from the check.

The solver works in whole seconds and whole metres because VROOM takes
integer matrices.  Durations are rounded *up*: a route that is feasible with
ceiled durations is feasible with the exact ones, so nothing the solver
accepts can be rejected by the checker for rounding.

A problem may supply its own matrix (road times from a routing engine, say);
then ``MatrixTravel`` answers the same questions as ``ModelTravel`` from it,
and nothing else in the solver needs to know which one it asks.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088


def distance_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike, circuity: float
) -> np.ndarray:
    """Road distance between every point of set 1 (rows) and set 2 (columns)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))[:, None]
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))[None, :]
    l1 = np.radians(np.asarray(lon1, dtype=np.float64))[:, None]
    l2 = np.radians(np.asarray(lon2, dtype=np.float64))[None, :]
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    km: np.ndarray = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0))) * circuity
    return km


def km_to_minutes(km: np.ndarray, speed_kmh: float) -> np.ndarray:
    """Travel minutes for a road distance (float, exact model)."""
    minutes: np.ndarray = km / speed_kmh * 60.0
    return minutes


def km_to_seconds_ceil(km: np.ndarray, speed_kmh: float) -> np.ndarray:
    """Whole travel seconds, rounded up so integer schedules stay conservative."""
    return np.ceil(km * (3600.0 / speed_kmh)).astype(np.int64)


def km_to_metres(km: np.ndarray) -> np.ndarray:
    """Whole metres, used as the cost that the solvers minimise."""
    return np.rint(km * 1000.0).astype(np.int64)


class Travel(Protocol):
    """What the solver asks of a travel model; ``ModelTravel`` and ``MatrixTravel`` both answer it."""

    def km(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray: ...
    def seconds(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray: ...
    def matrices(self, locs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]: ...
    def legs_km(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray: ...
    def legs_minutes(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray: ...
    def leg(self, a: int, b: int) -> tuple[int, int]: ...


class ModelTravel:
    """Legs between an ``Instance``'s locations by the contract's travel model.

    Locations are indices into ``lat``/``lon``.  Solver units are ceiled
    seconds and rounded metres; ``legs_minutes``/``legs_km`` are exact.
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, speed_kmh: float, circuity: float):
        self.lat, self.lon = lat, lon
        self.speed_kmh, self.circuity = speed_kmh, circuity

    def km(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        rows, cols = np.asarray(rows), np.asarray(cols)
        return distance_km(self.lat[rows], self.lon[rows], self.lat[cols], self.lon[cols], self.circuity)

    def seconds(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        return km_to_seconds_ceil(self.km(rows, cols), self.speed_kmh)

    def matrices(self, locs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        km = self.km(locs, locs)
        return km_to_seconds_ceil(km, self.speed_kmh), km_to_metres(km)

    def legs_km(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        a, b = np.asarray(a), np.asarray(b)
        p1, p2 = np.radians(self.lat[a]), np.radians(self.lat[b])
        dl = np.radians(self.lon[b] - self.lon[a])
        h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
        km: np.ndarray = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0))) * self.circuity
        return km

    def legs_minutes(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        return km_to_minutes(self.legs_km(a, b), self.speed_kmh)

    def leg(self, a: int, b: int) -> tuple[int, int]:
        p1, p2 = math.radians(self.lat[a]), math.radians(self.lat[b])
        dl = math.radians(self.lon[b] - self.lon[a])
        h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        km = 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0))) * self.circuity
        return math.ceil(km * 3600.0 / self.speed_kmh), round(km * 1000.0)


class MatrixTravel:
    """Legs looked up in a supplied matrix (``problem.Matrix``).

    ``rows[loc]`` is the matrix row of each ``Instance`` location.  The values
    are whole seconds and metres already, so solver units are exact and the
    plan's times are the matrix's to the second.
    """

    def __init__(self, rows: np.ndarray, durations_s: np.ndarray, distances_m: np.ndarray):
        self.rows = rows
        self.durations_s, self.distances_m = durations_s, distances_m

    def _pick(self, table: np.ndarray, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        picked: np.ndarray = table[np.ix_(self.rows[np.asarray(rows)], self.rows[np.asarray(cols)])]
        return picked

    def km(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        km: np.ndarray = self._pick(self.distances_m, rows, cols) / 1000.0
        return km

    def seconds(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> np.ndarray:
        return self._pick(self.durations_s, rows, cols)

    def matrices(self, locs: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        return self._pick(self.durations_s, locs, locs), self._pick(self.distances_m, locs, locs)

    def legs_km(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        km: np.ndarray = self.distances_m[self.rows[np.asarray(a)], self.rows[np.asarray(b)]] / 1000.0
        return km

    def legs_minutes(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        minutes: np.ndarray = self.durations_s[self.rows[np.asarray(a)], self.rows[np.asarray(b)]] / 60.0
        return minutes

    def leg(self, a: int, b: int) -> tuple[int, int]:
        ra, rb = self.rows[a], self.rows[b]
        return int(self.durations_s[ra, rb]), int(self.distances_m[ra, rb])
