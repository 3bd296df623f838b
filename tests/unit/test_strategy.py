from pathlib import Path

import pytest

from app.policy.profile import ProfileError
from app.policy.strategy import STRATEGY_DIR, CaseFacts, default_strategy, load_strategy

DEFAULT = (STRATEGY_DIR / "default.toml").read_text(encoding="utf-8")
HEADER = 'id="bad"\nversion="1"\nname="x"\nname_zh="x"\nfailed_results=["no_answer"]\nescalations=[]\n'
PRIORITY = (
    "[priority]\nbase=10\ndpd_points=30\ndpd_full_days=90\nbalance_points=25\n"
    "balance_full_minor={CNY=2000000}\nbroken_promise_points=15\nkept_promise_points=10\npromise_count_max=2\n"
    "silence_points=15\nsilence_full_days=30\ndebtor_met_points=-10\ndebtor_met_days=30\n"
)
BUCKETS = '[[buckets]]\nid="A"\nmin_dpd=1\n'


def facts(**kw):
    values = dict(
        stage="remote_contact",
        days_past_due=45,
        outstanding_minor=1_000_000,
        currency="CNY",
        failed_attempts={14: 3},
        days_since_contact=2,
    )
    values.update(kw)
    return CaseFacts(**values)


def write(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_strategy_puts_each_day_past_due_in_one_bucket():
    strategy = default_strategy()
    assert [strategy.bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 400)] == ["0", "M1", "M1", "M2", "M2", "M3+", "M3+"]
    assert strategy.bucket_ids == ("0", "M1", "M2", "M3+")


@pytest.mark.parametrize(
    "buckets, message",
    [
        ('[[buckets]]\nid="A"\nmin_dpd=1\nmax_dpd=30\n[[buckets]]\nid="B"\nmin_dpd=40\n', "must start at 31"),
        ('[[buckets]]\nid="A"\nmin_dpd=1\n[[buckets]]\nid="B"\nmin_dpd=31\n', "open-ended"),
        ('[[buckets]]\nid="A"\nmin_dpd=1\nmax_dpd=30\n[[buckets]]\nid="A"\nmin_dpd=31\n', "unique"),
    ],
)
def test_a_strategy_with_gaps_or_overlaps_in_its_buckets_is_refused_naming_the_file(tmp_path, buckets, message):
    with pytest.raises(ProfileError, match=rf"bad\.toml: buckets: .*{message}"):
        load_strategy(write(tmp_path, HEADER + PRIORITY + buckets))


def test_a_well_formed_strategy_file_loads(tmp_path):
    strategy = load_strategy(write(tmp_path, HEADER + PRIORITY + BUCKETS))
    assert (strategy.label, strategy.escalations, strategy.bucket_ids) == ("bad@1", (), ("0", "A"))


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda t: t.replace("min_failed_attempts = 3\n", ""), "escalations.0.within_days"),
        (lambda t: t.replace('to_stage = "field_visit"', 'to_stage = "agreement"', 1), "escalations.0.to_stage"),
        (
            lambda t: t.replace('from_stages = ["notice"]', 'from_stages = ["remote_contact"]'),
            "escalations.2.from_stages",
        ),
        (lambda t: t.replace('id = "broken_promise_to_field"', 'id = "remote_to_field"'), "escalations"),
        (lambda t: t.replace("min_dpd = 8", "min_dpd = 0"), "escalations.2.min_dpd"),
        (lambda t: t.replace("dpd_full_days = 90", "dpd_full_days = 0"), "priority.dpd_full_days"),
        (lambda t: t.replace("dpd_points = 30 ", 'dpd_points = "30" '), "priority.dpd_points"),
        (lambda t: t.replace("CNY = 2000000", "yuan = 2000000"), "priority.balance_full_minor"),
        (lambda t: t.replace("debtor_met_days = 30", "debtor_met_days = 30\nbonus = 5"), "priority.bonus"),
        (lambda t: t.replace('"wrong_number", ', '"gone", '), "failed_results"),
        (lambda t: t.replace("[priority]", "[priorities]"), "priority"),
    ],
)
def test_a_malformed_escalation_or_score_refuses_to_load_naming_the_file_and_key(tmp_path, change, key):
    text = change(DEFAULT)
    assert text != DEFAULT
    with pytest.raises(ProfileError, match=rf"strategy default\.toml: (.*, )?{key}(\.\S+)?: "):
        load_strategy(write(tmp_path, text, "default.toml"))


def test_a_strategy_whose_id_is_not_its_file_name_is_refused(tmp_path):
    with pytest.raises(ProfileError, match=r"other\.toml: id: must match"):
        load_strategy(write(tmp_path, DEFAULT, "other.toml"))


