"""Addresses to places: geopy's geocoders, their answers judged and cached, and the pin queue.

A debtor known only by an address waits (``location_status`` ``pending``) until the
``geocode_addresses`` job asks the configured geocoder (any geopy geocoder by name,
behind geopy's ``RateLimiter``). An answer is used only when it is precise enough and
unambiguous; otherwise the debtor goes to the pin queue (``needs_pin``) where a
supervisor places the pin by hand. Every answer, usable or not, is cached by the
normalised address, so no address is asked twice; a failed call (HTTP 429, 5xx, a
timeout) is not an answer: the debtor is tried again after a growing pause.

The geocoder is asked outside any transaction: the job reads a batch, lets the
transaction go, asks, then writes the batch in one short transaction that skips a
debtor pinned meanwhile.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from time import sleep as _real_sleep
from timeit import default_timer
from typing import Any

from flask import current_app
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import get_geocoder_for_service
from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, geo
from app.extensions import db
from app.models import Case, Debtor, GeocodeResult, Job, Team, User
from app.services.common import Data, paginate

log = logging.getLogger(__name__)
BATCH = 200

# Why a debtor has no point yet: (English, Chinese). Shown on the board and in the pin queue.
NOTES = {
    "no_geocoder": ("No geocoder is configured: place the pin by hand.", "未配置地理编码服务：请手动标注位置。"),
    "awaiting_geocoder": ("The address waits for the geocoder.", "地址等待地理编码。"),
    "geocoder_error": ("The geocoder did not answer; it is asked again later.", "地理编码服务未响应，稍后重试。"),
    "geocoder_gave_up": (
        "The geocoder did not answer after repeated tries: place the pin by hand.",
        "地理编码服务多次未响应：请手动标注位置。",
    ),
    "not_found": (
        "The geocoder found no place for this address: place the pin by hand.",
        "地理编码未找到该地址：请手动标注位置。",
    ),
    "too_coarse": (
        "The geocoder placed the address only roughly (e.g. a district): place the pin by hand.",
        "地理编码只定位到大致区域（如区县）：请手动标注位置。",
    ),
    "ambiguous": (
        "The geocoder found several places far apart for this address: place the pin by hand.",
        "该地址对应多个相距较远的位置：请手动标注位置。",
    ),
}
# The reason a case without a point stays out of the plan (planner and board).
NO_LOCATION = {
    "reason": "no_location",
    "why": "The debtor has no place on the map yet (address only): it is geocoded or pinned by a supervisor first.",
    "why_zh": "债务人尚无地图位置（仅有地址）：需先地理编码或由主管手动标注。",
}


def note_text(code: str) -> dict[str, str]:
    en, zh = NOTES.get(code, (code, code)) if code else ("", "")
    return {"code": code, "en": en, "zh": zh}


def normalise(address: str) -> str:
    """The form an address is cached under: Unicode NFKC (full-width digits and letters
    become ASCII), case folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", address or "").casefold()
    return re.sub(r"\s+", " ", text).strip()


def query_key(address: str) -> str:
    return hashlib.sha256(normalise(address).encode("utf-8")).hexdigest()


def configured() -> bool:
    return bool(current_app.config.get("GEOCODER"))


# ---------------------------------------------------------------- asking the geocoder


class _RateLimiter(RateLimiter):
    """geopy's RateLimiter with its clock and sleep given, so a test can time the limit
    without waiting."""

    def __init__(self, func, *, timer=None, sleep=None, **kwargs):
        super().__init__(func, **kwargs)
        self._timer = timer or default_timer
        self._sleeper = sleep or _real_sleep

    def _clock(self):
        return self._timer()

    def _sleep(self, seconds):
        self._sleeper(seconds)


@dataclass
class Answer:
    status: str  # ok, ambiguous, too_coarse, not_found
    lat: float | None = None
    lon: float | None = None
    precision: str | None = None
    confidence: float | None = None
    raw_sha256: str | None = None


