"""Field traffic for bench/load.py: each simulated phone is one crew's agent working
its route — fetch the route, then check in, record the outcome and check out at each
stop, some stops sent as an offline sync batch — and, once the route is done, resending
earlier events as a phone with a flaky connection does. A second class hits a trivial
endpoint, for the ratio.

Acknowledged client_event_ids are written to $LOAD_ACKS (one per line) at the end.
"""

import itertools
import os
import random
import uuid
from datetime import UTC, datetime

from locust import HttpUser, between, events, task

ACKS = []
AGENTS = itertools.count(1)
DAY = os.environ.get("LOAD_DAY")


class Phone(HttpUser):
    wait_time = between(0, 0.05)
    weight = 1

    def on_start(self):
        n = next(AGENTS)
        answer = self.client.post(
            "/api/v1/auth/login", json={"username": f"agent{n:03d}", "password": "load-test-password"}
        ).json()
        self.client.headers["Authorization"] = f"Bearer {answer['access_token']}"
        # As the field app: every request names the phone, its clock and its outbox's
        # high-water mark (app/static/js/field-store.js), and every action is numbered.
        self.device = f"load-{uuid.uuid4().hex}"
        self.seq = 0
        self.stops = self.route()
        self.sent = []

    def headers(self):
        return {
            "X-Device-Id": self.device,
            "X-Device-Time": datetime.now(UTC).isoformat(),
            "X-Device-Seq": str(self.seq),
        }

    def numbered(self, event):
        self.seq += 1
        return {**event, "seq": self.seq}

    def route(self):
        return list(
            self.client.get(
                f"/api/v1/agent/route?date={DAY}", name="/api/v1/agent/route", headers=self.headers()
            ).json()["stops"]
        )

    def position(self, stop):
        # The phone's clock is the machine's: the server judges on its own clock, and a
        # phone far from it would draw a clock_skew flag on every action.
        return {
            "lat": stop["debtor"]["lat"],
            "lon": stop["debtor"]["lon"],
            "accuracy_m": 8.0,
            "device_time": datetime.now(UTC).isoformat(),
        }

    def send(self, path, body, name):
        with self.client.post(path, json=body, name=name, catch_response=True, headers=self.headers()) as response:
            if response.status_code in (200, 201):
                answer = response.json()
                if "results" in answer:
                    ids = [r["client_event_id"] for r in answer["results"] if r["status"] in ("accepted", "duplicate")]
                    if len(ids) != len(body["events"]):
                        response.failure(f"batch answered {answer['counts']}")
                    ACKS.extend(ids)
                elif answer.get("status") in ("accepted", "duplicate"):
                    ACKS.append(body["client_event_id"])
                else:
                    response.failure(f"answered {answer.get('status')}")
            else:
                response.failure(f"HTTP {response.status_code}")
        self.sent.append((path, body, name))

    def event_id(self, kind, task_id):
        return f"{kind}-{task_id}-{random.getrandbits(48):012x}"

    @task
    def work(self):
        if not self.stops:
            if random.random() < 0.2:
                self.client.get(f"/api/v1/agent/route?date={DAY}", name="/api/v1/agent/route", headers=self.headers())
            elif self.sent:
                self.send(*random.choice(self.sent))  # a resend: must answer duplicate
            return
        stop = self.stops.pop(0)
        tid = stop["task_id"]
        outcome = {"outcome": "not_home", "person_met": "nobody", "notes": "left a card"}
        if random.random() < 0.25:  # worked offline, synced later
            batch = [
                self.numbered(
                    {
                        "type": "check_in",
                        "task_id": tid,
                        "client_event_id": self.event_id("in", tid),
                        **self.position(stop),
                    }
                ),
                self.numbered(
                    {"type": "visit", "task_id": tid, "client_event_id": self.event_id("visit", tid), **outcome}
                ),
                self.numbered(
                    {
                        "type": "check_out",
                        "task_id": tid,
                        "client_event_id": self.event_id("out", tid),
                        **self.position(stop),
                    }
                ),
            ]
            self.send("/api/v1/agent/sync", {"events": batch}, "/api/v1/agent/sync")
            return
        self.send(
            f"/api/v1/agent/tasks/{tid}/check-in",
            self.numbered({"client_event_id": self.event_id("in", tid), **self.position(stop)}),
            "check-in",
        )
        self.send(
            f"/api/v1/agent/tasks/{tid}/visit",
            self.numbered({"client_event_id": self.event_id("visit", tid), **outcome}),
            "visit",
        )
        self.send(
            f"/api/v1/agent/tasks/{tid}/check-out",
            self.numbered({"client_event_id": self.event_id("out", tid), **self.position(stop)}),
            "check-out",
        )


class Trivial(HttpUser):
    """GET /healthz, for the same server in the same run: the ratio is the figure."""

    wait_time = between(0, 0.05)
    weight = 1

    @task
    def healthz(self):
        self.client.get("/healthz")


@events.quitting.add_listener
def write_acks(environment, **kwargs):
    path = os.environ.get("LOAD_ACKS")
    if path:
        with open(path, "w") as handle:
            handle.write("\n".join(ACKS))


class Me(HttpUser):
    """GET /api/v1/me: the cheapest authenticated call (token lookup, one row), a second baseline."""

    wait_time = between(0, 0.05)
    weight = 1

    def on_start(self):
        n = next(AGENTS)
        answer = self.client.post(
            "/api/v1/auth/login", json={"username": f"agent{n:03d}", "password": "load-test-password"}
        ).json()
        self.client.headers["Authorization"] = f"Bearer {answer['access_token']}"

    @task
    def me(self):
        self.client.get("/api/v1/me")


class FloorWrite(HttpUser):
    """bench/floor_app.py: one INSERT per request, nothing of the service in the way."""

    wait_time = between(0, 0.05)

    @task
    def write(self):
        self.client.post("/write", json={"e": f"w-{random.getrandbits(64):016x}"}, name="/write")


class FloorAction(HttpUser):
    """bench/floor_app.py: the eight statements a field action cannot do without, by hand."""

    wait_time = between(0, 0.05)

    @task
    def act(self):
        self.client.post(
            "/minimal-action",
            json={"e": f"a-{random.getrandbits(64):016x}", "task": random.randint(1, 1000)},
            name="/minimal-action",
        )
