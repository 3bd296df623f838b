"""The server's clock: every rule is judged on it, and tests replace it.

Nothing in the service reads the wall clock directly; it asks ``now()``. The app's
``CLOCK`` setting may hold any callable answering an aware datetime (tests give a
``FrozenClock`` they move by hand). For a served app (testing and development only,
refused in production): ``CLOCK_START`` starts its clock at a given instant, from where
it runs at the wall clock's pace; ``CLOCK_FILE`` names a file a test writes an instant
into (``FileClock.write``), which every worker of the server then reads, so a browser
test can work a day, and an hour of it, that is not the wall clock's.
"""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def wall() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The server's time, in UTC."""
    clock = current_app.config.get("CLOCK") if has_app_context() else None
    moment = clock() if clock is not None else wall()
    return moment.astimezone(UTC)


def today(zone: str | ZoneInfo) -> date:
    """Today's date in a time zone (an IANA name or a ZoneInfo)."""
    return now().astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()


class FrozenClock:
    """A clock that stands still until moved: ``set(moment)`` or ``advance(timedelta)``."""

    def __init__(self, moment: datetime):
        self.set(moment)

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("a clock needs an aware datetime")
        self.moment = moment.astimezone(UTC)
        return self.moment

    def advance(self, delta: timedelta = timedelta(0), **kwargs) -> datetime:
        self.moment += delta + timedelta(**kwargs)
        return self.moment

    def __call__(self) -> datetime:
        return self.moment


class OffsetClock:
    """The wall clock shifted so that it read ``start`` when this clock was made."""

    def __init__(self, start: datetime):
        self.offset = start.astimezone(UTC) - wall()

    def __call__(self) -> datetime:
        return wall() + self.offset


class FileClock:
    """The wall clock shifted by what a file says: ``{"at": instant, "wall": wall time when
    written}``; without the file, the wall clock. Read again whenever the file changes."""

    def __init__(self, path):
        self.path = Path(path)
        self._seen = None
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return wall()
        if stamp != self._seen:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.offset = datetime.fromisoformat(data["at"]) - datetime.fromisoformat(data["wall"])
            self._seen = stamp
        return wall() + self.offset

    @staticmethod
    def write(path, moment: datetime) -> None:
        """Set the clock of every server reading ``path`` to ``moment``, running on from there."""
        path = Path(path)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"at": moment.isoformat(), "wall": wall().isoformat()}), encoding="utf-8")
        os.replace(temporary, path)
