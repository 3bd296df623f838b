"""Synthetic but realistic dispatch problems for tests and benchmarks.

Tasks cluster around real district centres (weighted by how many overdue
borrowers a lender would plausibly have there), collectors' home bases are
spread over the same districts in proportion, so that a territory's capacity
roughly matches its demand — as a real team would be staffed — while the
outer districts stay thin and some tasks remain hard to reach.  Everything is
drawn from one ``numpy`` generator seeded by ``seed``, so a seed always gives
the same problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# (district, lat, lon, weight of demand, spread in km)
CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {
        "timezone": "Asia/Shanghai",
        "districts": [
            ("Huangpu", 31.2317, 121.4846, 6, 1.8),
            ("Jing'an", 31.2289, 121.4480, 7, 2.0),
            ("Xuhui", 31.1885, 121.4365, 8, 2.5),
            ("Changning", 31.2204, 121.4246, 6, 2.2),
            ("Putuo", 31.2495, 121.3970, 7, 2.5),
            ("Hongkou", 31.2646, 121.5052, 6, 2.0),
            ("Yangpu", 31.2595, 121.5260, 8, 2.5),
            ("Pudong", 31.2215, 121.5447, 16, 5.0),
            ("Minhang", 31.1128, 121.3816, 11, 4.0),
            ("Baoshan", 31.4050, 121.4896, 8, 3.5),
            ("Jiading", 31.3747, 121.2655, 5, 4.0),
            ("Songjiang", 31.0322, 121.2277, 5, 4.0),
            ("Qingpu", 31.1504, 121.1242, 3, 4.0),
            ("Fengxian", 30.9180, 121.4740, 2, 4.0),
            ("Jinshan", 30.7415, 121.3419, 1, 4.0),
            ("Chongming", 31.6229, 121.3974, 1, 5.0),
        ],
        "languages": ("zh", "wuu", "en"),
    },
    "beijing": {
        "timezone": "Asia/Shanghai",
        "districts": [
            ("Dongcheng", 39.9288, 116.4164, 6, 2.0),
            ("Xicheng", 39.9123, 116.3660, 7, 2.0),
            ("Chaoyang", 39.9215, 116.4434, 16, 5.0),
            ("Haidian", 39.9597, 116.2981, 14, 5.0),
            ("Fengtai", 39.8586, 116.2871, 10, 4.0),
            ("Shijingshan", 39.9056, 116.2229, 4, 2.5),
            ("Tongzhou", 39.9097, 116.6566, 7, 4.0),
            ("Changping", 40.2207, 116.2312, 6, 5.0),
            ("Daxing", 39.7268, 116.3416, 6, 5.0),
            ("Shunyi", 40.1302, 116.6546, 3, 4.0),
            ("Fangshan", 39.7480, 116.1432, 2, 5.0),
        ],
        "languages": ("zh", "cmn-bj", "en"),
    },
}

# (windows or None for "any time in the shift", share of tasks)
_WINDOW_MIX = [
    (None, 0.45),
    ([["09:00", "12:00"]], 0.18),
    ([["14:00", "18:00"]], 0.15),
    ([["09:00", "12:00"], ["18:00", "21:00"]], 0.08),
    ([["14:00", "18:00"], ["18:00", "21:00"]], 0.06),
    ([["18:00", "21:00"]], 0.05),
    ([["10:00", "11:30"]], 0.03),
]
# (shift, share of collectors): most work days, some cover the evening.
_SHIFT_MIX = [(["09:00", "18:00"], 0.70), (["08:30", "17:30"], 0.12), (["12:00", "21:00"], 0.18)]

KM_PER_DEG_LAT = 111.2


def _scatter(
    rng: np.random.Generator, lat: float, lon: float, spread_km: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around a centre, normally distributed with ``spread_km``."""
    dlat = rng.normal(0.0, spread_km, n) / KM_PER_DEG_LAT
    dlon = rng.normal(0.0, spread_km, n) / (KM_PER_DEG_LAT * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def _pick(rng: np.random.Generator, options: list[tuple[Any, float]], n: int) -> np.ndarray:
    shares = np.array([share for _, share in options], dtype=float)
    return rng.choice(len(options), size=n, p=shares / shares.sum())


def generate(
    tasks: int, collectors: int, seed: int = 1, city: str = "shanghai", date: str = "2026-12-01"
) -> dict[str, Any]:
    """A problem dict following the contract, deterministic for ``seed``."""
    if city not in CITIES:
        raise ValueError(f"unknown city {city!r}; known: {', '.join(sorted(CITIES))}")
    spec = CITIES[city]
    rng = np.random.default_rng(seed)
    districts = spec["districts"]
    weights = np.array([d[3] for d in districts], dtype=float)
    weights /= weights.sum()
    native, local, foreign = spec["languages"]

    # Collectors are staffed by demand, so each district gets its share.
    c_district = rng.choice(len(districts), size=collectors, p=weights)
    c_shift = _pick(rng, _SHIFT_MIX, collectors)
    collector_list: list[dict[str, Any]] = []
    for i in range(collectors):
        _, lat, lon, _, spread = districts[c_district[i]]
        clat, clon = _scatter(rng, lat, lon, spread, 1)
        skills = [native]
        if rng.random() < 0.45:
            skills.append(local)
        if rng.random() < 0.15:
            skills.append(foreign)
        collector: dict[str, Any] = {
            "id": f"c-{i + 1:04d}",
            "lat": round(float(clat[0]), 6),
            "lon": round(float(clon[0]), 6),
            "shift": _SHIFT_MIX[c_shift[i]][0],
            "max_visits": int(rng.integers(8, 13)),
            "skills": skills,
        }
        if rng.random() < 0.1:  # some finish at the office rather than at home
            _, olat, olon, _, _ = districts[c_district[i]]
            collector["end_lat"], collector["end_lon"] = round(olat, 6), round(olon, 6)
        collector_list.append(collector)

    c_lat = np.array([c["lat"] for c in collector_list])
    c_lon = np.array([c["lon"] for c in collector_list])
    t_district = rng.choice(len(districts), size=tasks, p=weights)
    t_window = _pick(rng, _WINDOW_MIX, tasks)
    # Mostly mid priorities, a tail of urgent accounts.
    priorities = np.clip(np.rint(rng.gamma(3.0, 12.0, tasks)), 0, 100).astype(int)
    task_list: list[dict[str, Any]] = []
    for i in range(tasks):
        _, lat, lon, _, spread = districts[t_district[i]]
        tlat, tlon = _scatter(rng, lat, lon, spread, 1)
        roll = rng.random()
        skills = (
            [native]
            if roll < 0.55
            else []
            if roll < 0.80
            else [local]
            if roll < 0.96
            else [foreign]
            if roll < 0.99
            else [local, foreign]
        )
        task: dict[str, Any] = {
            "id": f"t-{i + 1:05d}",
            "lat": round(float(tlat[0]), 6),
            "lon": round(float(tlon[0]), 6),
            "service_minutes": int(rng.choice([20, 30, 30, 30, 45])),
            "priority": int(priorities[i]),
            "skills": skills,
        }
        windows = _WINDOW_MIX[t_window[i]][0]
        if windows is not None:
            task["windows"] = windows
        roll = rng.random()
        if roll < 0.02 and collectors:
            # A follow-up visit reserved for the collectors who met the debtor.
            near = _nearest_collectors(collector_list, c_lat, c_lon, tlat[0], tlon[0], int(rng.integers(1, 4)))
            task["allowed_collectors"] = near
        elif roll < 0.07 and collectors:
            # A complaint against a nearby collector excludes them.
            near = _nearest_collectors(collector_list, c_lat, c_lon, tlat[0], tlon[0], 3)
            task["excluded_collectors"] = [near[int(rng.integers(0, len(near)))]]
        task_list.append(task)

    return {
        "date": date,
        "timezone": spec["timezone"],
        "travel": {"speed_kmh": 25, "circuity": 1.3},
        "collectors": collector_list,
        "tasks": task_list,
    }


def _nearest_collectors(
    collectors: list[dict[str, Any]], lats: np.ndarray, lons: np.ndarray, lat: float, lon: float, k: int
) -> list[str]:
    d2 = (lats - lat) ** 2 + ((lons - lon) * np.cos(np.radians(lat))) ** 2
    return [collectors[j]["id"] for j in np.argsort(d2, kind="stable")[:k]]


# -- benchmark families -------------------------------------------------------
# Small days whose shape stresses the optimiser rather than the decomposition:
# 100-200 tasks, 3-25 crews, windows from 30 minutes to the whole shift, places
# uniform over a square or clustered, and optionally one depot for every crew
# and a supplied road-like matrix instead of the travel model.
#   tasks, crews, places, side of the square (km), windows (shortest, longest
#   minutes; longest 540 = the whole shift), service minutes, depot, matrix
FAMILIES: dict[str, dict[str, Any]] = {
    "wide-uniform-3": dict(
        tasks=100,
        crews=3,
        places="uniform",
        side_km=6.0,
        windows=(120, 540),
        service=(5, 10),
        depot=False,
        matrix=False,
    ),
    "wide-clustered-5": dict(
        tasks=150,
        crews=5,
        places="clustered",
        side_km=10.0,
        windows=(120, 540),
        service=(5, 10),
        depot=False,
        matrix=False,
    ),
    "mixed-uniform-10": dict(
        tasks=200,
        crews=10,
        places="uniform",
        side_km=12.0,
        windows=(30, 540),
        service=(10, 20),
        depot=False,
        matrix=False,
    ),
    "mixed-clustered-25": dict(
        tasks=200,
        crews=25,
        places="clustered",
        side_km=20.0,
        windows=(30, 540),
        service=(20, 30),
        depot=False,
        matrix=False,
    ),
    "tight-uniform-25": dict(
        tasks=100,
        crews=25,
        places="uniform",
        side_km=15.0,
        windows=(30, 90),
        service=(15, 30),
        depot=False,
        matrix=False,
    ),
    "matrix-depot-wide-8": dict(
        tasks=100,
        crews=8,
        places="clustered",
        side_km=10.0,
        windows=(120, 540),
        service=(10, 15),
        depot=True,
        matrix=True,
    ),
    "matrix-depot-mixed-25": dict(
        tasks=100,
        crews=25,
        places="uniform",
        side_km=12.0,
        windows=(30, 540),
        service=(10, 20),
        depot=True,
        matrix=True,
    ),
}
FAMILY_SHIFT = ("09:00", "18:00")
FAMILY_CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def generate_family(
    family: str, seed: int = 1, tasks: int | None = None, collectors: int | None = None, date: str = "2026-12-01"
) -> dict[str, Any]:
    """A problem of one benchmark family (``FAMILIES``), deterministic for ``seed``.

    ``tasks`` and ``collectors`` override the family's sizes.  Every crew works
    ``FAMILY_SHIFT`` with no visit cap or skills, so the comparison is about
    routing; window lengths are drawn log-uniformly between the family's
    shortest and longest, a window as long as the shift being none at all.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    spec = FAMILIES[family]
    n = spec["tasks"] if tasks is None else tasks
    m = spec["crews"] if collectors is None else collectors
    rng = np.random.default_rng(seed)
    side = spec["side_km"]
    lat0, lon0 = FAMILY_CENTRE
    km_lon = KM_PER_DEG_LAT * np.cos(np.radians(lat0))

    def to_latlon(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return lat0 + xy[:, 1] / KM_PER_DEG_LAT, lon0 + xy[:, 0] / km_lon

    if spec["places"] == "uniform":
        txy = rng.uniform(-side / 2, side / 2, (n, 2))
    else:  # a few clusters, and a tenth of the tasks anywhere
        centres = rng.uniform(-side / 2.5, side / 2.5, (max(2, n // 25), 2))
        pick = rng.integers(0, len(centres), n)
        txy = centres[pick] + rng.normal(0.0, side / 25, (n, 2))
        loose = rng.random(n) < 0.1
        txy[loose] = rng.uniform(-side / 2, side / 2, (int(loose.sum()), 2))
    cxy = np.zeros((m, 2)) if spec["depot"] else rng.uniform(-side / 2, side / 2, (m, 2))
    tlat, tlon = to_latlon(txy)
    clat, clon = to_latlon(cxy)
    shift_start, shift_end = (int(h[:2]) * 60 + int(h[3:]) for h in FAMILY_SHIFT)
    shortest, longest = spec["windows"]
    lengths = np.exp(rng.uniform(np.log(shortest), np.log(longest), n))
    starts = rng.uniform(0.0, 1.0, n)
    service = rng.integers(spec["service"][0], spec["service"][1] + 1, n)
    priorities = np.clip(np.rint(rng.gamma(3.0, 12.0, n)), 0, 100).astype(int)

    collector_list = [
        {
            "id": f"c-{j + 1:03d}",
            "lat": round(float(clat[j]), 6),
            "lon": round(float(clon[j]), 6),
            "shift": list(FAMILY_SHIFT),
        }
        for j in range(m)
    ]
    task_list: list[dict[str, Any]] = []
    for i in range(n):
        task: dict[str, Any] = {
            "id": f"t-{i + 1:04d}",
            "lat": round(float(tlat[i]), 6),
            "lon": round(float(tlon[i]), 6),
            "service_minutes": int(service[i]),
            "priority": int(priorities[i]),
        }
        length = int(round(lengths[i] / 5.0)) * 5
        if length < shift_end - shift_start - 15:
            begin = shift_start + int(starts[i] * (shift_end - shift_start - length) / 5) * 5
            task["windows"] = [[_hhmm(begin), _hhmm(begin + length)]]
        task_list.append(task)
    problem: dict[str, Any] = {
        "date": date,
        "timezone": "Asia/Shanghai",
        "travel": {"speed_kmh": 25, "circuity": 1.3},
        "collectors": collector_list,
        "tasks": task_list,
    }
    if spec["matrix"]:
        problem["matrix"] = road_like_matrix(rng, problem)
    return problem


def road_like_matrix(rng: np.random.Generator, problem: dict[str, Any], speed_kmh: float = 25.0) -> dict[str, Any]:
    """A supplied matrix that behaves like a road network's, for benchmarks.

    Distances are Manhattan distances on a street grid at a random angle,
    plus a cost to leave and to enter each place (one-way streets, finding
    the door): asymmetric, yet they keep the triangle inequality.  Times add
    a congestion factor, slower near the centre, so a detour round the centre
    can be quicker than the straight way, as on real roads.
    """
    places = [(c["id"], c["lat"], c["lon"]) for c in problem["collectors"]] + [
        (t["id"], t["lat"], t["lon"]) for t in problem["tasks"]
    ]
    lat = np.array([p[1] for p in places])
    lon = np.array([p[2] for p in places])
    y = (lat - lat.mean()) * KM_PER_DEG_LAT
    x = (lon - lon.mean()) * KM_PER_DEG_LAT * np.cos(np.radians(lat.mean()))
    angle = rng.uniform(0, np.pi / 2)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    grid_km = np.abs(u[:, None] - u[None, :]) + np.abs(v[:, None] - v[None, :])
    leave_km = rng.uniform(0.0, 0.3, len(places))
    enter_km = rng.uniform(0.0, 0.3, len(places))
    km = grid_km + leave_km[:, None] + enter_km[None, :]
    np.fill_diagonal(km, 0.0)
    slow = 1.0 + 0.6 * np.exp(-(x**2 + y**2) / 20.0)
    factor = (slow[:, None] + slow[None, :]) / 2.0
    seconds = np.rint(km / speed_kmh * 3600.0 * factor).astype(int)
    metres = np.rint(km * 1000.0).astype(int)
    return {"locations": [p[0] for p in places], "durations_s": seconds.tolist(), "distances_m": metres.tolist()}
