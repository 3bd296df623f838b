"""Fixtures shared by every layer of tests.

Database tests run once per backend: SQLite and PostgreSQL. The schema is built by
the real migrations once per backend and session; each test runs inside a
transaction that is rolled back, so tests see only their own rows.

PostgreSQL: ``TEST_DATABASE_URL`` names a throwaway database to use (``.ci/run`` makes
one); otherwise a database is created on ``TEST_PG_ADMIN_URL`` (default: the local
server, user postgres) and dropped at the end. ``TEST_BACKENDS=sqlite`` runs SQLite
only, for a machine without PostgreSQL; it is never the default.
"""

import os
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import flask_sqlalchemy.session
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy import event

# The geocoder and router servers the address tests run against (fixtures geo_server, geocoder).
pytest_plugins = ["tests.geoservers"]

BACKENDS = [b.strip() for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_SECRET = "test-secret-key-0123456789abcdef"
# A Redis database of its own for the tests (.ci/run makes sure a server is up).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# The moment the server's clock shows in a test, unless the test moves it: a Wednesday,
# 10:00 in Shanghai. Tests never read the wall clock.
TEST_NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
# Keys of the tests' own (never a deployment's): personal data at rest, its blind index,
# and the signature of the audit chain's anchors. Served apps get them as environment variables.
TEST_PII_CONFIG = {
    "PII_ENCRYPTION_KEYS": "t1:ra5Ey+cFT2Yy1PuiV0MCNgwVgbTgMG2KVbGM39UA6lM=",
    "PII_INDEX_KEY": "DCEmMv45w/5jKtb+5tjOO2odMzHRMbehyFVc8quQ6UY=",
    "ANCHOR_SIGNING_KEY": "XFzTxlUShlqlUs18Q5Y0Ju3Bkn2VkE6TkCbUHYVdTz8=",
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        for layer in ("unit", "integration", "api", "e2e", "fuzz"):
            if f"tests/{layer}/" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(getattr(pytest.mark, layer))
    _browser_tests_in_written_order(items)
    _slow_tests_first_after_the_browser_block(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``bin/test``: ``--dist loadgroup``) the browser tests of one backend
    run together on one worker, in their order, so each worker migrates and seeds the served
    demo of one backend only and the two backends' browser tests run side by side; every
    other test is handed out on its own to whichever worker is free. Done here from the test
    ids because xdist's own ``xdist_group`` marks do nothing under pytest 9.2 (xdist 3.8
    appends the group to ``item._nodeid``, which pytest no longer reads): the browser tests were scattered
    over both workers, each serving both backends' demos."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTestsByBackend(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if nodeid.startswith("tests/e2e/"):
                for backend in BACKENDS:
                    if f"[{backend}" in nodeid:
                        return f"e2e-{backend}"
            return nodeid

    return BrowserTestsByBackend(config, log)


def _backend_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec else None


def _slow_tests_first_after_the_browser_block(items):
    """Files holding a test marked ``slow`` (a minute or more, some of them) are handed out
    before the others, each file's tests kept together in their shuffled order: on two
    workers, a long test left for the end runs alone while the other worker has finished,
    and a file's tests taken apart would build its shared world (``module_make``) again.
    The sort is stable: the browser block stays first and in its order."""
    slow_files = {item.fspath for item in items if item.get_closest_marker("slow")}

    def rank(item):
        if item.get_closest_marker("e2e"):
            return 0
        return 1 if item.fspath in slow_files else 2

    items.sort(key=rank)


def _browser_tests_in_written_order(items):
    """The browser tests drive one served demo per backend whose days they share out (each
    file plans its own days), so they run as one block, in the order they are written, file
    by file, and backend by backend: serving a demo takes seconds, and each change of backend
    tears it down and serves the other one again (alternating, the block cost about ten
    minutes more). The block comes first: in one process, it ends with the backend the tests
    after it begin with; under pytest-xdist each backend's part of it goes to a worker of its
    own (``pytest_xdist_make_scheduler``). Under random order (pytest-randomly) everything
    else moves."""

    def is_browser(item):
        return "tests/e2e/" in str(item.fspath).replace(os.sep, "/")

    browser = [item for item in items if is_browser(item)]
    if not browser:
        return
    rest = [item for item in items if not is_browser(item)]
    first = next((_backend_of(item) for item in rest if _backend_of(item)), None)
    order = [b for b in BACKENDS if b != first] + [first]

    def key(item):
        backend = _backend_of(item)
        return (
            order.index(backend) if backend in order else -1,
            str(item.fspath),
            item.location[1] or 0,
            item.nodeid,
        )

    items[:] = sorted(browser, key=key) + rest


# ---------------------------------------------------------------- databases


@contextmanager
def throwaway_database(backend, tmp_path_factory, name_hint="t", template=None):
    """An empty database of the given backend, removed afterwards; with ``template`` (the URL
    of a database of the same backend, nobody connected to it), a copy of that one."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / f"{name_hint}.db"
        if template is not None:
            import shutil

            shutil.copyfile(sa.engine.make_url(template).database, path)
        yield f"sqlite:///{path}"
        return
    from app.config import normalise_database_url

    admin = sa.create_engine(normalise_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"fc_test_{name_hint}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{sa.engine.make_url(template).database}"' if template is not None else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    except sa.exc.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}). Start it, or set "
            "TEST_BACKENDS=sqlite to run without it.",
            returncode=3,
        )
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def make_app(url, tmp_path, **overrides):
    from app import create_app
    from app.clock import FrozenClock

    config = {
        "CLOCK": FrozenClock(TEST_NOW),
        # The engine uses all the time it is given: tests give it little (their days are small).
        "DISPATCH_TIME_LIMIT": 0.3,
        "MOVE_TIME_LIMIT": 0.2,
        "TESTING": True,
        "APP_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        "REDIS_URL": None,
        "ANCHOR_DIR": str(tmp_path / "anchors"),
        **TEST_PII_CONFIG,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = ServedClient
    return app


class ServedClient(FlaskClient):
    """A test client that reads each answer whole and then closes it, as a server does once it
    has sent it: what runs after the answer (an in-process job) has run when the call returns.
    ``buffered=False`` keeps a streamed answer open, for a test that reads it chunk by chunk."""

    def open(self, *args, buffered=True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


def migrate_to_head(app):
    import flask_migrate

    with app.app_context():
        flask_migrate.upgrade()


@pytest.fixture()
def redis_connection():
    """A connection to the test Redis; the test fails, saying so, when none answers."""
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}")
    return connection


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def database_url(backend, tmp_path_factory):
    # Under pytest-xdist the first worker uses the given database, the others make their own.
    first_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0"
    if backend == "postgresql" and os.environ.get("TEST_DATABASE_URL") and first_worker:
        yield os.environ["TEST_DATABASE_URL"]
        return
    with throwaway_database(backend, tmp_path_factory, "main") as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = make_app(database_url, tmp_path_factory.mktemp("app"))
    migrate_to_head(app)
    yield app
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()


class _JoinedSession(flask_sqlalchemy.session.Session):
    """Flask-SQLAlchemy picks an engine per table, ignoring a session-level bind;
    under test every statement must run on the test's one connection."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind or self.bind


def _joined_session(connection):
    """A scoped session every statement of which runs on ``connection``; each of its
    transactions is a SAVEPOINT inside whatever transaction the connection is in."""
    from app.extensions import db as _db

    return _db._make_scoped_session(
        {"bind": connection, "join_transaction_mode": "create_savepoint", "class_": _JoinedSession}
    )


@pytest.fixture(scope="module")
def module_db(app):
    """One connection and one transaction for the whole module (per backend), rolled back
    when the module is done: a world built once in it (``module_make``) is seen by each test,
    and each test's own ``db`` is a SAVEPOINT inside it, rolled back after the test."""
    from app.extensions import db as _db

    app.config["CLOCK"].set(TEST_NOW)
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        original = _db.session
        _db.session = _joined_session(connection)
        app.extensions["module_db"] = connection
        try:
            yield _db
        finally:
            app.extensions.pop("module_db", None)
            _db.session.remove()
            _db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(scope="module")
def module_make(app, module_db):
    """A ``Factory`` for a world built once per module (see ``module_db``)."""
    factory = Factory(app, module_db)
    app.extensions["module_factory"] = factory
    yield factory
    app.extensions.pop("module_factory", None)


@pytest.fixture()
def db(app, tmp_path):
    """The test's transaction: every session of the test joins it; it is rolled back at the end.
    In a module that built a world once (``module_db``), it is a SAVEPOINT on the module's
    connection (a second connection would wait for the module's write lock on SQLite).
    The server's clock stands at ``TEST_NOW`` when the test begins; the audit chain's anchors,
    which live outside the database, go to a folder of the test's own."""
    from app.extensions import db as _db

    app.config["CLOCK"].set(TEST_NOW)
    app.config["ANCHOR_DIR"] = str(tmp_path / "anchors")
    app.extensions.pop("anchor_store", None)
    shared = app.extensions.get("module_db")
    with app.app_context():
        if shared is not None:
            connection = shared
            outer = connection.begin_nested()
        else:
            connection = _db.engine.connect()
            outer = connection.begin()
        original = _db.session
        _db.session = _joined_session(connection)
        try:
            yield _db
        finally:
            _db.session.remove()
            _db.session = original
            if outer.is_active:
                outer.rollback()
            if shared is None:
                connection.close()


@pytest.fixture()
def clock(app, db):
    """The server's clock for this test, standing at ``TEST_NOW`` until the test moves it
    (``clock.set(moment)``, ``clock.advance(minutes=5)``)."""
    return app.config["CLOCK"]


@pytest.fixture()
def client(app, db):
    from app.extensions import limiter

    with app.app_context():
        limiter.reset()  # throttling counters must not leak from one test into the next
    return app.test_client()


@pytest.fixture()
def query_counter(app, db):
    """Counts SQL statements run inside the block: ``with query_counter() as n: ...; n()``."""

    @contextmanager
    def counting():
        statements = []

        def count(*_args):
            statements.append(1)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            yield lambda: len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    return counting


# ---------------------------------------------------------------- factories


class Factory:
    """Small builders of valid rows, committed to the test's transaction. Times and dates
    are taken from the server's (test) clock, never the wall clock."""

    def __init__(self, app, db):
        self.app, self.db = app, db
        self.n = 0

    def now(self):
        return self.app.config["CLOCK"]()

    def today(self, zone="Asia/Shanghai"):
        from zoneinfo import ZoneInfo

        return self.now().astimezone(ZoneInfo(zone)).date()

    def _next(self):
        self.n += 1
        return self.n

    def _save(self, *rows):
        with self.app.app_context():
            for row in rows:
                self.db.session.add(row)
            self.db.session.commit()
            for row in rows:
                self.db.session.refresh(row)
            self.db.session.expunge_all()
        return rows[0] if len(rows) == 1 else rows

    def region(self, code=None, timezone_name="Asia/Shanghai", **kw):
        from app.models import Region

        n = self._next()
        return self._save(Region(code=code or f"R{n}", name=f"Region {n}", timezone=timezone_name, **kw))

    def team(self, code=None, region=None, **kw):
        from app.models import Team

        region = region or self.region()
        n = self._next()
        return self._save(Team(code=code or f"T{n}", name=f"Team {n}", region_id=region.id, **kw))

    def user(self, role="admin", team=None, region=None, username=None, password="correct-horse-battery", **kw):
        from app.auth import hash_password
        from app.models import User

        if role == "supervisor" and team is None and region is None:
            team = self.team()
        with self.app.app_context():
            password_hash = hash_password(password)
        n = self._next()
        return self._save(
            User(
                username=username or f"{role}{n}",
                display_name=f"{role} {n}",
                password_hash=password_hash,
                role=role,
                active=kw.pop("active", True),
                team_id=team.id if team else None,
                region_id=region.id if region else None,
                **kw,
            )
        )

    def token(self, user, expires_in=timedelta(days=3)):
        """Headers with a bearer token for the user (no login round-trip)."""
        import secrets

        from app.auth import _token_digest
        from app.models import ApiToken

        raw = secrets.token_urlsafe(24)
        self._save(ApiToken(user_id=user.id, token_hash=_token_digest(raw), expires_at=self.now() + expires_in))
        return {"Authorization": f"Bearer {raw}"}

    def collector(self, team=None, crew=None, user=None, lat=31.23, lon=121.47, **kw):
        from app.models import Collector

        team = team or self.team()
        n = self._next()
        values = dict(
            code=f"C{n:04d}",
            name=f"Collector {n}",
            team_id=team.id,
            crew_id=crew.id if crew else None,
            home_lat=lat,
            home_lon=lon,
            languages=["zh"],
            shift_start=time(9),
            shift_end=time(18),
            daily_capacity=10,
            background_cleared=True,
            active=True,
            user_id=user.id if user else None,
        )
        values.update(kw)
        return self._save(Collector(**values))

    def crew(self, team=None, members=2, **kw):
        from app.models import Crew

        team = team or self.team()
        n = self._next()
        values = {"code": f"K{n:04d}", "name": f"Crew {n}", "team_id": team.id, **kw}
        crew = self._save(Crew(**values))
        for _ in range(members):
            self.collector(team=team, crew=crew)
        return crew

    def training(self, collector, module="law_compliance", passed_at=None, expires_at=None):
        from app.models import TrainingRecord

        passed_at = passed_at or self.today() - timedelta(days=30)
        return self._save(
            TrainingRecord(
                collector_id=collector.id,
                module=module,
                passed_at=passed_at,
                expires_at=expires_at or passed_at + timedelta(days=365),
            )
        )

    def trained_crew(self, team, size=2, lat=31.23, lon=121.47, languages=("zh",), modules=None, **kw):
        """A crew whose members hold every module the cn profile requires, valid for a year."""
        crew = self.crew(team=team, members=0, **kw)
        for _ in range(size):
            member = self.collector(team=team, crew=crew, lat=lat, lon=lon, languages=list(languages))
            for module in modules if modules is not None else ("law_compliance", "communication"):
                self.training(member, module=module, passed_at=self.today() - timedelta(days=30))
        return crew

    def contact(self, case, purpose="contact", days_ago=3, result="no_answer", planned_visit_date=None):
        from app.models import ContactAttempt

        return self._save(
            ContactAttempt(
                case_id=case.id,
                channel="call",
                purpose=purpose,
                result=result,
                occurred_at=self.now() - timedelta(days=days_ago),
                planned_visit_date=planned_visit_date,
            )
        )

    def dispatchable_case(self, team, lat=31.2317, lon=121.4846, **kw):
        """A field_visit case whose cn preconditions hold (a prior contact attempt)."""
        debtor_kw = {k: kw.pop(k) for k in ("flags", "availability", "language", "timezone_name") if k in kw}
        case = self.case(team=team, debtor=self.debtor(lat=lat, lon=lon, **debtor_kw), **kw)
        self.contact(case)
        return case

    def debtor(self, lat=31.2317, lon=121.4846, timezone_name="Asia/Shanghai", **kw):
        from app.models import Debtor

        n = self._next()
        values = dict(
            name=f"Debtor {n}",
            phone=f"1380000{n:04d}",
            national_id=f"31010119900101{n:04d}",
            address=f"{n} Test Road, Shanghai",
            lat=lat,
            lon=lon,
            timezone=timezone_name,
            language="zh",
            availability=[],
            flags={},
        )
        values.update(kw)
        return self._save(Debtor(**values))

    def case(self, team=None, debtor=None, stage="field_visit", **kw):
        from app.models import Case

        team = team or self.team()
        debtor = debtor or self.debtor()
        n = self._next()
        values = dict(
            loan_ref=f"L{n:06d}",
            debtor_id=debtor.id,
            team_id=team.id,
            product="cash_loan",
            currency="CNY",
            principal_minor=1_000_000,
            outstanding_minor=800_000,
            days_past_due=60,
            stage=stage,
            priority=50,
        )
        values.update(kw)
        return self._save(Case(**values))


@pytest.fixture()
def make(app, db):
    factory = Factory(app, db)
    # Beside a module's world, number on from where its builder stopped (codes stay unique).
    factory.n = getattr(app.extensions.get("module_factory"), "n", 0)
    return factory


def count_rows(app, db, model):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def table_counts(session, tables):
    """``{table name: rows}`` for every table, in one statement (one round trip, not one per table)."""
    counts = sa.union_all(
        *(sa.select(sa.literal_column(f"'{t.name}'").label("t"), sa.func.count()).select_from(t) for t in tables)
    )
    return dict(session.execute(counts).all())


@pytest.fixture()
def rows(app, db):
    """``rows(Model)``: how many rows the test's transaction holds."""
    return lambda model: count_rows(app, db, model)


@pytest.fixture(scope="session")
def migrated_template(backend, tmp_path_factory):
    """A database of the current backend migrated to head once per session (and worker),
    copied by ``migrated_app`` instead of running the migrations again."""
    with throwaway_database(backend, tmp_path_factory, "template") as url:
        app = make_app(url, tmp_path_factory.mktemp("template"))
        migrate_to_head(app)
        from app.extensions import db as _db

        with app.app_context():
            _db.engine.dispose()
        yield url


@pytest.fixture()
def migrated_app(backend, migrated_template, tmp_path_factory, tmp_path):
    """An app on a brand-new database of its own, migrated to head (a copy of the template),
    whose transactions really commit."""
    with throwaway_database(backend, tmp_path_factory, "migrated", template=migrated_template) as url:
        app = make_app(url, tmp_path)
        yield app
        from app.extensions import db as _db

        with app.app_context():
            _db.engine.dispose()


@pytest.fixture()
def empty_app(backend, tmp_path_factory, tmp_path):
    """An app on a brand-new, empty database of the current backend (no migrations run)."""
    with throwaway_database(backend, tmp_path_factory, "empty") as url:
        app = make_app(url, tmp_path)
        yield app
        from app.extensions import db as _db

        with app.app_context():
            _db.engine.dispose()


# ---------------------------------------------------------------- S3 over HTTP


class S3Server:
    """An S3-compatible server (moto in server mode) in a process of its own, spoken to over HTTP."""

    def __init__(self, url, process):
        self.url, self.process = url, process

    def client(self, access_key="testing", secret_key="testing"):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )

    def bucket(self, object_lock=False):
        """A new, empty bucket's name."""
        name = f"fc-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def s3_server_process(**env):
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the S3 server (moto) did not start")
                time.sleep(0.1)
        yield S3Server(url, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server, started once for the session."""
    with s3_server_process() as server:
        yield server


@pytest.fixture()
def s3_credentials(monkeypatch):
    """boto3 in the app finds its credentials where production would: the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture()
def day(app, db, make, clock):
    """A crew's committed day at 10:00 in Shanghai, an agent on the crew (``tests.api.test_field.Day``)."""
    from tests.api.test_field import Day, local

    clock.set(local(10))
    return Day(app, db, make, clock)


# ---------------------------------------------------------------- the fuzz run's tally
# What the OpenAPI fuzz sent, for the closing summary (docs/reliability.md's table quotes
# it). Under pytest-xdist each worker counts its own share and hands it to the controller
# when it finishes (``workeroutput``), so the summary is the whole run's.
FUZZ_SENT = {"cases": 0, "requests": 0}


@pytest.fixture()
def fuzz_tally():
    return FUZZ_SENT


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand its count to the controller
        workeroutput["fuzz_sent"] = dict(FUZZ_SENT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for key, value in getattr(node, "workeroutput", {}).get("fuzz_sent", {}).items():
        FUZZ_SENT[key] += value


def pytest_terminal_summary(terminalreporter):
    if FUZZ_SENT["cases"]:
        terminalreporter.write_line(
            f"fuzz: {FUZZ_SENT['cases']} generated cases, {FUZZ_SENT['requests']} requests "
            "(each case sent once per caller)"
        )
