"""Synthetic problems are valid, realistic in shape and reproducible by seed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch import generate, validate
from dispatch.generate import FAMILIES, generate_family

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
        (("09:00", "12:00"),),
        (("14:00", "18:00"),),
        (("18:00", "21:00"),),
    }
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
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "generate", "--tasks", "20", "--collectors", "3", "--seed", "4"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout) == generate(20, 3, seed=4)


# -- benchmark families ----------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_gives_a_valid_reproducible_problem_of_its_shape(family):
    spec = FAMILIES[family]
    problem = generate_family(family, seed=5)
    assert validate(problem) == []
    assert problem == generate_family(family, seed=5)
    assert len(problem["tasks"]) == spec["tasks"]
    assert len(problem["collectors"]) == spec["crews"]
    assert ("matrix" in problem) == spec["matrix"]
    if spec["depot"]:
        assert len({(c["lat"], c["lon"]) for c in problem["collectors"]}) == 1


def test_families_cover_small_days_of_three_to_twenty_five_crews_and_both_layouts():
    assert {FAMILIES[f]["crews"] for f in FAMILIES} >= {3, 25}
    assert all(100 <= FAMILIES[f]["tasks"] <= 200 for f in FAMILIES)
    assert {FAMILIES[f]["places"] for f in FAMILIES} == {"uniform", "clustered"}
    assert any(FAMILIES[f]["matrix"] for f in FAMILIES)


def test_family_windows_run_from_half_an_hour_to_the_whole_shift():
    tasks = generate_family("mixed-uniform-10", seed=1, tasks=400)["tasks"]
    lengths = [
        int(w[1][:2]) * 60 + int(w[1][3:]) - int(w[0][:2]) * 60 - int(w[0][3:])
        for t in tasks
        for w in t.get("windows", [])
    ]
    assert min(lengths) <= 35 and max(lengths) >= 400
    assert any("windows" not in t for t in tasks)  # the whole shift


def test_the_generated_matrix_is_asymmetric_and_keeps_the_triangle_inequality():
    matrix = generate_family("matrix-depot-wide-8", seed=2, tasks=25, collectors=2)["matrix"]
    d = matrix["distances_m"]
    n = len(d)
    assert any(d[i][j] != d[j][i] for i in range(n) for j in range(n))
    # Within a metre of rounding per leg.
    assert all(d[i][k] <= d[i][j] + d[j][k] + 2 for i in range(n) for j in range(n) for k in range(n))


def test_unknown_family_is_refused():
    with pytest.raises(ValueError):
        generate_family("atlantis", seed=1)


def test_cli_generate_prints_a_family_problem(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "generate", "--family", "wide-uniform-3", "--seed", "3", "--tasks", "12"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout) == generate_family("wide-uniform-3", seed=3, tasks=12)


def test_cli_generate_without_family_needs_sizes():
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "generate", "--tasks", "5"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert "--tasks and --collectors are required without --family" in result.stderr
