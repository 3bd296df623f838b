"""The fuzzer's world (its tally of what it sent is kept in tests/conftest.py, so that the
controller of a pytest-xdist run, which loads only that conftest, sums the workers' counts)."""

# The role-matrix world (two teams, a crew mid-visit, agreements, flags...) is the fuzzer's world too.
from tests.api.test_role_matrix import world  # noqa: F401  (a fixture, used by name)
