"""Retention per record kind, counted from the event each profile names; legal holds."""

from datetime import date

import pytest

from app.policy import rules
from app.policy.profile import PROFILE_DIR, RECORD_KINDS, ProfileError, load_profile, load_profiles

PROFILES = load_profiles()
CLOSED, LAST_ACTIVITY = date(2026, 6, 10), date(2026, 12, 1)


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_every_profile_states_the_retention_of_every_record_kind(profile_id):
    kinds = PROFILES[profile_id].retention["kinds"]
    assert sorted(kinds) == sorted(RECORD_KINDS)
    assert all(rule["years"] >= 1 for rule in kinds.values())


def test_cn_keeps_each_record_two_years_from_its_own_day_and_the_debtor_two_years_from_closing():
    due, by_kind = rules.retention_due(
        PROFILES["cn"], CLOSED, LAST_ACTIVITY, {"visit": date(2026, 3, 1), "payment": date(2026, 11, 30)}
    )
    assert by_kind["debtor"] == by_kind["case"] == date(2028, 6, 10)
    assert by_kind["visit"] == date(2028, 3, 1) and by_kind["payment"] == date(2028, 11, 30)
    assert "recording" not in by_kind  # none on the case
    assert due == date(2028, 11, 30)


def test_us_fdcpa_keeps_everything_three_years_after_the_last_collection_activity():
    due, by_kind = rules.retention_due(PROFILES["us-fdcpa"], CLOSED, LAST_ACTIVITY, {"visit": date(2026, 3, 1)})
    assert set(by_kind.values()) == {date(2029, 12, 1)} and due == date(2029, 12, 1)


def test_uk_conc_keeps_everything_for_its_setting_from_the_case_closing():
    due, _ = rules.retention_due(PROFILES["uk-conc"], CLOSED, LAST_ACTIVITY, {"visit": date(2026, 3, 1)})
    assert due == date(2032, 6, 10)


def test_a_period_ending_on_29_february_moves_to_the_28th():
    assert rules.retention_until(PROFILES["cn"], date(2024, 2, 29), "visit") == date(2026, 2, 28)


def test_a_profile_that_leaves_a_record_kind_out_refuses_to_load(tmp_path):
    text = (PROFILE_DIR / "cn.toml").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("recording = {"))
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(
        ProfileError, match="retention.kinds: state the retention of every record kind; missing: recording"
    ):
        load_profile(tmp_path / "cn.toml")


def test_an_unknown_reckoning_is_refused(tmp_path):
    text = (
        (PROFILE_DIR / "cn.toml")
        .read_text(encoding="utf-8")
        .replace('visit = { years = 2, counted_from = "record" }', 'visit = { years = 2, counted_from = "whenever" }')
    )
    (tmp_path / "cn.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="retention.kinds.visit"):
        load_profile(tmp_path / "cn.toml")


@pytest.mark.parametrize(
    "flags,complaints,holds",
    [
        ({}, False, []),
        ({"dispute": True}, False, ["dispute"]),
        ({"dispute": False, "litigation": True}, True, ["complaint", "litigation"]),
        ({"cease": True, "deceased": True}, False, []),
    ],
)
def test_legal_holds_are_an_open_dispute_a_complaint_under_review_and_litigation(flags, complaints, holds):
    found = rules.legal_holds(flags, complaints)
    assert [h["hold"] for h in found] == holds
    assert all(h["reason"] and h["reason_zh"] for h in found)
