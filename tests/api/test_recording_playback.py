"""A visit's recording plays on the audit desk: the stored bytes, whole or a byte range
(HTTP Range, as audio players and resumed downloads ask), to whoever may read that visit
in the visit log, each play on the log as a read of the debtor's personal data."""

import hashlib
import json
import uuid

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Recording
from tests.api.test_audit_visits import T0, make_visit

AUDIO = bytes(range(256)) * 40  # 10,240 bytes standing for an audio file


def _store(make, visit, content=AUDIO, content_type="audio/ogg"):
    from app import storage

    key = f"recordings/test/{uuid.uuid4().hex}.oga"
    with make.app.app_context():
        storage.current().put(key, content, content_type)
    return make._save(
        Recording(
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            content_type=content_type,
            kind="audio",
            storage_key=key,
            duration_seconds=75,
            visit_id=visit.id,
        )
    )


@pytest.fixture()
def played(make):
    region = make.region(code="PLAY-R")
    team, other_team = make.team(code="PLAY-T", region=region), make.team(code="PLAY-O", region=region)
    crew = make.crew(team=team, members=0, code="PLAY-K")
    collector = make.collector(team=team, crew=crew, code="PLAY-C")
    case = make.case(team=team, loan_ref="PLAY-LOAN")
    visit = make_visit(make, case, crew, collector, T0)
    recording = _store(make, visit)
    users = {
        "auditor": make.user("auditor"),
        "admin": make.user("admin"),
        "supervisor": make.user("supervisor", team=team),
        "other_supervisor": make.user("supervisor", team=other_team),
        "agent": make.user("agent"),
    }
    return {
        "recording": recording,
        "visit": visit,
        "case": case,
        "users": users,
        "headers": {role: make.token(user) for role, user in users.items()} | {"anonymous": {}},
    }


def url(recording):
    return f"/api/v1/audit/recordings/{recording.id}"


def test_an_auditor_plays_the_whole_recording_and_its_bytes_match_the_stored_hash(client, played):
    response = client.get(url(played["recording"]), headers=played["headers"]["auditor"])
    assert response.status_code == 200
    assert response.mimetype == "audio/ogg" and response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(len(AUDIO))
    assert response.headers["ETag"] == f'"{played["recording"].sha256}"'
    assert "no-store" in response.headers["Cache-Control"]
    assert hashlib.sha256(response.data).hexdigest() == played["recording"].sha256


@pytest.mark.parametrize(
    "asked,start,stop",
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=10000-", 10000, 10240),
        ("bytes=-40", 10200, 10240),
        ("bytes=10200-99999", 10200, 10240),  # running past the end: cut to it
    ],
)
def test_a_byte_range_is_answered_206_with_its_content_range(client, played, asked, start, stop):
    response = client.get(url(played["recording"]), headers={**played["headers"]["auditor"], "Range": asked})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(AUDIO)}"
    assert response.headers["Content-Length"] == str(stop - start)
    assert response.data == AUDIO[start:stop]


def test_a_range_past_the_end_is_416_naming_the_length(client, played):
    response = client.get(
        url(played["recording"]), headers={**played["headers"]["auditor"], "Range": f"bytes={len(AUDIO)}-"}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
    assert response.json["error"]["code"] == "range_not_satisfiable"
    assert "Range" in response.json["error"]["fields"]


@pytest.mark.parametrize("asked", ["bytes=0-9,20-29", "pages=1-2", "bytes=9-3", "nonsense"])
def test_a_range_the_server_does_not_take_is_ignored_and_the_whole_file_sent(client, played, asked):
    response = client.get(url(played["recording"]), headers={**played["headers"]["auditor"], "Range": asked})
    assert response.status_code == 200 and response.data == AUDIO


@pytest.mark.parametrize(
    "role,status",
    [
        ("anonymous", 401),
        ("agent", 403),
        ("other_supervisor", 404),
        ("supervisor", 206),
        ("auditor", 206),
        ("admin", 206),
    ],
)
def test_a_recording_plays_only_for_those_who_may_read_its_visit(client, played, role, status):
    response = client.get(url(played["recording"]), headers={**played["headers"][role], "Range": "bytes=0-9"})
    assert response.status_code == status
    if status >= 400:
        assert set(response.json["error"]) >= {"code", "message", "fields"}
    else:
        assert response.data == AUDIO[:10]


def test_a_recording_of_another_team_answers_like_one_that_does_not_exist(client, played):
    headers = played["headers"]["other_supervisor"]
    foreign = client.get(url(played["recording"]), headers=headers)
    missing = client.get("/api/v1/audit/recordings/99999999", headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json["error"]["code"] == missing.json["error"]["code"] == "not_found"


def test_an_auditors_play_is_logged_as_a_read_of_the_debtors_personal_data(app, db, client, played):
    before = _head(app, db)
    assert client.get(url(played["recording"]), headers=played["headers"]["auditor"]).status_code == 200
    with app.app_context():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > before, AuditEvent.action == "pii.read")
        ).all()
    extra = json.loads(event.changes)["extra"]
    assert event.actor_user_id == played["users"]["auditor"].id
    assert (event.entity_type, event.entity_id) == ("recordings", str(played["recording"].id))
    assert extra["debtors"] == [played["case"].debtor_id] and extra["fields"] == ["recording"]
    assert extra["via"] == "audit.recordings"


def test_a_refused_range_writes_no_read(app, db, client, played):
    before = _head(app, db)
    client.get(url(played["recording"]), headers={**played["headers"]["auditor"], "Range": "bytes=999999-"})
    assert _head(app, db) == before


def test_an_erased_recording_says_so(app, db, client, make, played):
    from app import clock

    with app.app_context():
        db.session.get(Recording, played["recording"].id).erased_at = clock.now()
        db.session.commit()
    response = client.get(url(played["recording"]), headers=played["headers"]["auditor"])
    assert response.status_code == 404 and response.json["error"]["code"] == "recording_erased"


def test_a_recording_kept_in_object_storage_plays_by_range(
    app, client, make, played, s3_server, s3_credentials, monkeypatch
):
    from app.storage import S3Storage

    monkeypatch.setitem(app.extensions, "storage", S3Storage(s3_server.bucket(), s3_server.url))
    recording = _store(make, played["visit"], content=AUDIO[::-1], content_type="audio/mp4")
    response = client.get(url(recording), headers={**played["headers"]["auditor"], "Range": "bytes=100-199"})
    assert response.status_code == 206 and response.data == AUDIO[::-1][100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(AUDIO)}" and response.mimetype == "audio/mp4"


def _head(app, db):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))
