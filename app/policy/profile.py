"""Policy profiles: versioned TOML files, validated when the app starts.

A malformed profile refuses to start the service, naming the file and the key.
"""

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

PROFILE_DIR = Path(__file__).parent / "profiles"
KNOWN_FLAGS = (
    "dispute",
    "dispute_unverified",
    "cease",
    "vulnerable",
    "deceased",
    "capacity_concern",
    "attorney",
    "breathing_space",
)


class ProfileError(RuntimeError):
    """A profile file is missing or malformed; the message names the file and the key."""


class _Clock(fields.Field[time]):
    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> time:
        try:
            hours, minutes = str(value).split(":")
            return time(int(hours), int(minutes))
        except ValueError:
            raise ValidationError("must be a time as HH:MM") from None


class _Section(Schema):
    class Meta:
        unknown = RAISE

    source = fields.String(load_default="")


class _Hours(_Section):
    start = _Clock(required=True)
    end = _Clock(required=True)
    consent_allows_outside = fields.Boolean(required=True)

    @validates_schema
    def ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")


class _Crew(_Section):
    min_size = fields.Integer(required=True, strict=True, validate=validate.Range(1, 6))


class _Qualification(_Section):
    required_modules = fields.List(fields.String(validate=validate.Length(1, 60)), required=True)
    validity_months = fields.Integer(required=True, strict=True, validate=validate.Range(1, 120))
    background_cleared = fields.Boolean(required=True)


class _BeforeFirstVisit(_Section):
    min_remote_contact_attempts = fields.Integer(required=True, strict=True, validate=validate.Range(0, 50))
    validation_notice = fields.Boolean(required=True)
    visit_notice = fields.Boolean(required=True)
    notice_min_days = fields.Integer(required=True, strict=True, validate=validate.Range(0, 60))


class _Blocking(_Section):
    flags = fields.List(fields.String(validate=validate.OneOf(KNOWN_FLAGS)), required=True)
    complaint_against_collector = fields.Boolean(required=True)


PLACE_TREATMENTS = ("never", "when_prohibited", "unless_consent", "allowed")


