"""Validation and parsing of a dispatch problem (see shared/dispatch-contract.md).

``validate`` collects *every* problem it can find, each naming the field path
(``tasks[12].lat: must be between -90 and 90``), because a supervisor fixing
an import wants the whole list at once, not one error per attempt.
``parse`` turns a valid dict into immutable dataclasses with times in minutes
after local midnight.

Unknown keys are rejected: the contract is small, and a misspelt optional
field (``"prority": 90``) would otherwise silently fall back to its default.

A supplied ``matrix`` must name every task, every collector's start and every
end that differs from its start, each once, and nothing else; its two tables
must be square in that order, of whole non-negative seconds and metres.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

DEFAULT_SPEED_KMH = 25.0
DEFAULT_CIRCUITY = 1.3
DEFAULT_SERVICE_MINUTES = 30
DAY_MINUTES = 24 * 60

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_TOP_KEYS = {"date", "timezone", "travel", "collectors", "tasks", "matrix"}
_MATRIX_KEYS = {"locations", "durations_s", "distances_m"}
MATRIX_MAX_VALUE = 1_000_000_000  # seconds (31 years) or metres (a million km)
MATRIX_MAX_ROW_ERRORS = 20  # a matrix of the wrong kind would otherwise flood the report
_TRAVEL_KEYS = {"speed_kmh", "circuity"}
_COLLECTOR_KEYS = {"id", "lat", "lon", "end_lat", "end_lon", "shift", "max_visits", "skills"}
_TASK_KEYS = {
    "id",
    "lat",
    "lon",
    "windows",
    "service_minutes",
    "priority",
    "skills",
    "allowed_collectors",
    "excluded_collectors",
}


class ProblemError(ValueError):
    """The problem is invalid; ``errors`` holds one line per problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Collector:
    id: str
    lat: float
    lon: float
    end_lat: float
    end_lon: float
    shift_start: int  # minutes after local midnight
    shift_end: int
    max_visits: int | None  # None: no limit
    skills: frozenset[str]


@dataclass(frozen=True)
class Task:
    id: str
    lat: float
    lon: float
    windows: tuple[tuple[int, int], ...] | None  # None: the collector's whole shift
    service_minutes: int
    priority: int
    skills: frozenset[str]
    allowed_collectors: frozenset[str] | None
    excluded_collectors: frozenset[str]


@dataclass(frozen=True, eq=False)
class Matrix:
    """A supplied travel matrix: ``index`` maps a location name to its row."""

    index: dict[str, int]
    durations_s: np.ndarray  # (L, L) int64
    distances_m: np.ndarray

    def start_row(self, collector_id: str) -> int:
        return self.index[collector_id]

    def end_row(self, collector_id: str) -> int:
        """A collector's end row; its start's when the end is not listed."""
        return self.index.get(f"{collector_id}:end", self.index[collector_id])


@dataclass(frozen=True)
class Problem:
    date: str | None
    timezone: str | None
    speed_kmh: float
    circuity: float
    collectors: tuple[Collector, ...]
    tasks: tuple[Task, ...]
    matrix: Matrix | None = None


