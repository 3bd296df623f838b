import pytest

from app.policy.profile import ProfileError
from app.policy.strategy import default_strategy, load_strategy


def test_default_strategy_puts_each_day_past_due_in_one_bucket():
    strategy = default_strategy()
    assert [strategy.bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 400)] == [
        "0", "M1", "M1", "M2", "M2", "M3+", "M3+"]
    assert strategy.bucket_ids == ("0", "M1", "M2", "M3+")


@pytest.mark.parametrize("buckets, message", [
    ('[[buckets]]\nid="A"\nmin_dpd=1\nmax_dpd=30\n[[buckets]]\nid="B"\nmin_dpd=40\n', "must start at 31"),
    ('[[buckets]]\nid="A"\nmin_dpd=1\n[[buckets]]\nid="B"\nmin_dpd=31\n', "open-ended"),
    ('[[buckets]]\nid="A"\nmin_dpd=1\nmax_dpd=30\n[[buckets]]\nid="A"\nmin_dpd=31\n', "unique"),
])
def test_a_strategy_with_gaps_or_overlaps_in_its_buckets_is_refused_naming_the_file(tmp_path, buckets, message):
    path = tmp_path / "bad.toml"
    path.write_text('id="bad"\nversion="1"\nname="x"\nname_zh="x"\n' + buckets, encoding="utf-8")
    with pytest.raises(ProfileError, match=rf"bad\.toml.*{message}"):
        load_strategy(path)