class _Place(_Section):
    registered_address_only = fields.Boolean(required=True)
    geofence_radius_m = fields.Integer(required=True, strict=True, validate=validate.Range(10, 10000))
    # With registered_address_only: a check-in farther than this from the address is refused.
    max_distance_m = fields.Integer(required=True, strict=True, validate=validate.Range(10, 100000))
    max_accuracy_m = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10000))
    # Other places the case knows of (the debtor's ``places``): how a check-in there is treated.
    workplace = fields.String(required=True, validate=validate.OneOf(PLACE_TREATMENTS))
    hospital = fields.String(required=True, validate=validate.OneOf(PLACE_TREATMENTS))
    public = fields.String(required=True, validate=validate.OneOf(PLACE_TREATMENTS))

    @validates_schema
    def hard_limit_outside_the_geofence(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("max_distance_m", 0) < data.get("geofence_radius_m", 0):
            raise ValidationError("must be at least geofence_radius_m", "max_distance_m")


class _ClockRules(_Section):
    # The phone's clock is evidence, the server's the judge: a difference beyond this is flagged.
    max_skew_seconds = fields.Integer(required=True, strict=True, validate=validate.Range(1, 86400))


class _Recording(_Section):
    required = fields.Boolean(required=True)
    min_seconds = fields.Integer(required=True, strict=True, validate=validate.Range(0, 36000))


class _Frequency(_Section):
    min_days_between_visits = fields.Integer(required=True, strict=True, validate=validate.Range(0, 365))


class _ApprovalLimits(_Section):
    supervisor = fields.Integer(required=True, strict=True, validate=validate.Range(0, 100))
    regional_supervisor = fields.Integer(required=True, strict=True, validate=validate.Range(0, 100))
    admin = fields.Integer(required=True, strict=True, validate=validate.Range(0, 100))


class _Agreements(_Section):
    waiver_limit_percent = fields.Integer(required=True, strict=True, validate=validate.Range(0, 100))
    grace_days = fields.Integer(required=True, strict=True, validate=validate.Range(0, 90))
    broken_returns_to = fields.String(required=True, validate=validate.OneOf(("field_visit", "remote_contact")))
    # A kept agreement that leaves a balance (it was for less than owed, no waiver covered
    # the rest): the queue the case goes back to.
    kept_remainder_returns_to = fields.String(required=True, validate=validate.OneOf(("field_visit", "remote_contact")))
    # Who may approve a waiver, by share of what was owed: {supervisor, regional_supervisor, admin}.
    approval_limits = fields.Nested(_ApprovalLimits, required=True)


class _Travel(_Section):
    max_speed_kmh = fields.Integer(required=True, strict=True, validate=validate.Range(10, 1000))


# Record kinds whose retention each profile states, and the events a period may count from:
# the record's own time, the case's last collection activity, or the case's closing.
RECORD_KINDS = ("debtor", "case", "contact_attempt", "visit", "recording", "agreement", "payment", "complaint")
RECKONINGS = ("record", "last_activity", "case_closed")


class _RetentionKind(Schema):
    class Meta:
        unknown = RAISE

    years = fields.Integer(required=True, strict=True, validate=validate.Range(1, 50))
    counted_from = fields.String(required=True, validate=validate.OneOf(RECKONINGS))


class _Retention(_Section):
    years = fields.Integer(required=True, strict=True, validate=validate.Range(1, 50))
    kinds = fields.Dict(
        keys=fields.String(validate=validate.OneOf(RECORD_KINDS)), values=fields.Nested(_RetentionKind), required=True
    )

    @validates_schema
    def every_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        missing = [k for k in RECORD_KINDS if k not in data.get("kinds", {})]
        if missing:
            raise ValidationError(f"state the retention of every record kind; missing: {', '.join(missing)}", "kinds")


class _Reminders(Schema):
    class Meta:
        unknown = RAISE

    en = fields.List(fields.String(), required=True)
    zh = fields.List(fields.String(), required=True)


class _ProfileSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9\-]{1,39}$"))
    version = fields.String(required=True, validate=validate.Length(1, 20))
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    visiting_hours = fields.Nested(_Hours, required=True)
    crew = fields.Nested(_Crew, required=True)
    qualification = fields.Nested(_Qualification, required=True)
    before_first_visit = fields.Nested(_BeforeFirstVisit, required=True)
    blocking = fields.Nested(_Blocking, required=True)
    place = fields.Nested(_Place, required=True)
    clock = fields.Nested(_ClockRules, required=True)
    recording = fields.Nested(_Recording, required=True)
    frequency = fields.Nested(_Frequency, required=True)
    agreements = fields.Nested(_Agreements, required=True)
    travel = fields.Nested(_Travel, required=True)
    retention = fields.Nested(_Retention, required=True)
    reminders = fields.Nested(_Reminders, required=True)


@dataclass(frozen=True)
class Profile:
    """A loaded, validated profile. Sections are plain dicts of their settings."""

    id: str
    version: str
    name: str
    name_zh: str
    visiting_hours: dict[str, Any]
    crew: dict[str, Any]
    qualification: dict[str, Any]
    before_first_visit: dict[str, Any]
    blocking: dict[str, Any]
    place: dict[str, Any]
    clock: dict[str, Any]
    recording: dict[str, Any]
    frequency: dict[str, Any]
    agreements: dict[str, Any]
    travel: dict[str, Any]
    retention: dict[str, Any]
    reminders: dict[str, Any]

    @property
    def label(self) -> str:
        """Profile and version, as every decision names them: ``cn@2026.1``."""
        return f"{self.id}@{self.version}"


def _flatten(messages: Mapping[Any, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in messages.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from _flatten(value, path)
        else:
            yield path, "; ".join(map(str, value)) if isinstance(value, list) else str(value)


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"policy profile {path.name}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"policy profile {path.name}: not valid TOML ({exc})") from None
    try:
        data = _ProfileSchema().load(raw)
    except ValidationError as exc:
        problems = ", ".join(f"{key}: {why}" for key, why in _flatten(exc.messages_dict))
        raise ProfileError(f"policy profile {path.name}: {problems}") from None
    if data["id"] != path.stem:
        raise ProfileError(f"policy profile {path.name}: id: must match the file name ({path.stem!r})")
    return Profile(**data)


def load_profiles(directory: str | Path = PROFILE_DIR) -> dict[str, Profile]:
    profiles = {}
    for path in sorted(Path(directory).glob("*.toml")):
        profile = load_profile(path)
        profiles[profile.id] = profile
    return profiles
