"""Small hand-made problems for the dispatch engine's tests.

Places are a few hundred metres to a few km apart around People's Square,
Shanghai, so that travel times are easy to reason about: at the default
25 km/h and circuity 1.3, 1 km as the crow flies is about 3.1 minutes.
"""

BASE = (31.2304, 121.4737)
KM_LAT = 1 / 111.2  # degrees of latitude per km


def north(km: float) -> tuple[float, float]:
    """A point ``km`` north of the base."""
    return round(BASE[0] + km * KM_LAT, 6), BASE[1]


def collector(cid="c-1", at=BASE, shift=("09:00", "18:00"), **extra):
    return {"id": cid, "lat": at[0], "lon": at[1], "shift": list(shift), **extra}


def task(tid="t-1", at=None, **extra):
    at = at or north(1)
    return {"id": tid, "lat": at[0], "lon": at[1], **extra}


def stops_of(plan, collector_id):
    """Task ids of one collector's route, in order."""
    for route in plan["routes"]:
        if route["collector"] == collector_id:
            return [s["task"] for s in route["stops"]]
    return []


def reasons_of(plan):
    return {u["task"]: u["reason"] for u in plan["unassigned"]}
