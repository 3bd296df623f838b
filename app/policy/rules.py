"""The conduct policy: every rule is decided here, from the policy profile.

Callers gather the facts (the debtor's flags, contact history, a crew's training
records, a check-in's position…) and ask; this module answers with a ``Decision``
(allowed or refused, naming the rule id, the profile version and a reason in English
and Chinese) or a ``Flag`` (accepted, but a conduct flag must be raised). Nothing
here touches the database or the request.

Rule ids are ``<profile>.<rule>``, e.g. ``cn.visiting_hours``.

Times: a rule about hours is judged in the debtor's local time zone. Visiting hours
run from ``start`` inclusive to ``end`` exclusive, so with 08:00–22:00 a check-in at
21:59:59 is in time and one at 22:00 is not. A training record is valid from its
``passed_at`` day through the day before ``expires_at``, and never longer than the
profile's ``validity_months`` after it was passed.
"""

import calendar
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.errors import PolicyViolation
from app.policy.profile import Profile

# rule → (English, Chinese) reason templates
REASONS = {
    "visiting_hours": (
        "Outside visiting hours {start}–{end} in the debtor's local time ({tz}); it is {local}.",
        "不在债务人当地时间{start}–{end}的上门时段内（{tz}），当前为{local}。",
    ),
    "visiting_hours_consent": (
        "Outside visiting hours {start}–{end} ({tz}, {local}); accepted on the debtor's recorded consent.",
        "不在上门时段{start}–{end}内（{tz}，{local}）；因债务人已书面同意而接受。",
    ),
    "no_visiting_window": (
        "No time on {date} is both inside visiting hours and inside the debtor's stated availability.",
        "{date}当天没有同时符合上门时段和债务人声明的可接待时间。",
    ),
    "crew_size": (
        "A home visit needs at least {min_size} collectors; crew {crew} has {size} active.",
        "上门催收至少需要{min_size}名催收员；小组{crew}仅有{size}名在岗。",
    ),
    "qualification": (
        "Collector {collector} has no valid '{module}' training on {date}.",
        "催收员{collector}在{date}没有有效的“{module}”培训记录。",
    ),
    "background": ("Collector {collector} has not passed the background check.", "催收员{collector}未通过背景审查。"),
    "collector_inactive": ("Collector {collector} is not active.", "催收员{collector}未在岗。"),
    "prior_contact": (
        "A field visit needs {required} prior remote contact attempt(s); {found} recorded.",
        "上门前需要至少{required}次电话/短信联系记录；目前只有{found}次。",
    ),
    "validation_notice": ("No validation notice has been sent to the debtor.", "尚未向债务人发送债务确认通知。"),
    "visit_notice": (
        "No notice of a visit on {date} reached the debtor at least {days} day(s) before.",
        "未在至少{days}天前通知债务人{date}的上门安排。",
    ),
    "blocking_flag": ("No visit while the debtor is flagged '{flag}'.", "债务人标记为“{flag_zh}”期间不得上门。"),
    "complaint_under_review": (
        "A complaint against collector {collector} by this debtor is under review.",
        "该债务人对催收员{collector}的投诉正在处理中。",
    ),
    "frequency_cap": (
        "The debtor has another visit on {other} (made or planned); visits must be at least {days} day(s) apart.",
        "债务人在{other}已有上门（已完成或已计划）；两次上门至少间隔{days}天。",
    ),
    "frequency_override": (
        "Visit planned within {days} day(s) of the last one ({last}) by manual override.",
        "经人工指派，在上次上门（{last}）后{days}天内再次上门。",
    ),
    "crew_membership": (
        "Collector {collector} is not on the crew this task is assigned to.",
        "催收员{collector}不属于该任务指派的小组。",
    ),
    "off_geofence": (
        "Check-in {distance_m:.0f} m from the registered address; the limit is {radius_m} m.",
        "签到位置距登记住址{distance_m:.0f}米，超出{radius_m}米的范围。",
    ),
    "poor_accuracy": (
        "Location accuracy {accuracy_m:.0f} m is worse than {limit_m} m.",
        "定位精度{accuracy_m:.0f}米，低于要求的{limit_m}米。",
    ),
    "mock_location": ("The phone reported a mocked location.", "手机报告使用了模拟定位。"),
    "impossible_travel": (
        "{distance_km:.1f} km in {minutes:.0f} min since the previous check-in "
        "({speed_kmh:.0f} km/h, limit {limit_kmh} km/h).",
        "距上次签到{minutes:.0f}分钟移动了{distance_km:.1f}公里（{speed_kmh:.0f}公里/小时，"
        "上限{limit_kmh}公里/小时）。",
    ),
    "missing_recording": ("The visit was closed without the required recording.", "上门结束时没有必需的录音。"),
    "short_recording": (
        "The recording is {seconds} s long; at least {min_seconds} s are required.",
        "录音时长{seconds}秒，少于要求的{min_seconds}秒。",
    ),
    "waiver_limit": (
        "A waiver of {percent:.1f}% exceeds the {limit}% limit; a supervisor must approve it.",
        "减免比例{percent:.1f}%超过{limit}%的上限，需主管审批。",
    ),
    "waiver_approval_limit": (
        "A waiver of {percent:.1f}% is above the {limit}% a {tier} may approve; {next} must decide it.",
        "减免比例{percent:.1f}%超过{tier}可审批的{limit}%上限，需由{next}审批。",
    ),
    "complaint_received": ("A complaint was received: {category}.", "收到投诉：{category}。"),
    "planned_day": (
        "This visit is planned for {planned}; it is {today} in the debtor's time zone ({tz}).",
        "该上门任务计划在{planned}；债务人当地（{tz}）现在是{today}。",
    ),
    "case_stage": ("The case is in {stage}, not in field visits.", "该案件处于“{stage}”阶段，不在上门催收阶段。"),
    "crew_inactive": ("Crew {crew} is not active.", "小组{crew}已停用。"),
    "stated_availability": (
        "Outside the debtor's stated availability on {date} ({tz}); it is {local}.",
        "不在债务人声明的可接待时间内（{date}，{tz}），当前为{local}。",
    ),
    "registered_address_only": (
        "Check-in {distance_m:.0f} m from the registered address; beyond {limit_m} m it is "
        "not a visit to the registered address.",
        "签到位置距登记住址{distance_m:.0f}米，超过{limit_m}米，不属于登记住址上门。",
    ),
    "workplace": (
        "Check-in at the debtor's workplace ({distance_m:.0f} m from it): no visits there{unless}.",
        "签到位置在债务人工作单位（相距{distance_m:.0f}米）：不得在此上门{unless_zh}。",
    ),
    "hospital": (
        "Check-in at a hospital the debtor attends ({distance_m:.0f} m from it): no visits there{unless}.",
        "签到位置在债务人就诊的医院（相距{distance_m:.0f}米）：不得在此上门{unless_zh}。",
    ),
    "public_place": (
        "Check-in at a public place known for the debtor ({distance_m:.0f} m from it): no visits there{unless}.",
        "签到位置在与债务人相关的公共场所（相距{distance_m:.0f}米）：不得在此上门{unless_zh}。",
    ),
    "one_visit_at_a_time": (
        "Crew {crew} is still checked in at another door (task {task}); check out there first.",
        "小组{crew}仍在另一处上门（任务{task}）签到中；请先在那里签退。",
    ),
    "event_payload_mismatch": (
        "The phone sent event {event} again with other content (first {first:.12}…, now "
        "{this:.12}…); the first was kept.",
        "手机以相同编号{event}再次发送了内容不同的记录（原{first:.12}…，现{this:.12}…）；已保留第一次的内容。",
    ),
    "clock_skew": (
        "The phone's clock said {device}; the time judged was {judged} ({seconds:.0f} s apart, the limit "
        "is {limit_s} s).",
        "手机时间为{device}，判定时间为{judged}（相差{seconds:.0f}秒，上限{limit_s}秒）。",
    ),
}