class Geocoder:
    """The configured geopy geocoder, rate limited and retried by geopy's RateLimiter."""

    def __init__(self, config):
        self.config = config
        self.provider = config["GEOCODER"].lower()
        cls = get_geocoder_for_service(self.provider)
        offered = {
            "domain": config.get("GEOCODER_DOMAIN"),
            "scheme": config.get("GEOCODER_SCHEME"),
            "api_key": config.get("GEOCODER_API_KEY"),
            "user_agent": config.get("GEOCODER_USER_AGENT"),
            "timeout": config.get("GEOCODER_TIMEOUT_SECONDS"),
        }
        accepted = inspect.signature(cls.__init__).parameters
        # Each geocoder takes its own options (Nominatim no api_key, Baidu no domain): give what it takes.
        self.geocoder = cls(**{k: v for k, v in offered.items() if v is not None and k in accepted})
        delay = float(config.get("GEOCODER_MIN_DELAY_SECONDS", 1.0))
        self.ask = _RateLimiter(
            self._geocode,
            min_delay_seconds=delay,
            max_retries=int(config.get("GEOCODER_MAX_RETRIES", 2)),
            error_wait_seconds=max(delay, float(config.get("GEOCODER_ERROR_WAIT_SECONDS", 5.0))),
            swallow_exceptions=False,
            timer=config.get("GEOCODER_TIMER"),
            sleep=config.get("GEOCODER_SLEEP"),
        )

    def _geocode(self, query):
        kwargs = {"exactly_one": False}
        if self.provider == "nominatim":
            kwargs["limit"] = 5
            if self.config.get("GEOCODER_COUNTRY_CODES"):
                kwargs["country_codes"] = self.config["GEOCODER_COUNTRY_CODES"].split(",")
        return self.geocoder.geocode(query, **kwargs)

    def locate(self, address):
        """The judged answer for an address; raises geopy's error when the service fails
        after its retries (then nothing is cached)."""
        locations = self.ask(address) or []
        return judge(self.provider, locations, self.config)


def _precision(provider, raw):
    """(usable, precision label, confidence) of one answer, by what the provider reports."""
    raw = raw if isinstance(raw, dict) else {}
    if provider == "nominatim":
        rank = raw.get("place_rank")
        label = raw.get("addresstype") or raw.get("type")
        importance = raw.get("importance")
        confidence = float(importance) if isinstance(importance, (int, float)) else None
        if isinstance(rank, (int, float)) or (isinstance(rank, str) and rank.isdigit()):
            return int(rank) >= current_app.config.get("GEOCODER_MIN_PLACE_RANK", 26), label, confidence
        return label not in _COARSE, label, confidence
    if provider in ("baidu", "baiduv3"):
        precise, confidence = raw.get("precise"), raw.get("confidence")
        confidence = float(confidence) if isinstance(confidence, (int, float)) else None
        return precise == 1 or (confidence or 0) >= 70, raw.get("level"), confidence
    if provider == "arcgis":
        score = raw.get("score")
        score = float(score) if isinstance(score, (int, float)) else None
        return (score or 0) >= 90, (raw.get("attributes") or {}).get("Addr_type"), score
    if provider == "googlev3":
        kind = (raw.get("geometry") or {}).get("location_type")
        return kind in ("ROOFTOP", "RANGE_INTERPOLATED"), kind, None
    return True, None, None  # a provider that reports no precision: its answer is taken as given


_COARSE = {
    "country",
    "state",
    "province",
    "region",
    "county",
    "city",
    "town",
    "village",
    "municipality",
    "city_district",
    "district",
    "borough",
    "suburb",
    "quarter",
    "neighbourhood",
    "postcode",
    "administrative",
}


def judge(provider: str, locations: Sequence[Any] | None, config: Mapping[str, Any]) -> Answer:
    """An answer from the geocoder's locations: the first precise one, unless another
    precise one lies far from it (ambiguous); none precise: too coarse; none: not found."""
    if not locations:
        return Answer("not_found", raw_sha256=_digest([]))
    raws = [getattr(loc, "raw", None) for loc in locations]
    digest = _digest(raws)
    judged = [(loc, *_precision(provider, getattr(loc, "raw", None))) for loc in locations]
    usable = [j for j in judged if j[1]]
    if not usable:
        _, _, label, confidence = judged[0]
        return Answer("too_coarse", precision=label, confidence=confidence, raw_sha256=digest)
    best, _, label, confidence = usable[0]
    limit = config.get("GEOCODER_AMBIGUOUS_METRES", 1000)
    if any(
        geo.distance_m(best.latitude, best.longitude, other.latitude, other.longitude) > limit
        for other, *_ in usable[1:]
    ):
        return Answer("ambiguous", precision=label, confidence=confidence, raw_sha256=digest)
    return Answer(
        "ok",
        lat=round(best.latitude, 7),
        lon=round(best.longitude, 7),
        precision=label,
        confidence=confidence,
        raw_sha256=digest,
    )


