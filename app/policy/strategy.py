"""Collection strategies: versioned TOML files beside the policy profiles.

A strategy says how cases are bucketed by days past due (DPD), when a case is escalated
from one stage to the next (``[[escalations]]``, each rule with an id) and how its
priority is scored (``[priority]``). Like a profile, a malformed strategy refuses to
start the service, naming the file and the key.

Nothing here touches the database: the nightly job (``app.services.strategy``) gathers
each case's facts and asks ``escalation_for`` and ``priority_score``; whether the debtor
may be visited at all is still the conduct policy's call (``app.policy.rules``).
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from app.policy.profile import ProfileError, _flatten

STRATEGY_DIR = Path(__file__).parent / "strategies"
CURRENT = "0"  # the bucket of a case that is not overdue
# The stages a strategy may move a case between, in the lifecycle's order (PRODUCT.md):
# a rule moves a case forward only, e.g. remote contact -> field visit.
ESCALATION_STAGES = ("notice", "remote_contact", "field_visit")
# Contact results a rule may count as a failed attempt (app.models.CONTACT_RESULTS).
CONTACT_RESULTS = ("reached", "no_answer", "voicemail", "wrong_number", "refused", "delivered", "failed")
PRIORITY_MIN, PRIORITY_MAX = 0, 100  # the range cases.priority and visit_tasks.priority hold


@dataclass(frozen=True)
class Bucket:
    id: str
    min_dpd: int
    max_dpd: int | None  # None: no upper bound

    def holds(self, dpd: int) -> bool:
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)


@dataclass(frozen=True)
class CaseFacts:
    """What the strategy needs to know about one case, gathered by the caller."""

    stage: str
    days_past_due: int
    outstanding_minor: int
    currency: str
    failed_attempts: dict[int | None, int] = field(
        default_factory=dict
    )  # window in days -> failed remote attempts in it
    broken_promises: int = 0
    kept_promises: int = 0
    days_since_contact: int | None = None  # None: never contacted (no attempt, no visit)
    days_since_debtor_met: int | None = None  # None: never met at the door


@dataclass(frozen=True)
class Escalation:
    id: str
    description: str
    from_stages: tuple[str, ...]
    to_stage: str
    min_dpd: int
    min_failed_attempts: int  # 0: no condition on attempts
    within_days: int | None
    min_broken_promises: int  # 0: no condition on broken promises

    def matches(self, facts: CaseFacts) -> bool:
        if facts.stage not in self.from_stages or facts.days_past_due < self.min_dpd:
            return False
        if self.min_failed_attempts and facts.failed_attempts.get(self.within_days, 0) < self.min_failed_attempts:
            return False
        return facts.broken_promises >= self.min_broken_promises

    def evidence(self, facts: CaseFacts) -> dict[str, int | None]:
        """The facts the rule decided on, for the audit event."""
        found: dict[str, int | None] = {"days_past_due": facts.days_past_due}
        if self.min_failed_attempts:
            found.update(failed_attempts=facts.failed_attempts.get(self.within_days, 0), within_days=self.within_days)
        if self.min_broken_promises:
            found["broken_promises"] = facts.broken_promises
        return found


@dataclass(frozen=True)
class PriorityWeights:
    base: int
    dpd_points: int
    dpd_full_days: int
    balance_points: int
    balance_full_minor: dict[str, int]  # currency -> balance (minor units) that earns all the balance points
    broken_promise_points: int
    kept_promise_points: int
    promise_count_max: int
    silence_points: int
    silence_full_days: int
    debtor_met_points: int
    debtor_met_days: int


@dataclass(frozen=True)
class Strategy:
    id: str
    version: str
    name: str
    name_zh: str
    buckets: tuple[Bucket, ...]
    escalations: tuple[Escalation, ...] = ()
    priority: PriorityWeights | None = None
    failed_results: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Strategy and version, as every change it makes names them: ``default@2026.1``."""
        return f"{self.id}@{self.version}"

    def rule_id(self, rule: str) -> str:
        return f"{self.id}.{rule}"

    def bucket_for(self, dpd: int) -> str:
        """The bucket id for a number of days past due ("0" when not overdue)."""
        for bucket in self.buckets:
            if bucket.holds(dpd):
                return bucket.id
        return CURRENT

    @property
    def bucket_ids(self) -> tuple[str, ...]:
        return (CURRENT, *(bucket.id for bucket in self.buckets))

    @property
    def attempt_windows(self) -> tuple[int, ...]:
        """The windows (days) over which the rules count failed attempts."""
        return tuple(sorted({e.within_days for e in self.escalations if e.within_days is not None}))

    def escalation_for(self, facts: CaseFacts) -> Escalation | None:
        """The first rule, in file order, that moves this case; None when none does."""
        return next((rule for rule in self.escalations if rule.matches(facts)), None)

    def priority_parts(self, facts: CaseFacts) -> dict[str, int]:
        """Each term of the score (docs/strategy.md, "Priority score"), whole points, floored."""
        w = self.priority
        if w is None:
            raise ProfileError(f"strategy {self.id}: no [priority] weights")
        full = w.balance_full_minor.get(facts.currency)
        silence = (
            w.silence_full_days
            if facts.days_since_contact is None
            else min(facts.days_since_contact, w.silence_full_days)
        )
        met = facts.days_since_debtor_met is not None and facts.days_since_debtor_met <= w.debtor_met_days
        return {
            "base": w.base,
            "dpd": w.dpd_points * min(facts.days_past_due, w.dpd_full_days) // w.dpd_full_days,
            "balance": w.balance_points * min(facts.outstanding_minor, full) // full if full else 0,
            "broken_promises": w.broken_promise_points * min(facts.broken_promises, w.promise_count_max),
            "kept_promises": -w.kept_promise_points * min(facts.kept_promises, w.promise_count_max),
            "silence": w.silence_points * silence // w.silence_full_days,
            "debtor_met": w.debtor_met_points if met else 0,
        }

    def priority_score(self, facts: CaseFacts) -> int:
        """The case's priority: the sum of its parts, held to 0..100."""
        return max(PRIORITY_MIN, min(PRIORITY_MAX, sum(self.priority_parts(facts).values())))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _whole(low: int, high: int, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(low, high), **kwargs)


