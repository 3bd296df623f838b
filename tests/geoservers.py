"""A local HTTP server that speaks Nominatim's ``/search?format=json`` and OSRM's
``/table/v1/{profile}/{coordinates}`` as the real services do (answer shapes recorded
from them), so geopy and the router are pointed at it and no test reaches the internet.

Nominatim answers are scripted per query (``server.script(query, *answers)``: each
answer a list of places, an HTTP status, or ``("slow", seconds, answer)``; the last one
repeats). An address not scripted gets a house-level place of its own, derived from
its text, unless it contains ``无此地址`` (no such address: an empty list).
"""

import hashlib
import json
import math
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

LICENCE = "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright"


def place(lat, lon, name, *, rank=30, addresstype="building", importance=0.00008, cls="building", kind="yes"):
    """One Nominatim result as ``format=json`` gives it (numbers as strings, like the service)."""
    digest = int(hashlib.sha256(f"{lat},{lon},{name}".encode()).hexdigest()[:8], 16)
    return {
        "place_id": digest,
        "licence": LICENCE,
        "osm_type": "way",
        "osm_id": digest // 3,
        "lat": f"{lat:.7f}",
        "lon": f"{lon:.7f}",
        "class": cls,
        "type": kind,
        "place_rank": rank,
        "importance": importance,
        "addresstype": addresstype,
        "name": "",
        "display_name": name,
        "boundingbox": [f"{lat - 0.0002:.7f}", f"{lat + 0.0002:.7f}", f"{lon - 0.0002:.7f}", f"{lon + 0.0002:.7f}"],
    }


def district(lat, lon, name):
    """Only a district: what Nominatim answers when it knows the district but not the street."""
    return place(
        lat, lon, name, rank=14, addresstype="city_district", importance=0.41, cls="boundary", kind="administrative"
    )


def point_of(text):
    """A stable point near central Shanghai for an address's normalised text."""
    norm = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    h = hashlib.sha256(norm.encode("utf-8")).digest()
    return 31.15 + h[0] / 255 * 0.15, 121.35 + h[1] / 255 * 0.2


def _metres(a, b):
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371000 * math.asin(math.sqrt(h))


class GeoServer:
    def __init__(self):
        self.scripts = {}
        self.knows_nothing = False  # every address not scripted: no result
        self.searches = []  # the q of every /search, in order
        self.tables = []  # (coordinates, sources, destinations) of every /table request
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def domain(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self):
        return f"http://{self.domain}"

    def script(self, query, *answers):
        self.scripts[query] = list(answers)

    def reset(self):
        with self.lock:
            self.scripts.clear()
            self.knows_nothing = False
            self.searches.clear()
            self.tables.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _next_answer(self, query):
        with self.lock:
            self.searches.append(query)
            queue = self.scripts.get(query)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        if "无此地址" in query or self.knows_nothing:
            return []
        lat, lon = point_of(query)
        return [place(lat, lon, query)]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms for a delayed ACK

            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.close_connection = True

            def do_GET(self):
                parts = urlsplit(self.path)
                args = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/search":
                    return self._search(args)
                if parts.path.startswith("/table/v1/"):
                    return self._table(parts.path, args)
                self._send(404, {"error": "not found"})

            def _search(self, args):
                if args.get("format") != "json":
                    return self._send(400, {"error": {"code": 400, "message": "format must be json"}})
                answer = server._next_answer(args.get("q", ""))
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    answer = answer[2]
                if isinstance(answer, int):
                    return self._send(answer, {"error": {"code": answer, "message": "scripted failure"}})
                limit = int(args.get("limit", 10))
                self._send(200, answer[:limit])

            def _table(self, path, args):
                coords = [tuple(map(float, c.split(","))) for c in unquote(path.split("/", 4)[4]).split(";")]
                points = [(lat, lon) for lon, lat in coords]
                sources = (
                    [int(i) for i in args["sources"].split(";")] if "sources" in args else list(range(len(points)))
                )
                targets = (
                    [int(i) for i in args["destinations"].split(";")]
                    if "destinations" in args
                    else list(range(len(points)))
                )
                with server.lock:
                    server.tables.append((points, sources, targets))
                if args.get("annotations") != "duration,distance":
                    return self._send(400, {"code": "InvalidOptions", "message": "annotations"})
                # Roads are longer than the crow flies, and slower in town: 1.4 × the distance at 8 m/s.
                distances = [[round(_metres(points[s], points[t]) * 1.4, 1) for t in targets] for s in sources]
                durations = [[round(d / 8.0, 1) for d in row] for row in distances]
                waypoint = [{"hint": "", "distance": 0.0, "name": "", "location": [lon, lat]} for lat, lon in points]
                self._send(
                    200,
                    {
                        "code": "Ok",
                        "durations": durations,
                        "distances": distances,
                        "sources": [waypoint[s] for s in sources],
                        "destinations": [waypoint[t] for t in targets],
                    },
                )

        return Handler


@pytest.fixture(scope="session")
def geo_server():
    server = GeoServer()
    yield server
    server.close()


class FakeTimer:
    """The rate limiter's clock and sleep: sleeping moves the clock, nobody waits."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture()
def geocoder(app, geo_server, monkeypatch):
    """The app's geocoder pointed at the local server (Nominatim), with a fake clock for
    the rate limiter; the server's script and log start empty."""
    geo_server.reset()
    timer = FakeTimer()
    for key, value in {
        "GEOCODER": "nominatim",
        "GEOCODER_DOMAIN": geo_server.domain,
        "GEOCODER_SCHEME": "http",
        "GEOCODER_USER_AGENT": "fieldcollect-tests/1.0",
        "GEOCODER_MIN_DELAY_SECONDS": 0.0,
        "GEOCODER_ERROR_WAIT_SECONDS": 0.0,
        "GEOCODER_MAX_RETRIES": 2,
        "GEOCODER_TIMEOUT_SECONDS": 2.0,
        "GEOCODER_TIMER": timer,
        "GEOCODER_SLEEP": timer.sleep,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    timer.server = geo_server
    return timer
