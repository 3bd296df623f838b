"""Recordings, exports and anchors on S3, spoken to over HTTP: an S3-compatible server
(moto in server mode) runs beside the tests."""

import socket

import pytest

from app import storage as storage_module
from app.storage import S3Storage
from tests.conftest import s3_server_process


@pytest.fixture()
def closed_port():
    """A port bound but not listening: connections to it are refused, and no other process
    (another test run's server on a busy machine) can take it while the test runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_a_missing_object_a_network_error_and_a_permission_error_are_told_apart(s3_server, s3_credentials, closed_port):
    storage = S3Storage(s3_server.bucket(), s3_server.url)
    storage.put("recordings/ab/abc.oga", b"OggS", "audio/ogg")
    assert storage.get("recordings/ab/abc.oga") == b"OggS"
    assert storage.exists("recordings/ab/abc.oga") and not storage.exists("recordings/ab/none.oga")
    with pytest.raises(storage_module.ObjectMissing):
        storage.get("recordings/ab/none.oga")
    nobody_listens = S3Storage("any-bucket", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(storage_module.StorageUnavailable):
        nobody_listens.exists("recordings/ab/abc.oga")
    with pytest.raises(storage_module.StorageUnavailable):
        nobody_listens.get("recordings/ab/abc.oga")


@pytest.fixture(scope="module")
def s3_with_access_control():
    """A second S3 server that checks every request against its IAM users: the first
    four requests (an admin user, its key and policy, a bucket) are let through."""
    with s3_server_process(INITIAL_NO_AUTH_ACTION_COUNT="4") as server:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_user(UserName="ops")
        key = iam.create_access_key(UserName="ops")["AccessKey"]
        iam.put_user_policy(
            UserName="ops",
            PolicyName="all",
            PolicyDocument=(
                '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
            ),
        )
        ops = server.client(key["AccessKeyId"], key["SecretAccessKey"])
        ops.create_bucket(Bucket="guarded")
        ops.put_object(Bucket="guarded", Key="recordings/x.oga", Body=b"x")
        iam_ops = boto3.client(
            "iam",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        iam_ops.create_user(UserName="stranger")
        stranger = iam_ops.create_access_key(UserName="stranger")["AccessKey"]
        yield server, stranger


def test_a_caller_without_permission_is_told_so_not_that_the_object_is_missing(s3_with_access_control):
    server, stranger = s3_with_access_control
    storage = S3Storage(
        "guarded", server.url, client=server.client(stranger["AccessKeyId"], stranger["SecretAccessKey"])
    )
    with pytest.raises(storage_module.StoragePermissionDenied):
        storage.get("recordings/x.oga")
    with pytest.raises(storage_module.StoragePermissionDenied):
        storage.exists("recordings/x.oga")


# ---------------------------------------------------------------- the service on S3


@pytest.fixture()
def on_s3(app, s3_server, s3_credentials, monkeypatch):
    """The app keeps its recordings and exports in a fresh bucket of the S3 server."""
    bucket = s3_server.bucket()
    monkeypatch.setitem(app.config, "S3_BUCKET", bucket)
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3_server.url)
    app.extensions.pop("storage", None)
    yield bucket
    app.extensions.pop("storage", None)


def test_a_recording_uploaded_from_the_phone_is_stored_in_the_bucket_over_http(client, day, on_s3, s3_server):
    import hashlib

    from tests.api.test_field import check_in, upload

    check_in(client, day, day.tasks[0])
    content = b"OggS" + b"\x02" * 70_000
    response = upload(client, day, day.tasks[0], content=content, content_type="audio/ogg")
    assert response.status_code == 201
    digest = hashlib.sha256(content).hexdigest()
    stored = s3_server.client().get_object(Bucket=on_s3, Key=f"recordings/{digest[:2]}/{digest}.oga")
    assert stored["Body"].read() == content and stored["ContentType"] == "audio/ogg"


def test_an_export_job_writes_its_file_to_the_bucket_and_downloads_from_it(app, db, client, make, on_s3, s3_server):
    from app import audit

    with app.app_context():
        for i in range(3):
            audit.record("thing.done", entity_type="things", entity_id=i)
        db.session.commit()
    headers = make.token(make.user("auditor"))
    job = client.post(
        "/api/v1/jobs", json={"name": "export_audit_events", "params": {"format": "ndjson"}}, headers=headers
    )
    assert job.status_code == 202, job.get_data(as_text=True)
    finished = client.get(f"/api/v1/jobs/{job.json['id']}", headers=headers).json
    assert finished["status"] == "finished", finished
    key = finished["result"]["file"]
    in_bucket = s3_server.client().get_object(Bucket=on_s3, Key=key)["Body"].read()
    downloaded = client.get(f"/api/v1/jobs/{job.json['id']}/file", headers=headers)
    assert downloaded.status_code == 200 and downloaded.data == in_bucket
    assert len(downloaded.data.splitlines()) == finished["result"]["rows"] >= 3


def test_an_export_file_gone_from_the_bucket_answers_404_not_a_500(app, db, client, make, on_s3, s3_server):
    headers = make.token(make.user("auditor"))
    job = client.post(
        "/api/v1/jobs", json={"name": "export_audit_events", "params": {"format": "csv"}}, headers=headers
    ).json
    key = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json["result"]["file"]
    s3_server.client().delete_object(Bucket=on_s3, Key=key)
    response = client.get(f"/api/v1/jobs/{job['id']}/file", headers=headers)
    assert response.status_code == 404 and response.json["error"]["code"] == "object_missing"


def test_storage_that_cannot_be_reached_answers_503_with_the_envelope(
    app, db, client, day, monkeypatch, closed_port, s3_credentials
):
    # With credentials, as production has them: without, boto3 refuses before it connects
    # (storage_refused), unless an earlier test in the process left its session holding some.
    from tests.api.test_field import check_in, upload

    monkeypatch.setitem(app.extensions, "storage", S3Storage("any", f"http://127.0.0.1:{closed_port}"))
    check_in(client, day, day.tasks[0])
    response = upload(client, day, day.tasks[0])
    assert response.status_code == 503 and response.json["error"]["code"] == "storage_unavailable"
    app.extensions.pop("storage", None)