class _BucketSchema(_Strict):
    id = fields.String(required=True, validate=validate.Length(1, 20))
    min_dpd = _whole(1, 10000, required=True)
    max_dpd = _whole(1, 10000, load_default=None)

    @validates_schema
    def ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("max_dpd") is not None and data.get("min_dpd") and data["max_dpd"] < data["min_dpd"]:
            raise ValidationError("must not be below min_dpd", "max_dpd")


class _EscalationSchema(_Strict):
    id = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$", error="lower-case letters, digits and _")
    )
    description = fields.String(required=True, validate=validate.Length(1, 300))
    from_stages = fields.List(
        fields.String(validate=validate.OneOf(ESCALATION_STAGES[:-1])), required=True, validate=validate.Length(1, 2)
    )
    to_stage = fields.String(required=True, validate=validate.OneOf(ESCALATION_STAGES[1:]))
    min_dpd = _whole(0, 10000, required=True)
    min_failed_attempts = _whole(0, 100, load_default=0)
    within_days = _whole(1, 365, load_default=None)
    min_broken_promises = _whole(0, 100, load_default=0)

    @validates_schema
    def coherent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if bool(data.get("min_failed_attempts")) != (data.get("within_days") is not None):
            raise ValidationError("give within_days exactly when min_failed_attempts is above 0", "within_days")
        order = ESCALATION_STAGES.index
        if "to_stage" in data and any(order(s) >= order(data["to_stage"]) for s in data.get("from_stages", ())):
            raise ValidationError(
                "a rule moves a case forward: every from_stage must come before to_stage", "from_stages"
            )
        if not data.get("min_dpd") and not data.get("min_failed_attempts") and not data.get("min_broken_promises"):
            raise ValidationError(
                "a rule needs a condition (min_dpd, min_failed_attempts or min_broken_promises)", "min_dpd"
            )


class _PrioritySchema(_Strict):
    base = _whole(0, 100, required=True)
    dpd_points = _whole(0, 100, required=True)
    dpd_full_days = _whole(1, 10000, required=True)
    balance_points = _whole(0, 100, required=True)
    balance_full_minor = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code")),
        values=_whole(1, 10**15),
        required=True,
        validate=validate.Length(min=1),
    )
    broken_promise_points = _whole(0, 100, required=True)
    kept_promise_points = _whole(0, 100, required=True)
    promise_count_max = _whole(1, 20, required=True)
    silence_points = _whole(0, 100, required=True)
    silence_full_days = _whole(1, 365, required=True)
    debtor_met_points = _whole(-100, 100, required=True)
    debtor_met_days = _whole(1, 365, required=True)


class _StrategySchema(_Strict):
    id = fields.String(required=True, validate=validate.Length(1, 40))
    version = fields.String(required=True, validate=validate.Length(1, 40))
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    buckets = fields.List(fields.Nested(_BucketSchema), required=True, validate=validate.Length(1, 12))
    failed_results = fields.List(
        fields.String(validate=validate.OneOf(CONTACT_RESULTS)), required=True, validate=validate.Length(min=1)
    )
    escalations = fields.List(fields.Nested(_EscalationSchema), required=True, validate=validate.Length(0, 20))
    priority = fields.Nested(_PrioritySchema, required=True)

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

    @validates_schema
    def unique_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [rule["id"] for rule in data.get("escalations") or []]
        if len(set(ids)) != len(ids) or "priority" in ids:
            raise ValidationError("rule ids must be unique and not 'priority'", "escalations")


def load_strategy(path: Path) -> Strategy:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"strategy {path.name}: {exc}") from None
    try:
        data = _StrategySchema().load(raw)
    except ValidationError as exc:
        problems = ", ".join(f"{key}: {why}" for key, why in _flatten(exc.messages_dict))
        raise ProfileError(f"strategy {path.name}: {problems}") from None
    if data["id"] != path.stem:
        raise ProfileError(f"strategy {path.name}: id: must match the file name ({path.stem!r})")
    buckets = tuple(Bucket(b["id"], b["min_dpd"], b["max_dpd"]) for b in data["buckets"])
    escalations = tuple(
        Escalation(
            e["id"],
            e["description"],
            tuple(e["from_stages"]),
            e["to_stage"],
            e["min_dpd"],
            e["min_failed_attempts"],
            e["within_days"],
            e["min_broken_promises"],
        )
        for e in data["escalations"]
    )
    return Strategy(
        data["id"],
        data["version"],
        data["name"],
        data["name_zh"],
        buckets,
        escalations,
        PriorityWeights(**data["priority"]),
        tuple(data["failed_results"]),
    )


def load_strategies(directory: Path = STRATEGY_DIR) -> dict[str, Strategy]:
    strategies = {}
    for path in sorted(Path(directory).glob("*.toml")):
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
