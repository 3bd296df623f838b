"""The chain head is anchored outside the database, signed with a key the database
never holds; verification checks the chain against every anchor."""

import pytest
import sqlalchemy as sa

from app import audit
from app.services import audit_log
from app.storage import StorageError


def write(app, db, n):
    with app.app_context():
        for i in range(n):
            audit.record("thing.done", entity_type="things", entity_id=i, after={"i": i})
            db.session.commit()


@pytest.fixture()
def anchor_dir(app, db):
    """The test's own anchor folder (tests/conftest.py gives each test one)."""
    from pathlib import Path

    return Path(app.config["ANCHOR_DIR"])


def superuser_cover_up(app, db, keep):
    """What a database superuser can do: switch the append-only trigger off, delete the
    last events, move the chain head back to the last one kept, switch the trigger on."""
    with app.app_context():
        connection = db.session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        connection.execute(sa.text("DELETE FROM audit_events WHERE seq > :keep"), {"keep": keep})
        kept = connection.execute(sa.text("SELECT hash FROM audit_events WHERE seq = :keep"), {"keep": keep}).scalar()
        connection.execute(
            sa.text("UPDATE audit_chain_head SET seq = :keep, hash = :hash"), {"keep": keep, "hash": kept}
        )
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
        db.session.commit()


def test_a_superuser_who_cuts_the_tail_and_rewinds_the_head_is_reported_by_the_anchors(app, db, anchor_dir):
    write(app, db, 6)
    result = app.test_cli_runner().invoke(args=["audit", "anchor"])
    assert result.exit_code == 0, result.output
    assert "seq 6" in result.output
    superuser_cover_up(app, db, keep=4)
    with app.app_context():
        chain_alone = audit.verify_chain()
        result = audit_log.verify()
    assert chain_alone["ok"]  # the cut chain is consistent in itself: only the anchor shows it
    assert not result["ok"]
    assert result["first_broken"]["what"] == "anchor"
    assert "6" in result["first_broken"]["detail"] and "4" in result["first_broken"]["detail"]


def test_a_superuser_who_cuts_the_tail_and_writes_new_events_in_its_place_is_reported(app, db, anchor_dir):
    write(app, db, 5)
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0  # seq 5; the anchor event is 6
    superuser_cover_up(app, db, keep=3)
    write(app, db, 4)  # seq 4..7 again, chained properly: a forged but consistent tail
    with app.app_context():
        assert audit.verify_chain()["ok"]
        result = audit_log.verify()
    assert not result["ok"] and result["first_broken"]["what"] == "anchor"
    assert result["first_broken"]["seq"] == 5 and "rewritten" in result["first_broken"]["detail"]


def test_an_intact_chain_verifies_against_its_anchors(app, db, client, make, anchor_dir):
    write(app, db, 3)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "anchor"]).exit_code == 0
    write(app, db, 2)
    assert runner.invoke(args=["audit", "anchor"]).exit_code == 0
    response = client.get("/api/v1/audit/verify", headers=make.token(make.user("auditor")))
    body = response.json
    assert response.status_code == 200 and body["ok"], body
    assert body["anchors"]["checked"] == 2 and body["anchors"]["latest"]["seq"] == 6
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "anchors: 2" in verified.output


def test_an_anchor_file_is_read_only_and_never_replaced(app, db, anchor_dir):
    import json

    write(app, db, 2)
    with app.app_context():
        from app import anchors

        anchor = anchors.anchor_head()
        db.session.commit()
        path = anchor_dir / anchor["name"]
        assert path.stat().st_mode & 0o222 == 0
        assert json.loads(path.read_text())["seq"] == 2
        with pytest.raises(Exception, match="never replaced"):
            anchors.store().write(anchor["name"], b"{}")


def test_an_anchor_not_signed_by_the_anchor_key_is_reported(app, db, anchor_dir, monkeypatch):
    from app import anchors

    write(app, db, 2)
    forger_key, _public = anchors.new_signing_key()
    monkeypatch.setitem(app.config, "ANCHOR_SIGNING_KEY", forger_key)
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0
    monkeypatch.undo()
    with app.app_context():
        result = audit_log.verify()
    assert not result["ok"] and result["first_broken"]["what"] == "anchor"
    assert "not signed by a known anchor key" in result["first_broken"]["detail"]


