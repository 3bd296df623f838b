"""Road travel times from an OSRM-compatible ``table`` service, as the engine's matrix.

With ``ROUTING_URL`` set (e.g. ``http://osrm:5000``), a plan's legs are the service's
road durations (seconds) and distances (metres) instead of the engine's great-circle
model. A table larger than ``ROUTING_MAX_LOCATIONS`` (OSRM's ``--max-table-size``,
100 by default) is asked for in blocks of sources × destinations. Answers are cached
per day (the same places on the same day are asked once per process).
"""

import json
import logging
import urllib.error
import urllib.request
from collections import OrderedDict

from flask import current_app

log = logging.getLogger(__name__)
UNREACHABLE = 10**9  # the engine's largest leg: a pair the road network does not join is never taken
CACHE_SIZE = 64


class RoutingError(RuntimeError):
    """The table service did not give a usable answer."""


def configured():
    return bool(current_app.config.get("ROUTING_URL"))


def locations(problem):
    """(name, lat, lon) of every place of an engine problem, named as its matrix wants."""
    out = []
    for c in problem["collectors"]:
        out.append((c["id"], c["lat"], c["lon"]))
        end = (c.get("end_lat", c["lat"]), c.get("end_lon", c["lon"]))
        if end != (c["lat"], c["lon"]):
            out.append((f"{c['id']}:end", *end))
    out += [(t["id"], t["lat"], t["lon"]) for t in problem["tasks"]]
    return out


def matrix_for(problem, day):
    """The engine's ``matrix`` for ``problem`` from the table service (cached for ``day``)."""
    places = locations(problem)
    points = tuple((round(lat, 6), round(lon, 6)) for _, lat, lon in places)
    durations, distances = table(points, day)
    return {"locations": [name for name, _, _ in places], "durations_s": durations, "distances_m": distances}


def _cache():
    return current_app.extensions.setdefault("routing_cache", OrderedDict())


def table(points, day):
    """Square duration (s) and distance (m) tables of ``points`` [(lat, lon)], in their order."""
    config = current_app.config
    key = (config["ROUTING_URL"], config.get("ROUTING_PROFILE", "driving"), str(day), points)
    cache = _cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    n = len(points)
    durations = [[0] * n for _ in range(n)]
    distances = [[0] * n for _ in range(n)]
    block = max(1, int(config.get("ROUTING_MAX_LOCATIONS", 100)) // 2)
    blocks = [list(range(i, min(i + block, n))) for i in range(0, n, block)]
    for sources in blocks:
        for targets in blocks:
            _fill(points, sources, targets, durations, distances)
    cache[key] = (durations, distances)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return durations, distances


def _fill(points, sources, targets, durations, distances):
    """One request: the sources' rows over the targets' columns."""
    coords = sources if sources == targets else sources + targets
    config = current_app.config
    path = ";".join(f"{points[i][1]:.6f},{points[i][0]:.6f}" for i in coords)  # OSRM wants lon,lat
    src = ";".join(str(k) for k in range(len(sources)))
    dst = ";".join(str(coords.index(t)) for t in targets)
    url = (
        f"{config['ROUTING_URL'].rstrip('/')}/table/v1/{config.get('ROUTING_PROFILE', 'driving')}/{path}"
        f"?annotations=duration,distance&sources={src}&destinations={dst}"
    )
    try:
        with urllib.request.urlopen(url, timeout=config.get("ROUTING_TIMEOUT_SECONDS", 30.0)) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise RoutingError(f"the table service answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # unreachable, timed out, not JSON
        raise RoutingError(f"the table service did not answer usably ({type(exc).__name__})") from None
    if answer.get("code") != "Ok" or "durations" not in answer or "distances" not in answer:
        raise RoutingError(f"the table service answered {answer.get('code')!r}: {answer.get('message', '')}")
    for row, i in enumerate(sources):
        for col, j in enumerate(targets):
            seconds, metres = answer["durations"][row][col], answer["distances"][row][col]
            durations[i][j] = UNREACHABLE if seconds is None else min(round(seconds), UNREACHABLE)
            distances[i][j] = UNREACHABLE if metres is None else min(round(metres), UNREACHABLE)
