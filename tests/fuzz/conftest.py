"""Counts what the fuzz run sent, for the closing summary (docs/reliability.md's table quotes it)."""

import pytest

# The role-matrix world (two teams, a crew mid-visit, agreements, flags...) is the fuzzer's world too.
from tests.api.test_role_matrix import world  # noqa: F401  (a fixture, used by name)

SENT = {"cases": 0, "requests": 0}


@pytest.fixture()
def fuzz_tally():
    return SENT


def pytest_terminal_summary(terminalreporter):
    if SENT["cases"]:
        terminalreporter.write_line(
            f"fuzz: {SENT['cases']} generated cases, {SENT['requests']} requests (each case sent once per caller)"
        )