def is_hhmm(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a ``HH:MM`` string between 00:00 and 23:59."""
    return isinstance(value, str) and _HHMM.match(value) is not None


def parse_hhmm(text: str) -> int:
    """Minutes after midnight of a valid ``HH:MM`` string."""
    return int(text[:2]) * 60 + int(text[3:5])


def format_hhmm(minutes: float) -> str:
    """``HH:MM`` of a time in minutes, rounded to the nearest minute.

    Rounding to the nearest (not down) keeps a start that lies inside a
    window with whole-minute bounds inside it after formatting.
    """
    whole = int(math.floor(minutes + 0.5))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _is_number(value: object) -> TypeGuard[float]:
    # bool is an int subclass in Python; true/false are not coordinates.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Validator:
    """Walks the raw dict once, appending ``path: message`` lines."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def unknown_keys(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(obj) - allowed, key=str):
            self.err(f"{path}.{key}" if path else str(key), "unknown field")

    def number(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        lo: float,
        hi: float,
        required: bool = True,
        lo_open: bool = False,
    ) -> float | None:
        if key not in obj:
            if required:
                self.err(f"{path}.{key}", "is required")
            return None
        value = obj[key]
        if not _is_number(value):
            self.err(f"{path}.{key}", "must be a number")
            return None
        if value < lo or value > hi or (lo_open and value == lo):
            bound = f"greater than {lo}" if lo_open and value == lo else f"between {lo} and {hi}"
            self.err(f"{path}.{key}", f"must be {bound}")
            return None
        return value

    def integer(self, obj: dict[str, Any], key: str, path: str, lo: int, hi: int) -> int | None:
        if key not in obj or obj[key] is None:
            return None
        value = obj[key]
        if not _is_int(value):
            self.err(f"{path}.{key}", "must be an integer")
            return None
        if value < lo or value > hi:
            self.err(f"{path}.{key}", f"must be between {lo} and {hi}")
            return None
        return value

    def hhmm(self, value: object, path: str) -> int | None:
        if not is_hhmm(value):
            self.err(path, "must be a time HH:MM between 00:00 and 23:59")
            return None
        return parse_hhmm(value)

    def interval(self, value: object, path: str) -> tuple[int, int] | None:
        """A ``["HH:MM", "HH:MM"]`` pair with start before end."""
        if not isinstance(value, list) or len(value) != 2:
            self.err(path, 'must be a pair ["HH:MM", "HH:MM"]')
            return None
        start = self.hhmm(value[0], f"{path}[0]")
        end = self.hhmm(value[1], f"{path}[1]")
        if start is None or end is None:
            return None
        if start >= end:
            self.err(path, "start must be before end")
            return None
        return start, end

    def string_list(self, obj: dict[str, Any], key: str, path: str, allow_null: bool = False) -> list[str] | None:
        if key not in obj:
            return None
        value = obj[key]
        if value is None:
            if not allow_null:
                self.err(f"{path}.{key}", "must be a list of strings")
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.err(f"{path}.{key}", "must be a list of non-empty strings")
            return None
        return value

    def ident(self, obj: dict[str, Any], path: str, seen: set[str]) -> str | None:
        value = obj.get("id")
        if "id" not in obj:
            self.err(f"{path}.id", "is required")
        elif not isinstance(value, str) or not value:
            self.err(f"{path}.id", "must be a non-empty string")
        elif value in seen:
            self.err(f"{path}.id", f"duplicate id {value!r}")
        else:
            seen.add(value)
            return value
        return None


def validate(raw: object) -> list[str]:
    """Every problem found in ``raw``, one ``path: message`` line each; [] if valid."""
    v = _Validator()
    if not isinstance(raw, dict):
        v.err("problem", "must be a JSON object")
        return v.errors
    v.unknown_keys(raw, _TOP_KEYS, "")

    if "date" in raw:
        date = raw["date"]
        try:
            if not isinstance(date, str):
                raise ValueError
            _dt.date.fromisoformat(date)
        except ValueError:
            v.err("date", "must be a date YYYY-MM-DD")
    if "timezone" in raw:
        tz = raw["timezone"]
        try:
            if not isinstance(tz, str) or not tz:
                raise ValueError
            zoneinfo.ZoneInfo(tz)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            v.err("timezone", "must be an IANA time zone name")

    travel = raw.get("travel")
    if travel is not None:
        if not isinstance(travel, dict):
            v.err("travel", "must be an object")
        else:
            v.unknown_keys(travel, _TRAVEL_KEYS, "travel")
            v.number(travel, "speed_kmh", "travel", 0, 300, required=False, lo_open=True)
            v.number(travel, "circuity", "travel", 1, 10, required=False)

    collector_ids: set[str] = set()
    collectors = raw.get("collectors")
    if not isinstance(collectors, list):
        v.err("collectors", "is required and must be a list")
        collectors = []
    for i, c in enumerate(collectors):
        path = f"collectors[{i}]"
        if not isinstance(c, dict):
            v.err(path, "must be an object")
            continue
        v.unknown_keys(c, _COLLECTOR_KEYS, path)
        v.ident(c, path, collector_ids)
        v.number(c, "lat", path, -90, 90)
        v.number(c, "lon", path, -180, 180)
        v.number(c, "end_lat", path, -90, 90, required=False)
        v.number(c, "end_lon", path, -180, 180, required=False)
        if ("end_lat" in c) != ("end_lon" in c):
            v.err(path, "end_lat and end_lon must be given together")
        if "shift" not in c:
            v.err(f"{path}.shift", "is required")
        else:
            v.interval(c["shift"], f"{path}.shift")
        v.integer(c, "max_visits", path, 0, 10_000)
        v.string_list(c, "skills", path)

    tasks = raw.get("tasks")
    if not isinstance(tasks, list):
        v.err("tasks", "is required and must be a list")
        tasks = []
    task_ids: set[str] = set()
    for i, t in enumerate(tasks):
        path = f"tasks[{i}]"
        if not isinstance(t, dict):
            v.err(path, "must be an object")
            continue
        v.unknown_keys(t, _TASK_KEYS, path)
        v.ident(t, path, task_ids)
        v.number(t, "lat", path, -90, 90)
        v.number(t, "lon", path, -180, 180)
        windows = t.get("windows")
        if windows is not None:
            if not isinstance(windows, list) or not windows:
                v.err(f"{path}.windows", "must be a non-empty list of [start, end] pairs or null")
            else:
                for j, w in enumerate(windows):
                    v.interval(w, f"{path}.windows[{j}]")
        v.integer(t, "service_minutes", path, 0, DAY_MINUTES)
        v.integer(t, "priority", path, 0, 100)
        v.string_list(t, "skills", path)
        for key in ("allowed_collectors", "excluded_collectors"):
            ids = v.string_list(t, key, path, allow_null=True)
            for j, cid in enumerate(ids or []):
                if cid not in collector_ids:
                    v.err(f"{path}.{key}[{j}]", f"unknown collector id {cid!r}")
    if raw.get("matrix") is not None:
        _validate_matrix(v, raw["matrix"], collectors, tasks)
    return v.errors


def _matrix_names(collectors: list[Any], tasks: list[Any]) -> tuple[dict[str, str], set[str], list[tuple[str, str]]]:
    """Location names a matrix may list: name -> what it is, required names, clashes.

    A collector's end (``id:end``) is required only when it differs from its start.
    """
    names: dict[str, str] = {}
    required: set[str] = set()
    clashes: list[tuple[str, str]] = []
    for i, c in enumerate(collectors):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not c["id"]:
            continue
        names[c["id"]] = f"collectors[{i}]"
        names[f"{c['id']}:end"] = f"collectors[{i}]"
        required.add(c["id"])
        if (c.get("end_lat", c.get("lat")), c.get("end_lon", c.get("lon"))) != (c.get("lat"), c.get("lon")):
            required.add(f"{c['id']}:end")
    for i, t in enumerate(tasks):
        if not isinstance(t, dict) or not isinstance(t.get("id"), str) or not t["id"]:
            continue
        if t["id"] in names:
            clashes.append((f"tasks[{i}].id", t["id"]))
        names[t["id"]] = f"tasks[{i}]"
        required.add(t["id"])
    return names, required, clashes


def _validate_matrix(v: _Validator, matrix: object, collectors: list[Any], tasks: list[Any]) -> None:
    """The supplied matrix: every location named once, square, whole non-negative numbers."""
    if not isinstance(matrix, dict):
        v.err("matrix", "must be an object with locations, durations_s and distances_m")
        return
    v.unknown_keys(matrix, _MATRIX_KEYS, "matrix")
    names, required, clashes = _matrix_names(collectors, tasks)
    for path, name in clashes:
        v.err(
            path,
            f"{name!r} is also a collector's location name in the matrix; "
            "with a matrix, task and collector ids must differ",
        )
    locations = matrix.get("locations")
    size = None
    if not isinstance(locations, list):
        v.err("matrix.locations", "is required and must be a list of location names")
    else:
        size = len(locations)
        seen: set[str] = set()
        for i, name in enumerate(locations):
            if not isinstance(name, str) or not name:
                v.err(f"matrix.locations[{i}]", "must be a non-empty string")
            elif name in seen:
                v.err(f"matrix.locations[{i}]", f"duplicate location {name!r}")
            elif name not in names:
                v.err(f"matrix.locations[{i}]", f"unknown location {name!r} (not a task id, collector id or id:end)")
            else:
                seen.add(name)
        for name in sorted(required - seen):
            v.err("matrix.locations", f"has no entry for {name!r}")
    for key in ("durations_s", "distances_m"):
        _validate_square(v, matrix, key, size)


def _validate_square(v: _Validator, matrix: dict[str, Any], key: str, size: int | None) -> None:
    path = f"matrix.{key}"
    rows = matrix.get(key)
    if not isinstance(rows, list):
        v.err(path, "is required and must be a list of rows")
        return
    if size is None:
        return
    if len(rows) != size:
        v.err(path, f"must have {size} rows, one per location; has {len(rows)}")
    bad = 0
    for i, row in enumerate(rows):
        if (
            isinstance(row, list)
            and len(row) == size
            and all(type(x) is int and 0 <= x <= MATRIX_MAX_VALUE for x in row)
        ):
            continue
        bad += 1
        if bad <= MATRIX_MAX_ROW_ERRORS:
            v.err(f"{path}[{i}]", f"must be a list of {size} integers between 0 and {MATRIX_MAX_VALUE}")
    if bad > MATRIX_MAX_ROW_ERRORS:
        v.err(path, f"{bad - MATRIX_MAX_ROW_ERRORS} more rows are invalid")


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


def parse(raw: dict[str, Any]) -> Problem:
    """A validated, immutable ``Problem``; raises ``ProblemError`` listing every error."""
    errors = validate(raw)
    if errors:
        raise ProblemError(errors)
    travel = raw.get("travel") or {}
    collectors = []
    for c in raw["collectors"]:
        start, end = (parse_hhmm(x) for x in c["shift"])
        collectors.append(
            Collector(
                id=c["id"],
                lat=float(c["lat"]),
                lon=float(c["lon"]),
                end_lat=float(c.get("end_lat", c["lat"])),
                end_lon=float(c.get("end_lon", c["lon"])),
                shift_start=start,
                shift_end=end,
                max_visits=c.get("max_visits"),
                skills=frozenset(c.get("skills") or ()),
            )
        )
    tasks = []
    for t in raw["tasks"]:
        windows = t.get("windows")
        allowed = t.get("allowed_collectors")
        tasks.append(
            Task(
                id=t["id"],
                lat=float(t["lat"]),
                lon=float(t["lon"]),
                windows=None if windows is None else tuple(sorted((parse_hhmm(a), parse_hhmm(b)) for a, b in windows)),
                service_minutes=_or_default(t.get("service_minutes"), DEFAULT_SERVICE_MINUTES),
                priority=t.get("priority") or 0,
                skills=frozenset(t.get("skills") or ()),
                allowed_collectors=None if allowed is None else frozenset(allowed),
                excluded_collectors=frozenset(t.get("excluded_collectors") or ()),
            )
        )
    matrix = raw.get("matrix")
    if matrix is not None:
        matrix = Matrix(
            index={name: i for i, name in enumerate(matrix["locations"])},
            durations_s=np.array(matrix["durations_s"], dtype=np.int64),
            distances_m=np.array(matrix["distances_m"], dtype=np.int64),
        )
    return Problem(
        date=raw.get("date"),
        timezone=raw.get("timezone"),
        speed_kmh=float(travel.get("speed_kmh", DEFAULT_SPEED_KMH)),
        circuity=float(travel.get("circuity", DEFAULT_CIRCUITY)),
        collectors=tuple(collectors),
        tasks=tuple(tasks),
        matrix=matrix,
    )
