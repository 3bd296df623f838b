"""Every rule of the conduct policy in every profile, with its boundary cases.

Each assertion names the rule id the decision must carry.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace as Facts
from zoneinfo import ZoneInfo

import pytest

from app.errors import PolicyViolation
from app.policy import Policy, ProfileError, load_profiles, rules
from app.policy.profile import PROFILE_DIR, load_profile

PROFILES = load_profiles()
SHANGHAI, NEW_YORK, LONDON = "Asia/Shanghai", "America/New_York", "Europe/London"
VISIT_DAY = date(2026, 12, 1)  # a Tuesday


def at(day, hh, mm, zone, ss=0):
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def attempt(purpose="contact", days_before=3, result="no_answer", planned=None, zone=SHANGHAI):
    return Facts(
        purpose=purpose,
        result=result,
        planned_visit_date=planned,
        occurred_at=at(VISIT_DAY - timedelta(days=days_before), 10, 0, zone),
    )


def training(module, passed, expires):
    return Facts(module=module, passed_at=passed, expires_at=expires)


def collector(code="C1", trained=True, cleared=True, active=True, expires=date(2027, 6, 1), crew_id=1, id=1):
    records = [training(m, date(2026, 6, 1), expires) for m in ("law_compliance", "communication")] if trained else []
    return Facts(id=id, code=code, active=active, background_cleared=cleared, trainings=records, crew_id=crew_id)


def crew(*members, code="K1"):
    return Facts(code=code, members=list(members))


def rule_ids(decisions):
    return [d.rule_id for d in decisions]


# ---------------------------------------------------------------- profiles are data


def test_the_three_profiles_load_with_versions():
    assert {p.label for p in PROFILES.values()} == {"cn@2026.1", "us-fdcpa@2026.1", "uk-conc@2026.1"}


def test_a_malformed_profile_refuses_to_start_naming_the_key(tmp_path):
    text = (PROFILE_DIR / "cn.toml").read_text(encoding="utf-8").replace('end = "22:00"', 'end = "25:99"')
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"cn.toml: visiting_hours.end: must be a time"):
        load_profile(tmp_path / "cn.toml")


def test_an_unknown_key_in_a_profile_is_named(tmp_path):
    text = (PROFILE_DIR / "cn.toml").read_text(encoding="utf-8").replace("min_size = 2", "min_size = 2\nmin_sise = 3")
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"crew.min_sise: Unknown field"):
        load_profile(tmp_path / "cn.toml")


def test_a_missing_setting_is_named(tmp_path):
    text = (PROFILE_DIR / "cn.toml").read_text(encoding="utf-8").replace("geofence_radius_m = 200        # setting", "")
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"place.geofence_radius_m: Missing data"):
        load_profile(tmp_path / "cn.toml")


def test_the_app_refuses_to_start_with_a_broken_profile(tmp_path):
    from app import create_app

    (tmp_path / "cn.toml").write_text("id = 'cn'\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="cn.toml: .*visiting_hours: Missing data"):
        create_app(
            {
                "APP_ENV": "testing",
                "SECRET_KEY": "x" * 32,
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "POLICY_PROFILE_DIR": str(tmp_path),
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )


def test_an_unknown_default_profile_refuses_to_start():
    with pytest.raises(ProfileError, match="POLICY_PROFILE: no profile 'mars'"):
        Policy(PROFILES, "mars")


def test_a_team_or_region_may_override_the_default_profile():
    policy = Policy(PROFILES, "cn")
    region = Facts(policy_profile="uk-conc")
    assert policy.for_team(Facts(policy_profile=None, region=Facts(policy_profile=None))).id == "cn"
    assert policy.for_team(Facts(policy_profile=None, region=region)).id == "uk-conc"
    assert policy.for_team(Facts(policy_profile="us-fdcpa", region=region)).id == "us-fdcpa"


def test_a_refusal_raises_a_policy_violation_naming_rule_and_profile():
    decision, _ = rules.check_in_time(PROFILES["cn"], SHANGHAI, at(VISIT_DAY, 23, 0, SHANGHAI))
    with pytest.raises(PolicyViolation) as caught:
        decision.enforce()
    assert caught.value.rule_id == "cn.visiting_hours" and caught.value.profile_version == "cn@2026.1"
    assert "22:00" in caught.value.message and "上门时段" in caught.value.details["reason_zh"]


# ---------------------------------------------------------------- visiting hours at the door


@pytest.mark.parametrize(
    "profile_id,zone,last_ok,first_refused,first_ok",
    [
        ("cn", SHANGHAI, (21, 59), (22, 0), (8, 0)),
        ("us-fdcpa", NEW_YORK, (20, 59), (21, 0), (8, 0)),
        ("uk-conc", LONDON, (20, 59), (21, 0), (8, 0)),
    ],
)
def test_check_in_is_judged_against_visiting_hours_in_the_debtors_zone(
    profile_id, zone, last_ok, first_refused, first_ok
):
    profile = PROFILES[profile_id]
    ok, _ = rules.check_in_time(profile, zone, at(VISIT_DAY, *last_ok, zone, ss=59))
    refused, _ = rules.check_in_time(profile, zone, at(VISIT_DAY, *first_refused, zone))
    early, _ = rules.check_in_time(profile, zone, at(VISIT_DAY, first_ok[0], first_ok[1], zone) - timedelta(seconds=1))
    opening, _ = rules.check_in_time(profile, zone, at(VISIT_DAY, *first_ok, zone))
    assert ok.allowed and opening.allowed
    assert not refused.allowed and refused.rule_id == f"{profile_id}.visiting_hours"
    assert not early.allowed


def test_a_debtor_in_another_zone_than_the_collector_is_judged_in_their_own_time():
    # 21:30 in Shanghai is 22:30 in Tokyo: fine for a Shanghai debtor, too late for a Tokyo one.
    moment = at(VISIT_DAY, 21, 30, SHANGHAI)
    assert rules.check_in_time(PROFILES["cn"], SHANGHAI, moment)[0].allowed
    refused = rules.check_in_time(PROFILES["cn"], "Asia/Tokyo", moment)[0]
    assert not refused.allowed and refused.details["local"] == "22:30"


@pytest.mark.parametrize("profile_id,accepted", [("cn", True), ("us-fdcpa", True), ("uk-conc", False)])
def test_recorded_consent_lets_an_out_of_hours_check_in_stand_only_where_the_profile_says(profile_id, accepted):
    decision, flag = rules.check_in_time(PROFILES[profile_id], SHANGHAI, at(VISIT_DAY, 22, 30, SHANGHAI), consent=True)
    assert decision.allowed is accepted
    if accepted:
        assert flag.kind == "out_of_hours" and flag.rule_id == f"{profile_id}.visiting_hours_consent"
    else:
        assert flag is None and decision.rule_id == "uk-conc.visiting_hours"


# ---------------------------------------------------------------- windows for dispatch


def test_windows_are_visiting_hours_in_the_debtors_zone_as_utc():
    windows = rules.visiting_windows(PROFILES["cn"], SHANGHAI, [], VISIT_DAY)
    assert windows == [(at(VISIT_DAY, 8, 0, SHANGHAI), at(VISIT_DAY, 22, 0, SHANGHAI))]


def test_windows_honour_the_debtors_stated_availability_within_visiting_hours():
    availability = [
        {"start": "07:00", "end": "09:30"},
        {"start": "18:00", "end": "23:00"},
        {"days": [5, 6], "start": "10:00", "end": "12:00"},
    ]
    windows = rules.visiting_windows(PROFILES["uk-conc"], LONDON, availability, VISIT_DAY)
    assert windows == [
        (at(VISIT_DAY, 8, 0, LONDON), at(VISIT_DAY, 9, 30, LONDON)),
        (at(VISIT_DAY, 18, 0, LONDON), at(VISIT_DAY, 21, 0, LONDON)),
    ]


def test_a_debtor_available_only_at_night_has_no_window():
    assert rules.visiting_windows(PROFILES["cn"], SHANGHAI, [{"start": "22:30", "end": "23:30"}], VISIT_DAY) == []


# ---------------------------------------------------------------- preconditions and blocking flags


def blockers(profile_id, flags=None, attempts=(), last=None, zone=SHANGHAI, override=False):
    return rules.task_blockers(
        PROFILES[profile_id],
        debtor_flags=flags or {},
        contact_attempts=list(attempts),
        visit_date=VISIT_DAY,
        debtor_tz=zone,
        visit_days=[last] if last else (),
        override_frequency=override,
    )


def test_cn_needs_a_prior_remote_contact_attempt():
    assert rule_ids(blockers("cn")) == ["cn.prior_contact"]
    assert blockers("cn", attempts=[attempt()]) == []


def test_a_contact_attempt_on_the_visit_day_itself_does_not_count():
    same_day = Facts(
        purpose="contact", result="reached", planned_visit_date=None, occurred_at=at(VISIT_DAY, 9, 0, SHANGHAI)
    )
    assert rule_ids(blockers("cn", attempts=[same_day])) == ["cn.prior_contact"]


def test_us_needs_a_validation_notice_before_the_first_visit():
    assert rule_ids(blockers("us-fdcpa", zone=NEW_YORK)) == ["us-fdcpa.validation_notice"]
    notice = attempt("validation_notice", result="delivered", zone=NEW_YORK)
    assert blockers("us-fdcpa", attempts=[notice], zone=NEW_YORK) == []
    failed = attempt("validation_notice", result="failed", zone=NEW_YORK)
    assert rule_ids(blockers("us-fdcpa", attempts=[failed], zone=NEW_YORK)) == ["us-fdcpa.validation_notice"]


def test_uk_needs_notice_of_that_visit_date_at_least_a_day_before():
    right = attempt("visit_notice", days_before=1, result="delivered", planned=VISIT_DAY, zone=LONDON)
    other_date = attempt(
        "visit_notice", days_before=3, result="delivered", planned=VISIT_DAY + timedelta(days=1), zone=LONDON
    )
    assert blockers("uk-conc", attempts=[right], zone=LONDON) == []
    assert rule_ids(blockers("uk-conc", attempts=[other_date], zone=LONDON)) == ["uk-conc.visit_notice"]
    assert rule_ids(blockers("uk-conc", zone=LONDON)) == ["uk-conc.visit_notice"]


@pytest.mark.parametrize(
    "profile_id,flag,blocks",
    [
        ("cn", "dispute", True),
        ("cn", "cease", True),
        ("cn", "deceased", True),
        ("cn", "capacity_concern", True),
        ("cn", "vulnerable", False),
        ("cn", "attorney", False),
        ("us-fdcpa", "dispute", True),
        ("us-fdcpa", "cease", True),
        ("us-fdcpa", "attorney", True),
        ("us-fdcpa", "vulnerable", False),
        ("uk-conc", "dispute", True),
        ("uk-conc", "vulnerable", True),
        ("uk-conc", "capacity_concern", True),
        ("uk-conc", "breathing_space", True),
        ("uk-conc", "attorney", False),
    ],
)
def test_blocking_flags_follow_the_profile(profile_id, flag, blocks):
    prerequisites = {
        "cn": [attempt()],
        "us-fdcpa": [attempt("validation_notice", result="delivered")],
        "uk-conc": [attempt("visit_notice", days_before=2, result="delivered", planned=VISIT_DAY)],
    }
    refused = blockers(profile_id, flags={flag: True}, attempts=prerequisites[profile_id])
    assert (rule_ids(refused) == [f"{profile_id}.blocking_flag"]) is blocks
    if blocks:
        assert refused[0].details["flag_id"] in (flag, "dispute_unverified")


def test_a_verified_dispute_no_longer_blocks_a_us_visit():
    notice = [attempt("validation_notice", result="delivered")]
    assert blockers("us-fdcpa", flags={"dispute": True, "dispute_verified": True}, attempts=notice) == []


def test_every_blocking_reason_is_reported_not_only_the_first():
    assert rule_ids(blockers("cn", flags={"dispute": True, "cease": True})) == [
        "cn.blocking_flag",
        "cn.blocking_flag",
        "cn.prior_contact",
    ]


def test_the_frequency_cap_holds_for_n_days_in_cn_and_not_elsewhere():
    cap = PROFILES["cn"].frequency["min_days_between_visits"]
    too_soon = VISIT_DAY - timedelta(days=cap - 1)
    just_enough = VISIT_DAY - timedelta(days=cap)
    assert rule_ids(blockers("cn", attempts=[attempt()], last=too_soon)) == ["cn.frequency_cap"]
    assert blockers("cn", attempts=[attempt()], last=just_enough) == []
    assert blockers("us-fdcpa", attempts=[attempt("validation_notice", result="delivered")], last=too_soon) == []


def test_a_manual_override_of_the_cap_passes_but_raises_a_flag():
    too_soon = VISIT_DAY - timedelta(days=1)
    assert blockers("cn", attempts=[attempt()], last=too_soon, override=True) == []
    flag = rules.frequency_override_flag(PROFILES["cn"], [too_soon], VISIT_DAY)
    assert flag.kind == "frequency_override" and flag.rule_id == "cn.frequency_override"
    assert rules.frequency_override_flag(PROFILES["cn"], [VISIT_DAY - timedelta(days=30)], VISIT_DAY) is None


# ---------------------------------------------------------------- crews and qualification


def test_cn_needs_two_collectors_per_visit():
    refused = rules.crew_blockers(PROFILES["cn"], crew(collector()), VISIT_DAY)
    assert rule_ids(refused) == ["cn.crew_size"]
    assert rules.crew_blockers(PROFILES["cn"], crew(collector("C1"), collector("C2")), VISIT_DAY) == []
    assert rules.crew_blockers(PROFILES["us-fdcpa"], crew(collector()), VISIT_DAY) == []


def test_an_inactive_member_does_not_count_towards_crew_size():
    refused = rules.crew_blockers(PROFILES["cn"], crew(collector("C1"), collector("C2", active=False)), VISIT_DAY)
    assert rule_ids(refused) == ["cn.crew_size"]


def test_training_is_valid_until_the_day_before_it_expires():
    expiring = collector("C2", expires=VISIT_DAY)
    day_before = rules.crew_blockers(PROFILES["cn"], crew(collector("C1"), expiring), VISIT_DAY - timedelta(days=1))
    on_the_day = rules.crew_blockers(PROFILES["cn"], crew(collector("C1"), expiring), VISIT_DAY)
    assert day_before == []
    assert rule_ids(on_the_day) == ["cn.qualification", "cn.qualification"]
    assert {d.details["module"] for d in on_the_day} == {"law_compliance", "communication"}


def test_training_older_than_the_validity_period_has_lapsed_whatever_its_expiry_says():
    old = Facts(
        id=2,
        code="C2",
        active=True,
        background_cleared=True,
        crew_id=1,
        trainings=[training(m, date(2025, 11, 1), date(2030, 1, 1)) for m in ("law_compliance", "communication")],
    )
    assert rules.crew_blockers(PROFILES["cn"], crew(collector(), old), date(2026, 10, 31)) == []
    assert (
        rule_ids(rules.crew_blockers(PROFILES["cn"], crew(collector(), old), date(2026, 11, 1)))[0]
        == "cn.qualification"
    )


def test_an_untrained_or_unvetted_collector_makes_a_cn_crew_ineligible_but_not_a_us_one():
    refused = rules.crew_blockers(
        PROFILES["cn"], crew(collector("C1", trained=False, cleared=False), collector("C2")), VISIT_DAY
    )
    assert sorted(set(rule_ids(refused))) == ["cn.background", "cn.qualification"]
    assert rules.crew_blockers(PROFILES["us-fdcpa"], crew(collector(trained=False, cleared=False)), VISIT_DAY) == []


def test_an_open_complaint_keeps_that_collectors_crew_from_the_debtor():
    two = crew(collector("C1", id=1), collector("C2", id=2))
    refused = rules.complaint_conflict(PROFILES["cn"], two, {2})
    assert refused.rule_id == "cn.complaint_under_review" and refused.details["collector"] == "C2"
    assert rules.complaint_conflict(PROFILES["cn"], two, {7}) is None


def test_a_collector_not_on_the_tasks_crew_is_refused_at_the_door():
    assert rules.collector_on_crew(PROFILES["cn"], collector(crew_id=1), 1).allowed
    refused = rules.collector_on_crew(PROFILES["cn"], collector(crew_id=1), 2)
    assert not refused.allowed and refused.rule_id == "cn.crew_membership"


# ---------------------------------------------------------------- place, travel, recording


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_the_geofence_flags_one_metre_beyond_its_radius(profile_id):
    profile = PROFILES[profile_id]
    radius = profile.place["geofence_radius_m"]
    assert rules.check_in_place(profile, radius, 10, False) == []
    flags = rules.check_in_place(profile, radius + 1, 10, False)
    assert [(f.kind, f.rule_id) for f in flags] == [("off_geofence", f"{profile_id}.off_geofence")]


def test_poor_accuracy_and_a_mocked_location_are_flagged():
    profile = PROFILES["cn"]
    flags = rules.check_in_place(profile, 10, profile.place["max_accuracy_m"] + 1, True)
    assert [f.rule_id for f in flags] == ["cn.poor_accuracy", "cn.mock_location"]
    assert rules.check_in_place(profile, 10, profile.place["max_accuracy_m"], False) == []


def test_impossible_travel_between_check_ins_is_flagged():
    profile = PROFILES["cn"]
    assert rules.travel_flag(profile, 10, 20 * 60) is None  # 30 km/h
    flag = rules.travel_flag(profile, 30, 10 * 60)  # 180 km/h
    assert flag.rule_id == "cn.impossible_travel" and round(flag.details["speed_kmh"]) == 180
    assert rules.travel_flag(profile, 5, 0).kind == "impossible_travel"


@pytest.mark.parametrize("profile_id,required", [("cn", True), ("uk-conc", True), ("us-fdcpa", False)])
def test_a_visit_closed_without_its_recording_is_flagged_where_required(profile_id, required):
    profile = PROFILES[profile_id]
    flag = rules.recording_flag(profile, [])
    assert (flag is not None and flag.rule_id == f"{profile_id}.missing_recording") is required
    if required:
        short = rules.recording_flag(profile, [profile.recording["min_seconds"] - 1])
        assert short.rule_id == f"{profile_id}.short_recording"
        assert rules.recording_flag(profile, [profile.recording["min_seconds"]]) is None


# ---------------------------------------------------------------- agreements, complaints, retention


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_a_waiver_above_the_limit_needs_approval(profile_id):
    profile = PROFILES[profile_id]
    limit = profile.agreements["waiver_limit_percent"]
    assert rules.waiver_flag(profile, 100_000, limit * 1000) is None
    flag = rules.waiver_flag(profile, 100_000, limit * 1000 + 1)
    assert flag.kind == "waiver_above_limit" and flag.rule_id == f"{profile_id}.waiver_limit"


def test_a_complaint_raises_a_flag():
    assert rules.complaint_flag(PROFILES["cn"], "rude").rule_id == "cn.complaint_received"


@pytest.mark.parametrize("profile_id,years", [("cn", 2), ("us-fdcpa", 3), ("uk-conc", 6)])
def test_records_are_kept_for_the_profiles_retention_period(profile_id, years):
    assert rules.retention_until(PROFILES[profile_id], date(2024, 2, 29)) == date(
        2024 + years, 2, 28 if years % 4 else 29
    )


def test_conduct_reminders_come_in_english_and_chinese():
    assert "Disclose nothing" in " ".join(rules.reminders(PROFILES["cn"], "en"))
    assert "不向任何人透露" in " ".join(rules.reminders(PROFILES["cn"], "zh-CN"))


def test_no_other_module_decides_a_policy_rule():
    """Profile settings are read only by the policy package."""
    root = Path(__file__).resolve().parents[2]
    settings = (
        "visiting_hours",
        "geofence_radius_m",
        "min_days_between_visits",
        "waiver_limit_percent",
        "required_modules",
        "max_speed_kmh",
        "min_size",
    )
    offenders = []
    for path in list((root / "app").rglob("*.py")) + list((root / "api").rglob("*.py")):
        if "policy" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(root)}: {s}" for s in settings if f'"{s}"' in text or f"'{s}'" in text]
    assert offenders == []


# ---------------------------------------------------------------- judged again at the door


@pytest.mark.parametrize("profile_id,zone", [("cn", SHANGHAI), ("us-fdcpa", NEW_YORK), ("uk-conc", LONDON)])
def test_a_visit_happens_on_its_planned_day_in_the_debtors_zone(profile_id, zone):
    profile = PROFILES[profile_id]
    assert rules.planned_day(profile, VISIT_DAY, zone, at(VISIT_DAY, 0, 0, zone)).allowed
    assert rules.planned_day(profile, VISIT_DAY, zone, at(VISIT_DAY, 23, 59, zone, ss=59)).allowed
    late = rules.planned_day(profile, VISIT_DAY, zone, at(VISIT_DAY + timedelta(days=1), 0, 0, zone))
    early = rules.planned_day(profile, VISIT_DAY, zone, at(VISIT_DAY, 0, 0, zone) - timedelta(seconds=1))
    assert late.rule_id == early.rule_id == f"{profile_id}.planned_day" and not late.allowed and not early.allowed


@pytest.mark.parametrize("profile_id", ["cn", "us-fdcpa", "uk-conc"])
def test_beyond_the_hard_distance_a_check_in_is_refused_and_inside_it_is_not(profile_id):
    profile = PROFILES[profile_id]
    limit = profile.place["max_distance_m"]
    assert rules.check_in_where(profile, limit) == []
    assert rule_ids(rules.check_in_where(profile, limit + 0.5)) == [f"{profile_id}.registered_address_only"]


@pytest.mark.parametrize(
    "profile_id,kind,flags,refused",
    [
        ("cn", "workplace", {}, True),
        ("cn", "hospital", {}, True),
        ("cn", "public", {}, True),
        ("cn", "workplace", {"place_consent": True}, True),
        ("us-fdcpa", "workplace", {}, False),
        ("us-fdcpa", "workplace", {"workplace_prohibited": True}, True),
        ("us-fdcpa", "hospital", {}, False),
        ("uk-conc", "workplace", {}, True),
        ("uk-conc", "hospital", {}, True),
        ("uk-conc", "workplace", {"place_consent": True}, False),
        ("uk-conc", "public", {}, False),
    ],
)
def test_a_check_in_at_another_known_place_follows_the_profile(profile_id, kind, flags, refused):
    profile = PROFILES[profile_id]
    at_the_place = rules.check_in_where(profile, 600, [(kind, 20)], flags)
    expected = {"workplace": "workplace", "hospital": "hospital", "public": "public_place"}[kind]
    assert rule_ids(at_the_place) == ([f"{profile_id}.{expected}"] if refused else [])
    # Near home, the other place farther off: it is a visit home, whatever the place.
    assert rules.check_in_where(profile, 20, [(kind, 150)], flags) == []
    # Beyond the geofence of the other place: not at it.
    radius = profile.place["geofence_radius_m"]
    assert rules.check_in_where(profile, 600, [(kind, radius + 1)], flags) == []


@pytest.mark.parametrize("profile_id", ["cn", "us-fdcpa", "uk-conc"])
def test_a_crew_is_at_one_door_at_a_time_in_every_profile(profile_id):
    profile = PROFILES[profile_id]
    assert rules.one_visit_at_a_time(profile, "K1", None).allowed
    refused = rules.one_visit_at_a_time(profile, "K1", 42)
    assert refused.rule_id == f"{profile_id}.one_visit_at_a_time" and "42" in refused.reason_en


def test_the_phones_clock_is_flagged_beyond_the_profiles_tolerance_either_way():
    profile = PROFILES["cn"]
    judged = at(VISIT_DAY, 10, 0, SHANGHAI)
    limit = timedelta(seconds=profile.clock["max_skew_seconds"])
    assert rules.clock_skew_flag(profile, judged + limit, judged) is None
    assert rules.clock_skew_flag(profile, judged - limit, judged) is None
    assert rules.clock_skew_flag(profile, None, judged) is None
    for device in (judged + limit + timedelta(seconds=1), judged - limit - timedelta(seconds=1)):
        flag = rules.clock_skew_flag(profile, device, judged)
        assert flag.kind == "clock_skew" and flag.rule_id == "cn.clock_skew"


def test_stated_availability_is_honoured_at_the_door_and_the_hours_still_bound_it():
    profile = PROFILES["uk-conc"]
    evenings = [{"start": "18:00", "end": "23:00"}]
    assert rules.check_in_time(profile, LONDON, at(VISIT_DAY, 18, 0, LONDON), availability=evenings)[0].allowed
    refused, _ = rules.check_in_time(profile, LONDON, at(VISIT_DAY, 17, 59, LONDON), availability=evenings)
    assert refused.rule_id == "uk-conc.stated_availability"
    closed, _ = rules.check_in_time(profile, LONDON, at(VISIT_DAY, 21, 0, LONDON), availability=evenings)
    assert closed.rule_id == "uk-conc.visiting_hours"  # stated 23:00, but the profile ends at 21:00


@pytest.mark.parametrize("profile_id", ["cn", "us-fdcpa", "uk-conc"])
def test_only_a_case_in_field_visits_is_visited(profile_id):
    profile = PROFILES[profile_id]
    assert rules.case_stage_refusal(profile, "field_visit") is None
    for stage in ("notice", "remote_contact", "agreement", "resolved", "closed"):
        assert rules.case_stage_refusal(profile, stage).rule_id == f"{profile_id}.case_stage"


def test_a_crew_stood_down_is_refused():
    stood_down = Facts(code="K1", active=False, members=[collector("C1"), collector("C2")])
    assert rule_ids(rules.crew_blockers(PROFILES["cn"], stood_down, VISIT_DAY)) == ["cn.crew_inactive"]


def test_the_frequency_cap_looks_both_ways_and_counts_planned_days_too():
    cap = PROFILES["cn"].frequency["min_days_between_visits"]
    for offset in (-(cap - 1), 0, cap - 1):
        refused = rules.frequency_refusal(PROFILES["cn"], {VISIT_DAY + timedelta(days=offset)}, VISIT_DAY)
        assert refused.rule_id == "cn.frequency_cap"
    for offset in (-cap, cap):
        assert rules.frequency_refusal(PROFILES["cn"], {VISIT_DAY + timedelta(days=offset)}, VISIT_DAY) is None
    nearest = rules.frequency_refusal(
        PROFILES["cn"], {VISIT_DAY - timedelta(days=5), VISIT_DAY + timedelta(days=2)}, VISIT_DAY
    )
    assert nearest.details["other"] == (VISIT_DAY + timedelta(days=2)).isoformat()


def test_a_profile_whose_hard_limit_is_inside_its_geofence_refuses_to_load(tmp_path):
    text = (PROFILE_DIR / "cn.toml").read_text(encoding="utf-8").replace("max_distance_m = 1000", "max_distance_m = 50")
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"place.max_distance_m: must be at least geofence_radius_m"):
        load_profile(tmp_path / "cn.toml")
