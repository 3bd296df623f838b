"""Places: time zones from coordinates, distances on the ellipsoid."""

import functools

from geopy.distance import geodesic


@functools.lru_cache(maxsize=1)
def _finder():
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)


def timezone_at(lat, lon):
    """The IANA zone at a point, or None at sea / where unknown."""
    return _finder().timezone_at(lat=lat, lng=lon)


def distance_m(a_lat, a_lon, b_lat, b_lon):
    return geodesic((a_lat, a_lon), (b_lat, b_lon)).meters
