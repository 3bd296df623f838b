"""Synthetic problems are valid, realistic in shape and reproducible by seed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch import generate, validate

REPO = Path(__file__).resolve().parents[3]


def test_the_same_seed_gives_the_same_problem():
    assert generate(50, 6, seed=7) == generate(50, 6, seed=7)


def test_different_seeds_give_different_problems():
    assert generate(50, 6, seed=7) != generate(50, 6, seed=8)


@pytest.mark.parametrize("city", ["shanghai", "beijing"])
def test_generated_problems_are_valid(city):
    problem = generate(300, 36, seed=3, city=city)
    assert validate(problem) == []
    assert len(problem["tasks"]) == 300 and len(problem["collectors"]) == 36


def test_generated_day_mixes_windows_skills_and_restrictions():
    problem = generate(500, 60, seed=1)
    tasks = problem["tasks"]
    assert {tuple(map(tuple, t["windows"])) for t in tasks if "windows" in t} >= {
        (("09:00", "12:00"),), (("14:00", "18:00"),), (("18:00", "21:00"),)}
    assert any("wuu" in t["skills"] for t in tasks)
    assert any("allowed_collectors" in t for t in tasks)
    assert any("excluded_collectors" in t for t in tasks)
    assert all(0 <= t["priority"] <= 100 for t in tasks)
    assert all(8 <= c["max_visits"] <= 12 for c in problem["collectors"])
    # Tasks stay in and around Shanghai.
    assert all(30.5 < t["lat"] < 31.9 and 120.8 < t["lon"] < 122.0 for t in tasks)


def test_unknown_city_is_refused():
    with pytest.raises(ValueError):
        generate(10, 2, city="atlantis")


def test_cli_generate_prints_the_seeded_problem():
    result = subprocess.run([sys.executable, "-m", "dispatch", "generate", "--tasks", "20",
                             "--collectors", "3", "--seed", "4"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    assert json.loads(result.stdout) == generate(20, 3, seed=4)