def _digest(raws):
    return hashlib.sha256(json.dumps(raws, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- intake


def initial_state() -> dict[str, str]:
    """Where a new address-only debtor starts: waiting for the geocoder, or for a pin."""
    if configured():
        return {"location_status": "pending", "location_note": "awaiting_geocoder"}
    return {"location_status": "pending", "location_note": "no_geocoder"}


def after_intake(actor: User | None, count: int) -> tuple[Any, Any]:
    """Submit the geocoding job for newly taken address-only debtors (when there is a
    geocoder): (job, start) as ``jobs.submit`` answers (start is None inside a request,
    which starts it once committed), or (None, None)."""
    if count == 0 or not configured():
        return None, None
    from app import jobs

    return jobs.submit("geocode_addresses", {}, actor)


# ---------------------------------------------------------------- the job


def geocode_pending(job: Job | None = None, *, batch: int = BATCH) -> dict[str, Any]:
    """Ask the geocoder for every pending debtor whose next try is due; progress is
    written on the job as each batch is stored."""
    config = current_app.config
    now = clock.now()
    due = (
        select(Debtor.id)
        .where(
            Debtor.location_status == "pending", (Debtor.geocode_next_at.is_(None)) | (Debtor.geocode_next_at <= now)
        )
        .order_by(Debtor.id)
    )
    if not configured():
        waiting = len(db.session.scalars(due).all())
        return {
            "geocoder": None,
            "total": waiting,
            "done": 0,
            "note": "no geocoder configured (GEOCODER): the addresses wait for a pin",
        }
    geocoder = Geocoder(config)
    ids = list(db.session.scalars(due))
    stats = {
        "geocoder": geocoder.provider,
        "total": len(ids),
        "done": 0,
        "located": 0,
        "needs_pin": 0,
        "retry_later": 0,
        "asked": 0,
        "cached": 0,
        "skipped": 0,
    }
    _progress(job, stats)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        addresses = dict(db.session.execute(select(Debtor.id, Debtor.address).where(Debtor.id.in_(chunk))).all())
        keys = {debtor_id: query_key(address) for debtor_id, address in addresses.items()}
        cached = {
            r.query_sha256: r
            for r in db.session.scalars(
                select(GeocodeResult).where(
                    GeocodeResult.provider == geocoder.provider, GeocodeResult.query_sha256.in_(set(keys.values()))
                )
            )
        }
        answers = {key: _answer_of(row) for key, row in cached.items()}
        db.session.commit()  # nothing held while the geocoder is asked
        errors = {}
        for debtor_id in chunk:
            key = keys.get(debtor_id)
            if key is None or key in answers or key in errors:
                continue
            try:
                answers[key] = geocoder.locate(addresses[debtor_id])
                stats["asked"] += 1
            except GeopyError as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("geocoder %s failed for debtor %s: %s", geocoder.provider, debtor_id, errors[key])
        _store(geocoder.provider, chunk, keys, answers, errors, set(cached), stats, now)
        _progress(job, stats)
        db.session.commit()
    return stats


def _answer_of(row):
    return Answer(row.status, row.lat, row.lon, row.precision, row.confidence, row.raw_sha256)


def _progress(job, stats):
    if job is None:
        return
    row = db.session.get(Job, job.id)
    row.progress = {k: stats[k] for k in ("total", "done", "located", "needs_pin", "retry_later")}
    db.session.commit()


def _store(provider, chunk, keys, answers, errors, already_cached, stats, now):
    config = current_app.config
    fresh = [k for k in answers if k not in already_cached]
    if fresh:
        # Another job may cache the same address meanwhile: the first answer stays, nobody fails.
        dialect = db.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(
            insert(GeocodeResult).on_conflict_do_nothing(index_elements=["provider", "query_sha256"]),
            [
                {
                    "provider": provider,
                    "query_sha256": key,
                    "status": a.status,
                    "lat": a.lat,
                    "lon": a.lon,
                    "precision": a.precision,
                    "confidence": a.confidence,
                    "raw_sha256": a.raw_sha256,
                    "created_at": now,
                }
                for key, a in ((k, answers[k]) for k in fresh)
            ],
        )
    debtors = db.session.scalars(select(Debtor).where(Debtor.id.in_(chunk))).all()
    for debtor in debtors:
        stats["done"] += 1
        if debtor.location_status != "pending":  # pinned while the geocoder was asked
            stats["skipped"] += 1
            continue
        key = keys[debtor.id]
        before = {
            "lat": debtor.lat,
            "lon": debtor.lon,
            "location_status": debtor.location_status,
            "location_note": debtor.location_note,
        }
        if key in errors:
            debtor.geocode_attempts += 1
            if debtor.geocode_attempts >= config.get("GEOCODER_MAX_ATTEMPTS", 6):
                debtor.location_status, debtor.location_note = "needs_pin", "geocoder_gave_up"
                debtor.geocode_next_at = None
                stats["needs_pin"] += 1
            else:
                pause = config.get("GEOCODER_RETRY_SECONDS", 600) * 2 ** (debtor.geocode_attempts - 1)
                debtor.location_note = "geocoder_error"
                debtor.geocode_next_at = now + timedelta(seconds=pause)
                stats["retry_later"] += 1
                continue  # no audit event for a try that changed nothing but its schedule
        else:
            answer = answers[key]
            if key in already_cached:
                stats["cached"] += 1
            debtor.geocode_attempts += 1
            debtor.geocode_next_at = None
            if answer.status == "ok":
                debtor.lat, debtor.lon = answer.lat, answer.lon
                debtor.location_status, debtor.location_source, debtor.location_note = "located", "geocoded", None
                stats["located"] += 1
            else:
                debtor.location_status, debtor.location_note = "needs_pin", answer.status
                stats["needs_pin"] += 1
        audit.record(
            "debtor.geocoded",
            debtor,
            before=before,
            after={
                "lat": debtor.lat,
                "lon": debtor.lon,
                "location_status": debtor.location_status,
                "location_note": debtor.location_note,
            },
            extra={"provider": provider, "error": errors.get(key)},
        )
    db.session.flush()


# ---------------------------------------------------------------- pins and the queue


def place_pin(debtor: Debtor, data: Data, actor: User) -> dict[str, Any]:
    """A supervisor places or corrects the debtor's pin: audited with before and after and
    the distance moved; the door's geofence judges check-ins against it from now on."""
    previous = {"lat": debtor.lat, "lon": debtor.lon} if debtor.lat is not None else None
    moved = None if previous is None else round(geo.distance_m(debtor.lat, debtor.lon, data["lat"], data["lon"]), 1)
    before = {
        "lat": debtor.lat,
        "lon": debtor.lon,
        "location_status": debtor.location_status,
        "location_source": debtor.location_source,
    }
    debtor.lat, debtor.lon = data["lat"], data["lon"]
    debtor.location_status, debtor.location_source, debtor.location_note = "located", "pin", None
    debtor.geocode_next_at = None
    debtor.updated_at = clock.now()
    db.session.flush()
    audit.record(
        "debtor.pinned",
        debtor,
        before=before,
        after={"lat": debtor.lat, "lon": debtor.lon, "location_status": "located", "location_source": "pin"},
        extra={"moved_m": moved, "note": data.get("note")},
    )
    return {
        "debtor_id": debtor.id,
        "lat": debtor.lat,
        "lon": debtor.lon,
        "location_status": "located",
        "location_source": "pin",
        "previous": previous,
        "moved_m": moved,
    }


def pin_queue(args: Data, user: User) -> dict[str, Any]:
    """Debtors of the caller's teams still without a point: waiting for the geocoder, or for a pin."""
    stmt = authz.scope(
        select(Debtor)
        .options(selectinload(Debtor.cases).selectinload(Case.team))
        .where(Debtor.location_status != "located"),
        Debtor,
        user,
    )
    if args.get("team"):
        stmt = stmt.where(
            exists().where(Case.debtor_id == Debtor.id, Case.team_id == Team.id, Team.code == args["team"])
        )
    if args.get("status"):
        stmt = stmt.where(Debtor.location_status == args["status"])
    return paginate(stmt, Debtor, args)
