"""The geocoder's cache."""

from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, _in, _lat_lon_checks, utcnow

GEOCODE_STATUSES = ("ok", "ambiguous", "too_coarse", "not_found")


class GeocodeResult(db.Model):
    """A geocoder's answer for one normalised address, kept so no address is asked twice.

    The address itself is not kept here (only the SHA-256 of its normalised text), so
    anonymising a debtor leaves no copy of their address behind in the cache."""

    __tablename__ = "geocode_results"
    __table_args__ = (
        UniqueConstraint("provider", "query_sha256", name="uq_geocode_results_query"),
        CheckConstraint(_in("status", GEOCODE_STATUSES), name="status_known"),
        *_lat_lon_checks(),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    query_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    # The provider's own measure (Nominatim: place_rank and importance; Baidu: confidence).
    precision: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column()
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
