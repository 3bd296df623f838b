"""Every hard constraint of the contract holds in the plans the engine makes."""

import math

from dispatch_factories import collector, north, reasons_of, stops_of, task

from dispatch import check, generate, solve

FAST = 1.0  # seconds; these problems are tiny


def minutes(hhmm):
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def test_task_needing_wuu_is_never_given_to_collector_without_it(make_problem):
    problem = make_problem(
        collectors=[collector("c-zh", skills=["zh"]), collector("c-wuu", at=north(4), skills=["zh", "wuu"])],
        tasks=[task("t-1", at=north(0.5), skills=["wuu"])],
    )
    plan = solve(problem, time_limit=FAST)
    assert stops_of(plan, "c-wuu") == ["t-1"]
    assert check(problem, plan) == []


def test_excluded_collector_never_gets_the_task_even_when_nearest(make_problem):
    problem = make_problem(
        collectors=[collector("c-near"), collector("c-far", at=north(5))],
        tasks=[task("t-1", at=north(0.2), excluded_collectors=["c-near"])],
    )
    plan = solve(problem, time_limit=FAST)
    assert stops_of(plan, "c-far") == ["t-1"]


def test_only_allowed_collectors_take_a_task(make_problem):
    problem = make_problem(
        collectors=[collector("c-near"), collector("c-far", at=north(5))],
        tasks=[task("t-1", at=north(0.2), allowed_collectors=["c-far"])],
    )
    plan = solve(problem, time_limit=FAST)
    assert stops_of(plan, "c-far") == ["t-1"]


def test_visit_waits_for_the_window_to_open(make_problem):
    problem = make_problem(tasks=[task("t-1", windows=[["14:00", "15:00"]])])
    plan = solve(problem, time_limit=FAST)
    stop = plan["routes"][0]["stops"][0]
    assert stop["arrival"] < "14:00" and stop["start"] == "14:00"


def test_visit_uses_a_later_window_when_the_first_cannot_be_reached(make_problem):
    # 10 km north is about 31 minutes away: 09:00-09:10 is out of reach.
    problem = make_problem(tasks=[task("t-1", at=north(10), windows=[["09:00", "09:10"], ["16:00", "17:00"]])])
    plan = solve(problem, time_limit=FAST)
    assert plan["routes"][0]["stops"][0]["start"] == "16:00"
    assert check(problem, plan) == []


def test_max_visits_caps_a_route_and_keeps_the_highest_priorities(make_problem):
    problem = make_problem(
        collectors=[collector(max_visits=2)],
        tasks=[task(f"t-{p}", at=north(0.1 * p), priority=p) for p in (10, 40, 20, 90)],
    )
    plan = solve(problem, time_limit=FAST)
    assert sorted(stops_of(plan, "c-1")) == ["t-40", "t-90"]
    assert reasons_of(plan) == {"t-10": "capacity", "t-20": "capacity"}


def test_collector_is_back_at_the_end_point_by_shift_end(make_problem):
    # Each visit: ~3 minutes out, 30 on site; two visits and the way home need > 60.
    problem = make_problem(
        collectors=[collector(shift=("09:00", "10:00"))], tasks=[task("t-1", at=north(1)), task("t-2", at=north(1.5))]
    )
    plan = solve(problem, time_limit=FAST)
    assert len(stops_of(plan, "c-1")) == 1
    last = plan["routes"][0]["stops"][-1]
    assert minutes(last["end"]) + 5 <= 10 * 60
    assert check(problem, plan) == []


def test_service_time_is_spent_at_each_stop(make_problem):
    problem = make_problem(tasks=[task("t-1", service_minutes=45), task("t-2", at=north(2), service_minutes=20)])
    plan = solve(problem, time_limit=FAST)
    for stop in plan["routes"][0]["stops"]:
        expected = 45 if stop["task"] == "t-1" else 20
        assert minutes(stop["end"]) - minutes(stop["start"]) == expected


def test_times_and_distance_follow_the_contract_travel_model(make_problem):
    problem = make_problem(tasks=[task("t-1", at=north(5))], travel={"speed_kmh": 20, "circuity": 1.5})
    plan = solve(problem, time_limit=FAST)
    crow_km = 2 * 6371.0088 * math.asin(math.sin(math.radians(5 / 111.2) / 2))
    road_km = crow_km * 1.5
    route = plan["routes"][0]
    assert abs(route["distance_km"] - 2 * road_km) < 0.01  # there and back
    arrival = 9 * 60 + road_km / 20 * 60
    assert abs(minutes(route["stops"][0]["arrival"]) - arrival) <= 0.5


def test_route_ends_at_a_separate_end_point_when_given(make_problem):
    end = north(3)
    problem = make_problem(collectors=[collector(end_lat=end[0], end_lon=end[1])], tasks=[task("t-1", at=north(1))])
    plan = solve(problem, time_limit=FAST)
    assert abs(plan["routes"][0]["distance_km"] - 3 * 1.3) < 0.05


def test_every_task_appears_exactly_once_on_a_generated_day():
    problem = generate(120, 14, seed=5)
    plan = solve(problem, time_limit=2)
    routed = [s["task"] for r in plan["routes"] for s in r["stops"]]
    unassigned = [u["task"] for u in plan["unassigned"]]
    assert sorted(routed + unassigned) == sorted(t["id"] for t in problem["tasks"])
    assert plan["summary"]["assigned"] == len(routed)
    assert check(problem, plan) == []


def test_higher_priority_task_wins_when_only_one_fits(make_problem):
    problem = make_problem(
        collectors=[collector(shift=("09:00", "09:45"))],
        tasks=[task("t-low", at=north(0.5), priority=10), task("t-high", at=north(1.5), priority=80)],
    )
    plan = solve(problem, time_limit=FAST)
    assert stops_of(plan, "c-1") == ["t-high"]
    assert reasons_of(plan) == {"t-low": "capacity"}
