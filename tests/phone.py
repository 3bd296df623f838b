"""A scripted phone: plays a crew's day against a running server over HTTP.

    python -m tests.phone http://127.0.0.1:5000 agent agent-demo-pass [YYYY-MM-DD]

It signs in, fetches the route, works the first stops online (check-in, outcome,
an agreement, a recording, check-out), then works the rest "offline": the events
are queued (numbered in the phone's outbox) and sent as one sync batch, and the batch
is sent a second time as a phone does when it never saw the first answer. Every
request names the phone and says what its clock reads. Only the standard library is used,
so it runs anywhere the server is reachable.
"""

import hashlib
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo


class Phone:
    """A phone as the server sees one: it names itself, says what its clock reads, and
    numbers every action it queues (its outbox), on every request."""

    def __init__(self, base_url, timeout=30, clock=None):
        self.base = base_url.rstrip("/")
        self.token = None
        self.timeout = timeout
        self.device_id = f"phone-{uuid.uuid4().hex}"
        self.seq = 0
        # The phone's clock: by default it reads the time of the action it is sending.
        self.clock = clock
        self.reads = None

    def number(self, events):
        """Give queued events their outbox numbers, as the app does when it saves them."""
        for event in events:
            self.seq += 1
            event["seq"] = self.seq
        return events

    def call(self, method, path, body=None, *, raw=None, content_type=None):
        data, headers = None, {"X-Device-Id": self.device_id, "X-Device-Seq": str(self.seq)}
        reads = self.clock() if self.clock else self.reads
        if reads is not None:
            headers["X-Device-Time"] = reads.isoformat()
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if raw is not None:
            data, headers["Content-Type"] = raw, content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def login(self, username, password):
        status, body = self.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")
        self.token = body["access_token"]
        return body["user"]

    def route(self, day):
        status, body = self.call("GET", f"/api/v1/agent/route?date={day.isoformat()}")
        if status != 200:
            raise RuntimeError(f"route failed: {status} {body}")
        return body

    def upload(self, task_id, content, content_type="audio/ogg", duration_seconds=95):
        boundary = uuid.uuid4().hex
        fields = {
            "task_id": str(task_id),
            "sha256": hashlib.sha256(content).hexdigest(),
            "duration_seconds": str(duration_seconds),
        }
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="visit.ogg"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.call(
            "POST",
            "/api/v1/agent/recordings",
            raw=b"".join(parts),
            content_type=f"multipart/form-data; boundary={boundary}",
        )


def _event_id(kind, task_id):
    return f"{kind}-{task_id}-{uuid.uuid4().hex[:12]}"


def _position(stop, at):
    return {
        "lat": stop["debtor"]["lat"],
        "lon": stop["debtor"]["lon"],
        "accuracy_m": 9.0,
        "device_time": at.isoformat(),
        "mock_location": False,
    }


def play_day(base_url, username, password, day, online_stops=2, start=time(10, 0), server_clock=None, phone_clock=None):
    """Work the crew's day from ``start`` (the debtors' local time); return what was sent
    and what the server answered. ``server_clock(moment)``, when given, moves the server's
    clock along with the phone's (a test's served app); else the phone's clock is the
    wall clock's reading of the day it plays."""
    phone = Phone(base_url, clock=phone_clock)
    phone.login(username, password)
    route = phone.route(day)
    stops = [s for s in route["stops"] if s["status"] == "assigned"]
    zone = ZoneInfo(stops[0]["debtor"]["timezone"]) if stops else ZoneInfo("UTC")
    clock = datetime.combine(day, start, zone)

    def now(moment):
        phone.reads = moment
        if server_clock is not None:
            server_clock(moment)

    if server_clock is not None:
        now(clock)
        phone.login(username, password)  # a sign-in of that day, not one that expired on the way

    report = {"stops": len(stops), "online": [], "batch": [], "batch_again": [], "events_sent": 0}
    for index, stop in enumerate(stops[:online_stops]):
        task = stop["task_id"]
        now(clock)
        status, answer = phone.call(
            "POST",
            f"/api/v1/agent/tasks/{task}/check-in",
            {"client_event_id": _event_id("in", task), **_position(stop, clock)},
        )
        report["online"].append(("check_in", status, answer.get("status") if isinstance(answer, dict) else None))
        upload_status, _ = phone.upload(task, b"OggS" + uuid.uuid4().bytes * 64)
        report["online"].append(("recording", upload_status, None))
        if index == 0:
            half = str((Decimal(stop["case"]["amount_due"]) / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
            outcome = {
                "outcome": "agreement_signed",
                "person_met": "debtor",
                "notes": "agreed three instalments",
                "agreement": {
                    "kind": "instalment",
                    "total": half,
                    "first_due_date": (day + timedelta(days=7)).isoformat(),
                    "count": 3,
                    "frequency": "monthly",
                    "acknowledgement": {"kind": "otp", "ref": "OTP-123456"},
                },
            }
        else:
            outcome = {"outcome": "not_home", "person_met": "nobody", "notes": "left a card"}
        status, answer = phone.call(
            "POST", f"/api/v1/agent/tasks/{task}/visit", {"client_event_id": _event_id("visit", task), **outcome}
        )
        report["online"].append(("visit", status, answer.get("status")))
        clock += timedelta(minutes=20)
        now(clock)
        status, answer = phone.call(
            "POST",
            f"/api/v1/agent/tasks/{task}/check-out",
            {"client_event_id": _event_id("out", task), **_position(stop, clock)},
        )
        report["online"].append(("check_out", status, answer.get("status")))
        report["events_sent"] += 3
        clock += timedelta(minutes=5)
    queued = []
    for stop in stops[online_stops:]:
        task = stop["task_id"]
        queued.append(
            {"type": "check_in", "task_id": task, "client_event_id": _event_id("in", task), **_position(stop, clock)}
        )
        queued.append(
            {
                "type": "visit",
                "task_id": task,
                "client_event_id": _event_id("visit", task),
                "outcome": "third_party_only",
                "person_met": "relative",
                "notes": "nothing disclosed",
            }
        )
        clock += timedelta(minutes=3)
        queued.append(
            {"type": "check_out", "task_id": task, "client_event_id": _event_id("out", task), **_position(stop, clock)}
        )
        clock += timedelta(minutes=2)
    if queued:
        phone.number(queued)
        now(clock + timedelta(minutes=30))  # back online after the last offline stop
        status, answer = phone.call("POST", "/api/v1/agent/sync", {"events": queued})
        report["batch"] = [r["status"] for r in answer["results"]] if status == 200 else [status]
        status, answer = phone.call("POST", "/api/v1/agent/sync", {"events": queued})
        report["batch_again"] = [r["status"] for r in answer["results"]] if status == 200 else [status]
        report["events_sent"] += len(queued)
    return report


def main(argv):
    base, username, password = argv[1:4]
    # From the command line this is a real phone: its clock is the machine's.
    day = date.fromisoformat(argv[4]) if len(argv) > 4 else datetime.now().date()
    print(
        json.dumps(
            play_day(base, username, password, day, phone_clock=lambda: datetime.now(UTC)), indent=2, default=str
        )
    )


if __name__ == "__main__":
    main(sys.argv)
