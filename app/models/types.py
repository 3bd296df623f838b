"""The column type and the helpers every model module shares: UTC timestamps,
the default time of a row, and the check constraints built from a vocabulary."""

from datetime import UTC

from sqlalchemy import CheckConstraint, DateTime, TypeDecorator

from app import clock


def utcnow():
    return clock.now()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones, so the value is stored as naive UTC there and made
    aware again on the way out; naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column, values):
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _lat_lon_checks(prefix=""):
    lat, lon = f"{prefix}lat", f"{prefix}lon"
    return (
        CheckConstraint(f"{lat} IS NULL OR ({lat} >= -90 AND {lat} <= 90)", name=f"{lat}_range"),
        CheckConstraint(f"{lon} IS NULL OR ({lon} >= -180 AND {lon} <= 180)", name=f"{lon}_range"),
    )