# How a visit at another place the case knows of is treated, per profile ([place] in the profile).
PLACE_KINDS = {"workplace": "workplace", "hospital": "hospital", "public": "public_place"}
PLACE_TREATMENTS = ("never", "when_prohibited", "unless_consent", "allowed")

FLAG_LABELS = {
    "dispute": ("dispute open", "争议处理中"),
    "dispute_unverified": ("dispute not yet verified", "争议尚未核实"),
    "cease": ("cease request", "要求停止催收"),
    "vulnerable": ("vulnerable", "弱势人群"),
    "deceased": ("deceased", "已故"),
    "capacity_concern": ("capacity concern", "行为能力存疑"),
    "attorney": ("attorney on file", "已委托律师"),
    "breathing_space": ("breathing space", "债务喘息期"),
}


# The facts callers hand in: the ORM rows fit these shapes, and so does any plain object.
class ContactFacts(Protocol):
    @property
    def purpose(self) -> str: ...
    @property
    def result(self) -> str | None: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def planned_visit_date(self) -> date | None: ...


class TrainingFacts(Protocol):
    @property
    def module(self) -> str: ...
    @property
    def passed_at(self) -> date: ...
    @property
    def expires_at(self) -> date: ...


class CollectorFacts(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def background_cleared(self) -> bool: ...
    @property
    def crew_id(self) -> int | None: ...
    @property
    def trainings(self) -> Sequence[TrainingFacts]: ...


class CrewFacts(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def members(self) -> Sequence[CollectorFacts]: ...


Availability = Sequence[Mapping[str, Any]]  # the debtor's stated windows: {"days", "start", "end"}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule_id: str
    profile: str
    reason_en: str = ""
    reason_zh: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def enforce(self) -> "Decision":
        """Raise the refusal as a PolicyViolation naming its rule; a no-op when allowed."""
        if not self.allowed:
            raise PolicyViolation(
                self.reason_en,
                rule_id=self.rule_id,
                profile_version=self.profile,
                details={"reason_zh": self.reason_zh, **self.details},
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "rule_id": self.rule_id,
            "profile": self.profile,
            "reason_en": self.reason_en,
            "reason_zh": self.reason_zh,
            "details": self.details,
        }


@dataclass(frozen=True)
class Flag:
    """Accepted, but a conduct flag of this kind must be raised."""

    kind: str
    rule_id: str
    profile: str
    reason_en: str
    reason_zh: str
    details: dict[str, Any] = field(default_factory=dict)


def _text(rule: str, **values: Any) -> tuple[str, str]:
    en, zh = REASONS[rule]
    return en.format(**values), zh.format(**values)


def _deny(profile: Profile, rule: str, **values: Any) -> Decision:
    en, zh = _text(rule, **values)
    return Decision(False, f"{profile.id}.{rule}", profile.label, en, zh, _plain(values))


def _allow(profile: Profile, rule: str) -> Decision:
    return Decision(True, f"{profile.id}.{rule}", profile.label)


def _flag(profile: Profile, kind: str, rule: str | None = None, **values: Any) -> Flag:
    rule = rule or kind
    en, zh = _text(rule, **values)
    return Flag(kind, f"{profile.id}.{rule}", profile.label, en, zh, _plain(values))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in values.items()}


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


# ---------------------------------------------------------------- at dispatch


def debtor_conditions(flags: Mapping[str, Any] | None) -> set[str]:
    """The debtor's flags plus the conditions derived from them."""
    active = {name for name, on in (flags or {}).items() if on}
    if "dispute" in active and "dispute_verified" not in active:
        active.add("dispute_unverified")
    return active


def blocking_flag_refusals(profile: Profile, debtor_flags: Mapping[str, Any] | None) -> list[Decision]:
    """The debtor's flags that forbid any visit under this profile (dispute, cease, ...)."""
    conditions = debtor_conditions(debtor_flags)
    return [
        _deny(profile, "blocking_flag", flag=FLAG_LABELS[flag][0], flag_zh=FLAG_LABELS[flag][1], flag_id=flag)
        for flag in profile.blocking["flags"]
        if flag in conditions
    ]


def escalation_refusals(profile: Profile, *, to_stage: str, debtor_flags: Mapping[str, Any] | None) -> list[Decision]:
    """Why a strategy may not move a case on to ``to_stage`` (empty: it may).

    Moving a case to field visits is a decision to visit, not a visit: only what forbids
    any visit at all (a blocking flag) stops it here; the day's and the door's rules
    still judge each visit when it is planned, moved and checked in. The same flags stop
    a move to remote contact too: a cease request, a dispute or an attorney on file is a
    reason to stop pressing, and no rule of a strategy presses on past it (a person may).
    """
    return blocking_flag_refusals(profile, debtor_flags)


def task_blockers(
    profile: Profile,
    *,
    debtor_flags: Mapping[str, Any] | None,
    contact_attempts: Iterable[ContactFacts],
    visit_date: date,
    debtor_tz: str,
    visit_days: Iterable[date] | None = (),
    override_frequency: bool = False,
) -> list[Decision]:
    """Why this debtor may not be visited on ``visit_date``: a list of refusals (empty: dispatchable).

    ``contact_attempts``: objects with ``purpose``, ``result``, ``occurred_at`` (UTC) and
    ``planned_visit_date``. ``visit_days``: the debtor's other visit days (local dates),
    made or committed, whoever made them.
    """
    refusals = blocking_flag_refusals(profile, debtor_flags)
    zone = ZoneInfo(debtor_tz)
    day_start = datetime.combine(visit_date, datetime.min.time(), zone)
    before = [a for a in contact_attempts if a.occurred_at < day_start]
    rules = profile.before_first_visit
    remote = [a for a in before if a.purpose == "contact"]
    if len(remote) < rules["min_remote_contact_attempts"]:
        refusals.append(
            _deny(profile, "prior_contact", required=rules["min_remote_contact_attempts"], found=len(remote))
        )
    if rules["validation_notice"] and not any(
        a.purpose == "validation_notice" and a.result != "failed" for a in before
    ):
        refusals.append(_deny(profile, "validation_notice"))
    if rules["visit_notice"]:
        latest = visit_date - timedelta(days=rules["notice_min_days"])
        if not any(
            a.purpose == "visit_notice"
            and a.result != "failed"
            and a.planned_visit_date == visit_date
            and a.occurred_at.astimezone(zone).date() <= latest
            for a in before
        ):
            refusals.append(_deny(profile, "visit_notice", date=visit_date, days=rules["notice_min_days"]))
    cap = frequency_refusal(profile, visit_days, visit_date)
    if cap is not None and not override_frequency:
        refusals.append(cap)
    return refusals


def _too_close(profile: Profile, visit_days: Iterable[date] | None, visit_date: date) -> date | None:
    """The nearest other visit day closer to ``visit_date`` than the profile allows, or None."""
    days = profile.frequency["min_days_between_visits"]
    close = [d for d in visit_days or () if abs((visit_date - d).days) < days] if days else []
    return min(close, key=lambda d: (abs((visit_date - d).days), d)) if close else None


def frequency_refusal(profile: Profile, visit_days: Iterable[date] | None, visit_date: date) -> Decision | None:
    """At most one visit per debtor in any ``min_days_between_visits`` days, before or after."""
    other = _too_close(profile, visit_days, visit_date)
    if other is None:
        return None
    return _deny(profile, "frequency_cap", other=other, days=profile.frequency["min_days_between_visits"])


def frequency_override_flag(profile: Profile, visit_days: Iterable[date] | None, visit_date: date) -> Flag | None:
    """The flag a manual override of the frequency cap raises, or None if no cap was broken."""
    other = _too_close(profile, visit_days, visit_date)
    if other is None:
        return None
    return _flag(profile, "frequency_override", days=profile.frequency["min_days_between_visits"], last=other)


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def training_valid(profile: Profile, record: TrainingFacts, on_date: date) -> bool:
    cap = _add_months(record.passed_at, profile.qualification["validity_months"])
    return record.passed_at <= on_date < min(record.expires_at, cap)


def collector_blockers(profile: Profile, collector: CollectorFacts, on_date: date) -> list[Decision]:
    """Why this collector may not visit on ``on_date``: inactive, not vetted, training lapsed."""
    refusals = []
    if not collector.active:
        refusals.append(_deny(profile, "collector_inactive", collector=collector.code))
    if profile.qualification["background_cleared"] and not collector.background_cleared:
        refusals.append(_deny(profile, "background", collector=collector.code))
    for module in profile.qualification["required_modules"]:
        if not any(r.module == module and training_valid(profile, r, on_date) for r in collector.trainings):
            refusals.append(_deny(profile, "qualification", collector=collector.code, module=module, date=on_date))
    return refusals


def crew_blockers(profile: Profile, crew: CrewFacts, on_date: date) -> list[Decision]:
    """Why this crew may not be dispatched on ``on_date`` (empty: eligible)."""
    members = [m for m in crew.members if m.active]
    refusals = []
    if not getattr(crew, "active", True):
        refusals.append(_deny(profile, "crew_inactive", crew=crew.code))
    if len(members) < profile.crew["min_size"]:
        refusals.append(
            _deny(profile, "crew_size", min_size=profile.crew["min_size"], crew=crew.code, size=len(members))
        )
    for member in members:
        refusals.extend(collector_blockers(profile, member, on_date))
    return refusals


def complaint_conflict(
    profile: Profile, crew: CrewFacts, collectors_under_complaint: Collection[int]
) -> Decision | None:
    """A refusal if a crew member has an open complaint from this debtor."""
    if not profile.blocking["complaint_against_collector"]:
        return None
    for member in crew.members:
        if member.id in collectors_under_complaint:
            return _deny(profile, "complaint_under_review", collector=member.code)
    return None


def case_stage_refusal(profile: Profile, stage: str) -> Decision | None:
    """Only a case in field visits may be visited."""
    return None if stage == "field_visit" else _deny(profile, "case_stage", stage=stage)


def visit_refusals(
    profile: Profile,
    *,
    case_stage: str,
    debtor_flags: Mapping[str, Any] | None,
    contact_attempts: Iterable[ContactFacts],
    visit_date: date,
    debtor_tz: str,
    availability: Availability | None,
    visit_days: Iterable[date] | None = (),
    crew: CrewFacts | None = None,
    collectors_under_complaint: Collection[int] = (),
    override_frequency: bool = False,
) -> list[Decision]:
    """Everything that forbids ``crew`` visiting this debtor on ``visit_date``, time of day aside.

    The one list of day rules: planning, committing, a manual move, the check-in at the
    door and the withdrawal of tasks after a change all ask it, each with the facts as
    they stand at that moment. Empty: the visit may go ahead that day.
    """
    refusals = [r for r in [case_stage_refusal(profile, case_stage)] if r]
    refusals += task_blockers(
        profile,
        debtor_flags=debtor_flags,
        contact_attempts=contact_attempts,
        visit_date=visit_date,
        debtor_tz=debtor_tz,
        visit_days=visit_days,
        override_frequency=override_frequency,
    )
    if not visiting_windows(profile, debtor_tz, availability, visit_date):
        refusals.append(no_window_refusal(profile, visit_date))
    if crew is not None:
        refusals += crew_blockers(profile, crew, visit_date)
        conflict = complaint_conflict(profile, crew, collectors_under_complaint)
        if conflict is not None:
            refusals.append(conflict)
    return refusals


def visiting_windows(
    profile: Profile, debtor_tz: str, availability: Availability | None, visit_date: date
) -> list[tuple[datetime, datetime]]:
    """The debtor's visitable windows on ``visit_date`` as UTC (start, end) pairs.

    Visiting hours in the debtor's zone, narrowed to their stated availability for
    that weekday when they stated any.
    """
    zone = ZoneInfo(debtor_tz)
    hours = profile.visiting_hours
    base = [(hours["start"], hours["end"])]
    weekday = visit_date.weekday()
    stated = [(w["start"], w["end"]) for w in availability or [] if weekday in w.get("days", range(7))]
    if availability:
        base = [(max(a, hours["start"]), min(b, hours["end"])) for a, b in ((_clock(s), _clock(e)) for s, e in stated)]
        base = [(a, b) for a, b in base if a < b]
    return [
        (datetime.combine(visit_date, a, zone).astimezone(UTC), datetime.combine(visit_date, b, zone).astimezone(UTC))
        for a, b in sorted(base)
    ]


def no_window_refusal(profile: Profile, visit_date: date) -> Decision:
    return _deny(profile, "no_visiting_window", date=visit_date)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return datetime.min.time().replace(hour=int(hours), minute=int(minutes))


# ---------------------------------------------------------------- at the door


def planned_day(profile: Profile, planned: date, debtor_tz: str, at_utc: datetime) -> Decision:
    """A visit happens on the day it was planned for, in the debtor's zone."""
    today = at_utc.astimezone(ZoneInfo(debtor_tz)).date()
    if today == planned:
        return _allow(profile, "planned_day")
    return _deny(profile, "planned_day", planned=planned, today=today, tz=debtor_tz)


def check_in_time(
    profile: Profile, debtor_tz: str, at_utc: datetime, consent: bool = False, availability: Availability | None = None
) -> tuple[Decision, Flag | None]:
    """(decision, flag): refused outside visiting hours, unless the profile lets the
    debtor's recorded consent stand, in which case it is allowed and flagged; refused
    outside the debtor's stated availability (the windows the planner honours too)."""
    zone = ZoneInfo(debtor_tz)
    local = at_utc.astimezone(zone)
    hours = profile.visiting_hours
    values = {
        "start": _hhmm(hours["start"]),
        "end": _hhmm(hours["end"]),
        "tz": debtor_tz,
        "local": local.strftime("%H:%M"),
    }
    if hours["start"] <= local.time() < hours["end"]:
        if availability and not any(
            a <= at_utc < b for a, b in visiting_windows(profile, debtor_tz, availability, local.date())
        ):
            return _deny(profile, "stated_availability", date=local.date(), tz=debtor_tz, local=values["local"]), None
        return _allow(profile, "visiting_hours"), None
    if consent and hours["consent_allows_outside"]:
        return _allow(profile, "visiting_hours"), _flag(profile, "out_of_hours", "visiting_hours_consent", **values)
    return _deny(profile, "visiting_hours", **values), None


def check_in_where(
    profile: Profile,
    distance_m: float | None,
    places: Iterable[tuple[str, float]] = (),
    debtor_flags: Mapping[str, Any] | None = None,
) -> list[Decision]:
    """Refusals for where a check-in was made: too far from the registered address for a
    profile that allows only that address, or at another place the case knows of (a
    workplace, a hospital, a public place) that the profile forbids.

    ``places``: the debtor's other known places as (kind, distance of the check-in
    from it in metres); ``distance_m``: from the registered address.
    """
    place, refusals = profile.place, []
    flags = debtor_conditions(debtor_flags)
    if place["registered_address_only"] and distance_m is not None and distance_m > place["max_distance_m"]:
        refusals.append(
            _deny(profile, "registered_address_only", distance_m=distance_m, limit_m=place["max_distance_m"])
        )
    for kind, away_m in places:
        treatment = place[kind]
        near = away_m <= place["geofence_radius_m"] and (distance_m is None or away_m < distance_m)
        if not near or treatment == "allowed":
            continue
        if treatment == "when_prohibited" and "workplace_prohibited" not in flags:
            continue
        if treatment == "unless_consent" and "place_consent" in flags:
            continue
        unless = (
            (" without the debtor's express consent", "（未经债务人明确同意）")
            if treatment == "unless_consent"
            else (" (the employer prohibits it)", "（雇主禁止）")
            if treatment == "when_prohibited"
            else ("", "")
        )
        refusals.append(_deny(profile, PLACE_KINDS[kind], distance_m=away_m, unless=unless[0], unless_zh=unless[1]))
    return refusals


def one_visit_at_a_time(profile: Profile, crew_code: str, open_task_id: int | None) -> Decision:
    """A crew is at one door at a time: no check-in while another visit is still open."""
    if open_task_id is None:
        return _allow(profile, "one_visit_at_a_time")
    return _deny(profile, "one_visit_at_a_time", crew=crew_code, task=open_task_id)


def payload_mismatch_flag(profile: Profile, event_id: str, first_sha256: str, this_sha256: str) -> Flag:
    """A flag when an event id comes back with other content: a phone's bug, or tampering."""
    return _flag(profile, "event_payload_mismatch", event=event_id, first=first_sha256, this=this_sha256)


def clock_skew_flag(profile: Profile, device_time: datetime | None, judged_at: datetime) -> Flag | None:
    """A flag when the phone's clock and the time judged differ by more than the profile allows."""
    if device_time is None:
        return None
    seconds = abs((device_time - judged_at).total_seconds())
    limit = profile.clock["max_skew_seconds"]
    if seconds <= limit:
        return None
    return _flag(
        profile,
        "clock_skew",
        device=device_time.astimezone(UTC).isoformat(timespec="seconds"),
        judged=judged_at.astimezone(UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        limit_s=limit,
    )


def check_in_place(profile: Profile, distance_m: float | None, accuracy_m: float | None, mock: bool) -> list[Flag]:
    """Flags for where a check-in was made: off the geofence, poor accuracy, mocked."""
    place, flags = profile.place, []
    if distance_m is not None and distance_m > place["geofence_radius_m"]:
        flags.append(_flag(profile, "off_geofence", distance_m=distance_m, radius_m=place["geofence_radius_m"]))
    if accuracy_m is not None and accuracy_m > place["max_accuracy_m"]:
        flags.append(_flag(profile, "poor_accuracy", accuracy_m=accuracy_m, limit_m=place["max_accuracy_m"]))
    if mock:
        flags.append(_flag(profile, "mock_location"))
    return flags


def travel_flag(profile: Profile, distance_km: float, seconds: float) -> Flag | None:
    """A flag if moving ``distance_km`` in ``seconds`` is faster than the profile allows."""
    limit = profile.travel["max_speed_kmh"]
    if seconds <= 0:
        speed = float("inf") if distance_km > 0.5 else 0.0
    else:
        speed = distance_km / (seconds / 3600)
    if speed <= limit:
        return None
    return _flag(
        profile,
        "impossible_travel",
        distance_km=distance_km,
        minutes=seconds / 60,
        speed_kmh=min(speed, 99999),
        limit_kmh=limit,
    )


def collector_on_crew(profile: Profile, collector: CollectorFacts | None, crew_id: int | None) -> Decision:
    if collector is not None and collector.crew_id == crew_id and crew_id is not None:
        return _allow(profile, "crew_membership")
    return _deny(profile, "crew_membership", collector=collector.code if collector else "?")


def recording_flag(profile: Profile, recording_seconds: Sequence[float | None] | None) -> Flag | None:
    """At check-out: a flag if the required recording is missing or too short.

    ``recording_seconds``: durations of the visit's audio recordings (None when unknown).
    """
    rules = profile.recording
    if not rules["required"]:
        return None
    if not recording_seconds:
        return _flag(profile, "missing_recording")
    total = sum(s or 0 for s in recording_seconds)
    if total < rules["min_seconds"]:
        return _flag(profile, "short_recording", seconds=total, min_seconds=rules["min_seconds"])
    return None


def waiver_flag(profile: Profile, amount_due_minor: int, waiver_minor: int) -> Flag | None:
    """A flag (and so a supervisor's approval) when the waiver is above the profile's limit."""
    if waiver_minor <= 0 or amount_due_minor <= 0:
        return None
    percent = waiver_minor * 100 / amount_due_minor
    limit = profile.agreements["waiver_limit_percent"]
    if percent <= limit:
        return None
    return _flag(profile, "waiver_above_limit", "waiver_limit", percent=percent, limit=limit)


APPROVAL_TIERS = ("supervisor", "regional_supervisor", "admin")


def approval_tier(role: str, team_scoped: bool) -> str | None:
    """Which approval limit a user has: a team's supervisor, a region's, or an admin."""
    if role == "admin":
        return "admin"
    if role == "supervisor":
        return "supervisor" if team_scoped else "regional_supervisor"
    return None


def waiver_approval(profile: Profile, tier: str | None, owed_minor: int, waiver_minor: int) -> Decision:
    """May someone of this tier approve this waiver? Allowed up to the profile's limit for
    the tier (as a share of what was owed when the agreement was made)."""
    limit = profile.agreements["approval_limits"].get(tier, -1) if tier else -1
    percent = waiver_minor * 100 / owed_minor if owed_minor > 0 else (100 if waiver_minor else 0)
    if percent <= limit:
        decision = _allow(profile, "waiver_approval_limit")
        return Decision(
            True, decision.rule_id, decision.profile, details={"percent": percent, "limit": limit, "tier": tier}
        )
    higher = [t for t in APPROVAL_TIERS if profile.agreements["approval_limits"][t] >= percent]
    return _deny(
        profile,
        "waiver_approval_limit",
        percent=percent,
        limit=max(limit, 0),
        tier=tier or "caller",
        next=higher[0].replace("_", " ") if higher else "nobody",
    )


def complaint_flag(profile: Profile, category: str) -> Flag:
    return _flag(profile, "complaint_received", category=category)


def retention_until(profile: Profile, recorded_on: date, kind: str | None = None) -> date:
    """The first day a record made (or counted from) ``recorded_on`` may be deleted: after
    the profile's period for that record kind (``years`` when no kind is named)."""
    years = profile.retention["kinds"][kind]["years"] if kind else profile.retention["years"]
    return _add_months(recorded_on, 12 * years)


def retention_due(
    profile: Profile, case_closed: date, last_activity: date, latest_records: Mapping[str, date | None]
) -> tuple[date, dict[str, date]]:
    """The first day a closed case's records may all be anonymised, and why.

    ``latest_records``: per record kind, the day of its latest record on the case (absent
    when it has none). Each kind's period counts from the event its profile names: the
    record's own day, the case's last collection activity, or the day it was closed.
    Answers ``(day, {kind: day that kind may go})``; the latest kind decides.
    """
    starts = {"case_closed": case_closed, "last_activity": last_activity}
    by_kind = {}
    for kind, rule in profile.retention["kinds"].items():
        if rule["counted_from"] == "record":
            if kind in ("debtor", "case"):
                start = case_closed
            elif (latest := latest_records.get(kind)) is None:
                continue  # no record of this kind on the case
            else:
                start = latest
        else:
            start = starts[rule["counted_from"]]
        by_kind[kind] = retention_until(profile, start, kind)
    return max(by_kind.values()), by_kind


HOLD_REASONS = {
    "dispute": ("an open dispute", "争议未结"),
    "complaint": ("a complaint under review", "投诉处理中"),
    "litigation": ("a litigation hold", "诉讼保全"),
}


def legal_holds(debtor_flags: Mapping[str, Any] | None, open_complaints: object) -> list[dict[str, str]]:
    """What stops a debtor's data from being anonymised: an open dispute, a complaint not
    yet closed, a litigation flag. Each hold names itself and its reason."""
    flags = debtor_flags or {}
    holds = []
    if flags.get("dispute"):
        holds.append("dispute")
    if open_complaints:
        holds.append("complaint")
    if flags.get("litigation"):
        holds.append("litigation")
    return [{"hold": h, "reason": HOLD_REASONS[h][0], "reason_zh": HOLD_REASONS[h][1]} for h in holds]


def phone_limits(profile: Profile) -> dict[str, Any]:
    """The profile's values the phone warns about before the server decides (the server's
    rules above stay the judge): visiting hours, geofence, accuracy, recording, waiver."""
    return {
        "visiting_hours": {
            "start": _hhmm(profile.visiting_hours["start"]),
            "end": _hhmm(profile.visiting_hours["end"]),
        },
        "geofence_radius_m": profile.place["geofence_radius_m"],
        "max_distance_m": profile.place["max_distance_m"] if profile.place["registered_address_only"] else None,
        "max_accuracy_m": profile.place["max_accuracy_m"],
        "recording_required": profile.recording["required"],
        "recording_min_seconds": profile.recording["min_seconds"],
        "waiver_limit_percent": profile.agreements["waiver_limit_percent"],
    }


def reminders(profile: Profile, language: str = "en") -> list[str]:
    return list(profile.reminders["zh" if language.startswith("zh") else "en"])