def test_a_rotated_out_key_still_verifies_its_anchors_when_its_public_key_is_listed(app, db, anchor_dir, monkeypatch):
    from app import anchors

    write(app, db, 2)
    old_private, old_public = anchors.new_signing_key()
    monkeypatch.setitem(app.config, "ANCHOR_SIGNING_KEY", old_private)
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0
    monkeypatch.setitem(app.config, "ANCHOR_SIGNING_KEY", anchors.new_signing_key()[0])
    monkeypatch.setitem(app.config, "ANCHOR_PUBLIC_KEYS", old_public)
    with app.app_context():
        assert audit_log.verify()["ok"]


def test_anchoring_without_a_signing_key_says_what_to_set(app, db, anchor_dir, monkeypatch):
    monkeypatch.setitem(app.config, "ANCHOR_SIGNING_KEY", None)
    result = app.test_cli_runner().invoke(args=["audit", "anchor"])
    assert result.exit_code != 0 and "ANCHOR_SIGNING_KEY" in result.output
    assert not anchor_dir.exists() or not list(anchor_dir.iterdir())


def test_a_days_head_is_anchored_as_of_the_end_of_that_day(app, db, anchor_dir, clock):
    from datetime import timedelta

    from tests.conftest import TEST_NOW

    write(app, db, 2)
    clock.set(TEST_NOW + timedelta(days=1))
    write(app, db, 1)
    result = app.test_cli_runner().invoke(args=["audit", "anchor", "--date", TEST_NOW.date().isoformat()])
    assert result.exit_code == 0 and "seq 2" in result.output
    assert "as of 2026-06-11T00:00:00+00:00" in result.output


def test_the_anchor_job_anchors_on_a_worker_or_in_process(app, db, anchor_dir):
    from app import jobs

    write(app, db, 2)
    with app.app_context():
        job, start = jobs.submit("anchor_audit_head", {}, None)
        db.session.commit()
        start()
        done = jobs.get(job.id)
        assert done.status == "finished" and done.result["seq"] >= 2
    assert len(list(anchor_dir.iterdir())) == 1


# ---------------------------------------------------------------- anchors on S3 with object lock


@pytest.fixture()
def anchors_on_s3(app, s3_server, s3_credentials, monkeypatch):
    bucket = s3_server.bucket(object_lock=True)
    monkeypatch.setitem(app.config, "ANCHOR_S3_BUCKET", bucket)
    monkeypatch.setitem(app.config, "ANCHOR_S3_ENDPOINT_URL", s3_server.url)
    app.extensions.pop("anchor_store", None)
    yield bucket
    app.extensions.pop("anchor_store", None)


def test_anchors_in_an_object_locked_bucket_cannot_be_deleted_or_replaced(app, db, anchors_on_s3, s3_server):
    import botocore

    write(app, db, 3)
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0
    s3 = s3_server.client()
    (version,) = s3.list_object_versions(Bucket=anchors_on_s3, Prefix="anchors/")["Versions"]
    head = s3.head_object(Bucket=anchors_on_s3, Key=version["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"].year >= 2030
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=anchors_on_s3, Key=version["Key"], VersionId=version["VersionId"])
    from app import anchors

    with app.app_context(), pytest.raises(StorageError):
        anchors.store().write(version["Key"].removeprefix("anchors/"), b"{}")  # the same name again: refused
    with app.app_context():
        result = audit_log.verify()
    assert result["ok"] and result["anchors"]["checked"] == 1
    assert result["anchors"]["store"] == f"s3://{anchors_on_s3}/anchors/"


def test_an_anchor_overwritten_in_the_bucket_is_still_read_from_its_locked_version(app, db, anchors_on_s3, s3_server):
    write(app, db, 4)
    assert app.test_cli_runner().invoke(args=["audit", "anchor"]).exit_code == 0
    s3 = s3_server.client()
    (version,) = s3.list_object_versions(Bucket=anchors_on_s3, Prefix="anchors/")["Versions"]
    s3.put_object(Bucket=anchors_on_s3, Key=version["Key"], Body=b'{"seq": 1}')  # a new version over it
    superuser_cover_up(app, db, keep=2)
    with app.app_context():
        result = audit_log.verify()
    assert not result["ok"] and "holds seq 4" in result["first_broken"]["detail"]
