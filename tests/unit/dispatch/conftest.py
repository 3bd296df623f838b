"""Fixtures for the dispatch engine's tests (helpers live in dispatch_factories)."""

import copy

import pytest
from dispatch_factories import collector, task


@pytest.fixture
def make_problem():
    """Build a problem dict from collectors and tasks (deep-copied)."""

    def make(collectors=None, tasks=None, **top):
        problem = {
            "date": "2026-12-01",
            "timezone": "Asia/Shanghai",
            "collectors": copy.deepcopy(collectors if collectors is not None else [collector()]),
            "tasks": copy.deepcopy(tasks if tasks is not None else [task()]),
        }
        problem.update(top)
        return problem

    return make
