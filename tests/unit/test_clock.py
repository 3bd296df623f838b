"""The server's clock is one function the whole service asks, and tests can move."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app import clock
from app.clock import FileClock, FrozenClock, OffsetClock
from app.config import ConfigError
from tests.conftest import TEST_SECRET


def test_a_frozen_clock_stands_still_until_moved():
    frozen = FrozenClock(datetime(2026, 6, 10, 10, tzinfo=timezone(timedelta(hours=8))))
    assert frozen() == datetime(2026, 6, 10, 2, tzinfo=UTC)
    frozen.advance(minutes=90)
    assert frozen() == datetime(2026, 6, 10, 3, 30, tzinfo=UTC)


def test_a_clock_refuses_a_naive_time():
    with pytest.raises(ValueError):
        FrozenClock(datetime(2026, 6, 10, 10))


def test_an_offset_clock_starts_where_it_is_told_and_runs_on():
    start = datetime(2020, 1, 1, tzinfo=UTC)
    offset = OffsetClock(start)
    assert abs(offset() - start) < timedelta(seconds=5)


def test_the_service_reads_the_clock_it_was_given(tmp_path):
    from app import create_app

    frozen = FrozenClock(datetime(2026, 6, 10, 15, 30, tzinfo=UTC))
    app = create_app(
        {
            "TESTING": True,
            "APP_ENV": "testing",
            "SECRET_KEY": TEST_SECRET,
            "CLOCK": frozen,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
        }
    )
    with app.app_context():
        assert clock.now() == frozen()
        assert clock.today("Asia/Shanghai").isoformat() == "2026-06-10"
        frozen.advance(hours=1)  # 00:30 on the 11th in Shanghai
        assert clock.today("Asia/Shanghai").isoformat() == "2026-06-11"
        assert clock.today("UTC").isoformat() == "2026-06-10"


def test_clock_start_moves_a_served_apps_clock_but_not_in_production(tmp_path):
    from app import create_app

    app = create_app(
        {
            "TESTING": True,
            "APP_ENV": "testing",
            "SECRET_KEY": TEST_SECRET,
            "CLOCK_START": "2026-06-10T10:00:00+08:00",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
        }
    )
    with app.app_context():
        assert abs(clock.now() - datetime(2026, 6, 10, 2, tzinfo=UTC)) < timedelta(seconds=5)
    with pytest.raises(ConfigError, match="CLOCK_START"):
        create_app(
            {
                "APP_ENV": "production",
                "SECRET_KEY": TEST_SECRET * 2,
                "CLOCK_START": "2026-06-10T10:00:00+08:00",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
            }
        )
    with pytest.raises(ConfigError, match="offset"):
        create_app(
            {
                "APP_ENV": "testing",
                "SECRET_KEY": TEST_SECRET,
                "CLOCK_START": "2026-06-10T10:00:00",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
            }
        )


def test_a_file_clock_follows_what_the_file_says_and_runs_on(tmp_path):
    path = tmp_path / "clock.json"
    file_clock = FileClock(path)
    assert abs(file_clock() - clock.wall()) < timedelta(seconds=5)  # no file: the wall clock
    FileClock.write(path, datetime(2026, 6, 10, 14, 0, tzinfo=UTC))
    assert abs(file_clock() - datetime(2026, 6, 10, 14, 0, tzinfo=UTC)) < timedelta(seconds=5)
    FileClock.write(path, datetime(2026, 6, 11, 1, 0, tzinfo=UTC))
    assert abs(file_clock() - datetime(2026, 6, 11, 1, 0, tzinfo=UTC)) < timedelta(seconds=5)