def test_the_app_refuses_to_start_with_a_broken_strategy(tmp_path):
    from app import create_app

    write(tmp_path, DEFAULT.replace("within_days = 14", "within_days = 0"), "default.toml")
    with pytest.raises(ProfileError, match=r"default\.toml: escalations\.0\.within_days"):
        create_app(
            {
                "APP_ENV": "testing",
                "SECRET_KEY": "x" * 32,
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "STRATEGY_DIR": str(tmp_path),
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )


# ---------------------------------------------------------------- escalation rules


def test_three_failed_calls_in_two_weeks_past_thirty_days_send_a_case_to_the_field():
    rule = default_strategy().escalation_for(facts())
    assert (rule.id, rule.to_stage) == ("remote_to_field", "field_visit")
    assert rule.evidence(facts()) == {"days_past_due": 45, "failed_attempts": 3, "within_days": 14}


@pytest.mark.parametrize(
    "changed",
    [
        {"failed_attempts": {14: 2}},  # not yet three
        {"days_past_due": 29},  # M1, and not yet 30 days
        {"stage": "agreement"},  # an agreement is running
        {"stage": "field_visit"},  # already there
    ],
)
def test_a_case_short_of_every_rule_stays_where_it_is(changed):
    assert default_strategy().escalation_for(facts(**changed)) is None


def test_a_broken_promise_in_m2_sends_a_case_to_the_field_without_failed_calls():
    rule = default_strategy().escalation_for(facts(failed_attempts={14: 0}, broken_promises=1, days_past_due=31))
    assert rule.id == "broken_promise_to_field"
    assert (
        default_strategy().escalation_for(facts(failed_attempts={14: 0}, broken_promises=1, days_past_due=30)) is None
    )


def test_a_notice_past_its_week_starts_remote_contact():
    assert default_strategy().escalation_for(facts(stage="notice", days_past_due=8)).id == "notice_to_remote"
    assert default_strategy().escalation_for(facts(stage="notice", days_past_due=7)) is None


# ---------------------------------------------------------------- the priority score


def test_the_priority_score_adds_its_documented_parts():
    parts = default_strategy().priority_parts(
        facts(days_past_due=45, outstanding_minor=1_000_000, days_since_contact=12)
    )
    # 10 base + 30*45//90 + 25*1,000,000//2,000,000 + 15*12//30
    assert parts == {
        "base": 10,
        "dpd": 15,
        "balance": 12,
        "broken_promises": 0,
        "kept_promises": 0,
        "silence": 6,
        "debtor_met": 0,
    }
    assert default_strategy().priority_score(facts(days_past_due=45, days_since_contact=12)) == 43


def test_a_broken_promise_raises_priority_and_a_kept_one_lowers_it():
    score = default_strategy().priority_score
    plain = score(facts())
    assert score(facts(broken_promises=1)) == plain + 15
    assert score(facts(kept_promises=1)) == plain - 10
    assert score(facts(broken_promises=5)) == plain + 30  # counted up to promise_count_max


def test_meeting_the_debtor_lately_lowers_priority_and_silence_raises_it():
    score = default_strategy().priority_score
    assert score(facts(days_since_debtor_met=30)) == score(facts()) - 10
    assert score(facts(days_since_debtor_met=31)) == score(facts())
    assert score(facts(days_since_contact=None)) == score(facts(days_since_contact=30)) == score(facts()) + 14


def test_the_priority_score_stays_within_0_and_100():
    score = default_strategy().priority_score
    assert score(facts(days_past_due=1000, outstanding_minor=10**12, broken_promises=9, days_since_contact=None)) == 100
    assert (
        score(
            facts(days_past_due=0, outstanding_minor=0, kept_promises=9, days_since_contact=0, days_since_debtor_met=0)
        )
        == 0
    )


def test_a_balance_in_a_currency_the_strategy_does_not_weigh_scores_no_balance_points():
    assert default_strategy().priority_parts(facts(currency="JPY"))["balance"] == 0


def test_the_shipped_strategy_file_is_the_one_loaded():
    assert Path(STRATEGY_DIR / "default.toml").exists() and default_strategy().version == "2026.2"


# ---------------------------------------------------------------- the conduct policy's say


def test_only_a_flag_that_forbids_any_visit_stops_a_move_to_the_field_naming_its_rule():
    from app.policy import load_profiles, rules

    profiles = load_profiles()
    refusals = rules.escalation_refusals(profiles["cn"], to_stage="field_visit", debtor_flags={"cease": True})
    assert [(r.rule_id, r.details["flag_id"]) for r in refusals] == [("cn.blocking_flag", "cease")]
    assert rules.escalation_refusals(profiles["cn"], to_stage="field_visit", debtor_flags={"vulnerable": True}) == []
    assert [
        r.rule_id
        for r in rules.escalation_refusals(
            profiles["uk-conc"], to_stage="field_visit", debtor_flags={"vulnerable": True}
        )
    ] == ["uk-conc.blocking_flag"]
    # A verified dispute no longer blocks under us-fdcpa; an unverified one does.
    assert (
        rules.escalation_refusals(
            profiles["us-fdcpa"], to_stage="field_visit", debtor_flags={"dispute": True, "dispute_verified": True}
        )
        == []
    )
    assert rules.escalation_refusals(profiles["us-fdcpa"], to_stage="field_visit", debtor_flags={"dispute": True})
    # Nor does a strategy start calling a debtor who asked for it to cease.
    assert [
        r.rule_id
        for r in rules.escalation_refusals(profiles["cn"], to_stage="remote_contact", debtor_flags={"cease": True})
    ] == ["cn.blocking_flag"]
