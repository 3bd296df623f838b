"""A served app for end-to-end tests: gunicorn with two workers on a fresh database of
each backend, migrated and seeded with the demo by the same commands an operator runs.

Its clock is the tests': every worker reads the time a test writes into one file
(``CLOCK_FILE``), standing at ``TEST_NOW`` when each test begins and running on from
there; each browser context's clock is set to the same moment. No test reads the wall
clock."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_NOW, TEST_PII_CONFIG, throwaway_database

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not come up")


class Served:
    def __init__(self, url, database_url, env, backend):
        self.url, self.database_url, self.env, self.backend = url, database_url, env, backend

    def flask(self, *args, input=None):
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            check=True,
        )

    def sql(self, statement):
        import sqlalchemy as sa

        from app.config import normalise_database_url

        engine = sa.create_engine(normalise_database_url(self.database_url))
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text(statement)).all()
        finally:
            engine.dispose()


class ServedClock:
    """The served apps' clock: ``set(moment)`` moves it (it runs on from there), ``now()`` reads it."""

    def __init__(self, path):
        from app.clock import FileClock

        self.path = path
        self._read = FileClock(path)

    def set(self, moment):
        from app.clock import FileClock

        FileClock.write(self.path, moment)
        return moment

    def now(self):
        return self._read()


@pytest.fixture(scope="session")
def e2e_clock(tmp_path_factory):
    clock = ServedClock(tmp_path_factory.mktemp("clock") / "clock.json")
    clock.set(TEST_NOW)
    return clock


@pytest.fixture(autouse=True)
def clock_at_test_now(e2e_clock):
    """Every end-to-end test begins at ``TEST_NOW`` on the served apps' clock."""
    e2e_clock.set(TEST_NOW)
    return e2e_clock


@pytest.fixture(scope="session")
def served(backend, tmp_path_factory, e2e_clock):
    with throwaway_database(backend, tmp_path_factory, "served") as database_url:
        storage = tmp_path_factory.mktemp("storage")
        env = {
            **os.environ,
            "FLASK_APP": "wsgi.py",
            "APP_ENV": "testing",
            "SECRET_KEY": "e2e-" + "k" * 40,
            "DATABASE_URL": database_url,
            "STORAGE_DIR": str(storage),
            "LOGIN_RATE_LIMIT": "100 per minute",
            "CLOCK_FILE": str(e2e_clock.path),
            "DISPATCH_TIME_LIMIT": "1",
            **TEST_PII_CONFIG,
        }
        e2e_clock.set(TEST_NOW)  # the demo is seeded on the tests' day
        env.pop("REDIS_URL", None)
        served = Served(None, database_url, env, backend)
        served.flask("db", "upgrade")
        served.flask("demo", "--cases", "300")
        port = _free_port()
        log = open(tmp_path_factory.mktemp("log") / "gunicorn.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        served.url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(served.url, process)
            yield served
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()


# ---------------------------------------------------------------- a real browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"


def _patient_expectations():
    """Assertions on the page wait as long as its actions do (15 s, not Playwright's 5 s):
    an answer the page waits for (the policy's verdict on a move) can take seconds on a
    loaded two-core CI machine."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


_patient_expectations()
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


def set_browser_clock(context, clock):
    """The browser's clock at the served apps' time, running on from there."""
    context.clock.install(time=clock.now())


@pytest.fixture()
def new_page(browser, e2e_clock):
    """``new_page(viewport=PHONE, locale="zh-CN", **context_options)`` → a page in a fresh context
    whose clock reads the served apps' time."""
    contexts = []

    def make(viewport=DESKTOP, locale="en-GB", **options):
        context = browser.new_context(viewport=viewport, locale=locale, **options)
        set_browser_clock(context, e2e_clock)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name):
    """Written for a person to look at; not committed (see .gitignore)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
