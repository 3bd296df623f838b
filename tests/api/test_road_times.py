"""Road travel times: with ROUTING_URL the plan is made on an OSRM table service's durations
and distances (a local server speaking OSRM's /table/v1), asked in blocks and cached per day."""

from collections import OrderedDict

import pytest

from tests.api.test_dispatch import plan


@pytest.fixture()
def team(make):
    return make.team(code="SH-A", region=make.region(code="SH", timezone_name="Asia/Shanghai"))


@pytest.fixture()
def sup(make, team):
    return make.token(make.user("supervisor", team=team))


@pytest.fixture()
def router(app, geo_server, monkeypatch):
    geo_server.reset()
    monkeypatch.setitem(app.config, "ROUTING_URL", geo_server.url)
    monkeypatch.setitem(app.config, "ROUTING_MAX_LOCATIONS", 4)
    monkeypatch.setitem(app.extensions, "routing_cache", OrderedDict())  # no answer kept from another test
    return geo_server


def legs(problem, route):
    """The route's metres, summed from the problem's matrix along its stops."""
    matrix = problem["matrix"]
    index = {name: i for i, name in enumerate(matrix["locations"])}
    path = [route["crew"]] + [s["task"] for s in route["stops"]] + [route["crew"]]
    return sum(matrix["distances_m"][index[a]][index[b]] for a, b in zip(path, path[1:]))


def test_a_plan_uses_the_road_network_asked_in_blocks(app, db, client, make, team, sup, router):
    make.trained_crew(team)
    for i in range(5):
        make.dispatchable_case(team, lat=31.20 + i / 100, lon=121.45 + i / 150)
    result = plan(client, sup)
    assert result["travel"] == {"source": "routing", "locations": 6}
    assert result["summary"]["assigned"] == 5
    # Six places, at most four per request: blocks of two, 3 × 3 requests, each with ≤ 4 coordinates.
    assert len(router.tables) == 9 and all(len(points) <= 4 for points, _, _ in router.tables)
    from app.models import DispatchPlan

    stored = db.session.get(DispatchPlan, result["id"]).result
    route = stored["routes"][0]
    assert route["distance_km"] == pytest.approx(legs(stored["problem"], route) / 1000, abs=0.001)


def test_the_same_places_on_the_same_day_are_not_asked_again(client, make, team, sup, router):
    make.trained_crew(team)
    make.dispatchable_case(team)
    plan(client, sup)
    asked = len(router.tables)
    plan(client, sup)
    assert asked > 0 and len(router.tables) == asked


def test_without_the_routing_service_the_plan_uses_the_model_and_says_so(app, client, make, team, sup, monkeypatch):
    monkeypatch.setitem(app.config, "ROUTING_URL", "http://127.0.0.1:9")  # nothing listens there
    make.trained_crew(team)
    make.dispatchable_case(team)
    result = plan(client, sup)
    assert result["travel"]["source"] == "model" and "routing service failed" in result["travel"]["note"]
    assert result["summary"]["assigned"] == 1


def test_without_routing_url_the_model_is_used(client, make, team, sup):
    make.trained_crew(team)
    make.dispatchable_case(team)
    assert plan(client, sup)["travel"] == {"source": "model"}
