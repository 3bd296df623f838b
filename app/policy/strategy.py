"""Collection strategies: versioned TOML files beside the policy profiles.

A strategy says how cases are bucketed by days past due (DPD) and, as it grows, when a
case is escalated and how its priority is scored. Like a profile, a malformed strategy
refuses to start the service, naming the file and the key.
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.policy.profile import ProfileError

STRATEGY_DIR = Path(__file__).parent / "strategies"
CURRENT = "0"  # the bucket of a case that is not overdue


@dataclass(frozen=True)
class Bucket:
    id: str
    min_dpd: int
    max_dpd: int | None  # None: no upper bound

    def holds(self, dpd: int) -> bool:
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)


@dataclass(frozen=True)
class Strategy:
    id: str
    version: str
    name: str
    name_zh: str
    buckets: tuple[Bucket, ...]

    def bucket_for(self, dpd: int) -> str:
        """The bucket id for a number of days past due ("0" when not overdue)."""
        for bucket in self.buckets:
            if bucket.holds(dpd):
                return bucket.id
        return CURRENT

    @property
    def bucket_ids(self) -> tuple[str, ...]:
        return (CURRENT, *(bucket.id for bucket in self.buckets))


class _BucketSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(1, 20))
    min_dpd = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10000))
    max_dpd = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10000))

    @validates_schema
    def ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("max_dpd") is not None and data.get("min_dpd") and data["max_dpd"] < data["min_dpd"]:
            raise ValidationError("must not be below min_dpd", "max_dpd")


class _StrategySchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(1, 40))
    version = fields.String(required=True, validate=validate.Length(1, 40))
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    buckets = fields.List(fields.Nested(_BucketSchema), required=True, validate=validate.Length(1, 12))

    @validates_schema
    def contiguous(self, data: dict[str, Any], **kwargs: Any) -> None:
        buckets = data.get("buckets") or []
        expected = 1
        for index, bucket in enumerate(buckets):
            if bucket["min_dpd"] != expected:
                raise ValidationError(f"bucket {index + 1} must start at {expected} days", "buckets")
            last = index == len(buckets) - 1
            if (bucket["max_dpd"] is None) != last:
                raise ValidationError("only the last bucket is open-ended", "buckets")
            expected = (bucket["max_dpd"] or 0) + 1
        ids = [bucket["id"] for bucket in buckets]
        if len(set(ids)) != len(ids) or CURRENT in ids:
            raise ValidationError("bucket ids must be unique and not '0'", "buckets")


def load_strategy(path: Path) -> Strategy:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path.name}: {exc}") from None
    try:
        data = _StrategySchema().load(raw)
    except ValidationError as exc:
        raise ProfileError(f"{path.name}: {exc.messages_dict}") from None
    buckets = tuple(Bucket(b["id"], b["min_dpd"], b["max_dpd"]) for b in data["buckets"])
    return Strategy(data["id"], data["version"], data["name"], data["name_zh"], buckets)


def load_strategies(directory: Path = STRATEGY_DIR) -> dict[str, Strategy]:
    strategies = {}
    for path in sorted(directory.glob("*.toml")):
        strategy = load_strategy(path)
        strategies[strategy.id] = strategy
    return strategies


_default: Strategy | None = None


def default_strategy() -> Strategy:
    """The service's strategy (``default.toml``), loaded once."""
    global _default
    if _default is None:
        _default = load_strategies()["default"]
    return _default
