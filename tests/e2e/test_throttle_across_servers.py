"""Login throttling holds across processes when the counters live in Redis.

Two separate gunicorn servers (not two workers of one) share a database and a Redis
database; failed logins alternate between them. The throttle is reached by the
combined count: with a limit of 5, the sixth failure is refused whichever server it
reaches, though each server has seen only three. Each run uses its own key prefix, so
parallel CI runs on one Redis do not count each other's failures.
"""

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import REDIS_URL, TEST_PII_CONFIG, throwaway_database
from tests.e2e.conftest import ROOT, _free_port, _wait_until_up

PASSWORD = "the-right-password-42"


def _post_login(url, username, password):
    request = urllib.request.Request(
        url + "/api/v1/auth/login",
        method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.contextmanager
def _servers(count, redis_url, prefix, backend, tmp_path_factory, tmp_path):
    """``count`` separate gunicorn servers (one worker each) on one fresh database."""
    with throwaway_database(backend, tmp_path_factory, "throttle") as database_url:
        env = {
            **os.environ,
            **TEST_PII_CONFIG,
            "FLASK_APP": "wsgi.py",
            "APP_ENV": "production",
            "SECRET_KEY": "e2e-" + "k" * 40,
            "DATABASE_URL": database_url,
            "STORAGE_DIR": str(tmp_path / "storage"),
            "REDIS_URL": redis_url,
            "RATELIMIT_KEY_PREFIX": prefix,
            "LOGIN_RATE_LIMIT": "5 per minute",
        }
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        subprocess.run(
            [sys.executable, "-m", "flask", "users", "create", "victim", "--role", "admin", "--password-stdin"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            input=PASSWORD + "\n",
            text=True,
        )
        processes, urls, logs = [], [], []
        try:
            for n in range(count):
                port = _free_port()
                log = open(tmp_path / f"gunicorn-{n}.log", "w")
                logs.append(log)
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
            for url, process in zip(urls, processes):
                _wait_until_up(url, process)
            yield urls
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=20)
            for log in logs:
                log.close()


@pytest.fixture()
def two_servers(backend, tmp_path_factory, tmp_path, redis_connection):
    connection = redis_connection
    prefix = f"fc-test-{uuid.uuid4().hex[:12]}"
    try:
        with _servers(2, REDIS_URL, prefix, backend, tmp_path_factory, tmp_path) as urls:
            yield urls, connection, prefix
    finally:
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)


def test_failed_logins_alternating_between_two_servers_are_counted_together(two_servers):
    (first, second), connection, prefix = two_servers
    answers = [_post_login((first, second)[i % 2], "victim", "wrong-password")[0] for i in range(6)]
    # Three failures on each server; alone, neither would have reached the limit of 5.
    assert answers == [401, 401, 401, 401, 401, 429]
    # Even the right password now waits, on either server.
    assert _post_login(first, "victim", PASSWORD)[0] == 429
    status, body = _post_login(second, "victim", PASSWORD)
    assert status == 429 and body["error"]["code"] == "too_many_requests"
    # The counters are in Redis, under this run's own prefix.
    assert any(True for _ in connection.scan_iter(f"*{prefix}*"))


def test_with_redis_down_logins_still_answer_and_are_throttled_per_process(backend, tmp_path_factory, tmp_path):
    with _servers(1, "redis://127.0.0.1:9/0", "fc-test-down", backend, tmp_path_factory, tmp_path) as (url,):
        answers = [_post_login(url, "victim", "wrong-password")[0] for _ in range(6)]
        assert answers == [401, 401, 401, 401, 401, 429]
        assert _post_login(url, "victim", PASSWORD)[0] == 429
