"""Fixtures shared by the API tests."""
import pytest

from tests.api.test_field import Day, local


@pytest.fixture()
def day(app, db, make, clock):
    """A crew's committed day at 10:00 in Shanghai (see ``tests.api.test_field.Day``)."""
    clock.set(local(10))
    return Day(app, db, make, clock)
