"""Retention as policy: closed cases past their profile's retention are anonymised by a
scheduled job; a legal hold stops it; a dry run shows what would go; reports still add up."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import audit
from app.models import (
    AuditEvent,
    AuditPersonalValue,
    ClientEvent,
    Complaint,
    ContactAttempt,
    Debtor,
    Recording,
    RepaymentAgreement,
    Visit,
)
from app.services import retention
from tests.api.test_audit_visits import make_visit
from tests.conftest import TEST_NOW

T0 = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)


def test_a_closed_case_past_retention_is_anonymised_by_the_scheduled_job(app, db, make, clock):
    from app import jobs

    debtor = make.debtor(name="Li Lei", phone="13700001111", national_id="310101197001011111", address="5 Old Street")
    make.case(debtor=debtor, stage="closed")
    clock.set(TEST_NOW + timedelta(days=3 * 366))
    with app.app_context():
        job, start = jobs.submit("retention_sweep", {}, None)
        db.session.commit()
        start()
        assert jobs.get(job.id).status == "finished"
        gone = db.session.get(Debtor, debtor.id)
        assert gone.anonymised_at is not None
        assert (gone.name, gone.phone, gone.national_id) != ("Li Lei", "13700001111", "310101197001011111")
        assert gone.phone is None and gone.national_id is None and "Old Street" not in gone.address


# ---------------------------------------------------------------- a closed case with everything on it


def store(app, key, content):
    from app import storage

    with app.app_context():
        storage.current().put(key, content, "audio/ogg")


@pytest.fixture()
def world(app, db, make, clock):
    """A debtor whose one case closed on TEST_NOW, with a visit (notes, a stored recording,
    an agreement, a reviewed flag), a contact attempt with notes, a closed complaint, a
    payment, the phone's stored request, and the audit events the API would have written."""
    clock.set(T0)
    team = make.team(code="RET-T", region=make.region(code="RET-R"))
    crew = make.crew(team=team, members=0, code="RET-K")
    collector = make.collector(team=team, crew=crew, code="RET-C")
    debtor = make.debtor(
        name="Zhou Min",
        phone="13955554444",
        national_id="310101198502023333",
        address="77 Keep Road, Shanghai",
        lat=31.234567,
        lon=121.456789,
    )
    case = make.case(team=team, debtor=debtor, loan_ref="RET-LOAN", stage="field_visit")
    content = b"OggS" + b"\x07" * 3000
    digest = hashlib.sha256(content).hexdigest()
    visit = make_visit(
        make,
        case,
        crew,
        collector,
        T0,
        notes="Ms Zhou said her husband pays.",
        recordings=(digest,),
        agreement={"kind": "promise", "status": "kept", "total_minor": 50_000, "acknowledgement_ref": "otp-778899"},
        flags=("geofence_outside",),
    )
    with app.app_context():
        recording = db.session.scalars(sa.select(Recording).where(Recording.visit_id == visit.id)).one()
        key = recording.storage_key
        db.session.add(
            ContactAttempt(
                case_id=case.id,
                channel="call",
                purpose="contact",
                result="reached",
                occurred_at=T0 - timedelta(days=2),
                notes="Spoke to Ms Zhou on 139…",
            )
        )
        db.session.add(
            Complaint(
                debtor_id=debtor.id,
                case_id=case.id,
                channel="phone",
                category="rude",
                text="The collector shouted at Zhou Min.",
                status="unsubstantiated",
                received_at=T0 + timedelta(days=1),
                resolved_at=T0 + timedelta(days=5),
                resolution_notes="Recording reviewed with Ms Zhou.",
            )
        )
        db.session.add(
            ClientEvent(
                user_id=make.user("agent").id,
                client_event_id="evt-ret-1",
                kind="visit",
                status="accepted",
                task_id=visit.task_id,
                payload={"notes": "Ms Zhou said her husband pays.", "lat": 31.234567},
                response={"visit": {"notes": "Ms Zhou said her husband pays."}},
            )
        )
        audit.record(
            "debtor.created",
            entity_type="debtors",
            entity_id=debtor.id,
            after={"name": "Zhou Min", "phone": "13955554444", "address": "77 Keep Road, Shanghai"},
        )
        audit.record(
            "visit.outcome_recorded",
            entity_type="visits",
            entity_id=visit.id,
            subjects=[debtor.id],
            after={"outcome": "promise_to_pay", "notes": "Ms Zhou said her husband pays."},
        )
        db.session.commit()
    store(app, key, content)
    clock.set(TEST_NOW)
    with app.app_context():
        db.session.get(type(case), case.id).stage = "closed"
        db.session.commit()
    return {"debtor": debtor, "case": case, "visit": visit, "collector": collector, "key": key, "team": team}


def sweep(app, db, day, **kw):
    with app.app_context():
        report = retention.sweep(day, **kw)
        db.session.commit()
        return report


def test_nothing_goes_a_day_before_the_cn_retention_and_everything_personal_goes_on_the_day(app, db, world, clock):
    closed = TEST_NOW.date()
    early = sweep(app, db, date(closed.year + 2, closed.month, closed.day) - timedelta(days=1))
    assert early["anonymised"] == [] and early["waiting"] == 1
    report = sweep(app, db, date(closed.year + 2, closed.month, closed.day))
    (item,) = report["anonymised"]
    assert item["debtor_id"] == world["debtor"].id and item["cases"] == [world["case"].id]
    assert item["removed"] == {"visits": 1, "recordings": 1, "contact_attempts": 1, "complaints": 1, "audit_values": 2}
    with app.app_context():
        debtor = db.session.get(Debtor, world["debtor"].id)
        assert (debtor.name, debtor.phone, debtor.national_id, debtor.national_id_index) == (
            "[anonymised]",
            None,
            None,
            None,
        )
        assert debtor.address == "[anonymised]" and (debtor.lat, debtor.lon) == (31.23, 121.46)
        visit = db.session.get(Visit, world["visit"].id)
        assert visit.notes is None and (visit.check_in_lat, visit.check_in_lon) == (31.23, 121.48)
        assert visit.outcome == "promise_to_pay" and visit.check_in_distance_m == 35.5
        assert db.session.scalars(sa.select(ContactAttempt.notes)).all() == [None]
        complaint = db.session.scalars(sa.select(Complaint)).one()
        assert "Zhou" not in complaint.text and complaint.resolution_notes is None
        assert complaint.category == "rude" and complaint.status == "unsubstantiated"
        event = db.session.scalars(sa.select(ClientEvent).where(ClientEvent.client_event_id == "evt-ret-1")).one()
        assert "Zhou" not in json.dumps(event.payload) + json.dumps(event.response)
        assert db.session.scalars(sa.select(RepaymentAgreement.acknowledgement_ref)).all() == [None]
        recording = db.session.scalars(sa.select(Recording)).one()
        assert recording.erased_at is not None and recording.size_bytes == 48_000
        from app import storage

        assert not storage.current().exists(world["key"])


def test_the_chain_verifies_after_a_debtor_is_anonymised_and_their_values_are_gone(app, db, world):
    with app.app_context():
        before = audit.verify_chain()
        assert before["ok"] and before["personal_values_checked"] == 2
    sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366))
    with app.app_context():
        after = audit.verify_chain()
        assert after["ok"] and after["personal_values_checked"] == 0 and after["checked"] == before["checked"] + 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditPersonalValue)) == 0
        created = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "debtor.created")).one()
    assert "Zhou" not in created.changes and "Keep Road" not in created.changes and "4444" not in created.changes


def test_the_pulled_log_shows_an_erased_value_as_its_commitment(app, db, client, make, world):
    headers = make.token(make.user("auditor"))
    page = client.get("/api/v1/audit/events?action=debtor.created", headers=headers).json
    assert page["items"][0]["changes"]["after"]["name"] == "Z*******"
    sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366))
    page = client.get("/api/v1/audit/events?action=debtor.created", headers=headers).json
    assert set(page["items"][0]["changes"]["after"]["name"]) == {"$pii"}


def test_reports_add_up_the_same_after_anonymisation(app, db, client, make, world):
    headers = make.token(make.user("admin"))
    query = "?from=2026-01-01&to=2026-12-31"
    conduct = f"/api/v1/collectors/{world['collector'].id}/conduct{query}"
    before = (
        client.get(conduct, headers=headers).json,
        client.get("/api/v1/audit/visits?format=csv", headers=headers).get_data(as_text=True).count("\n"),
        client.get(f"/api/v1/cases/{world['case'].id}", headers=headers).json["outstanding"],
        client.get("/api/v1/agreements", headers=headers).json["items"][0]["total"],
    )
    sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366))
    after = (
        client.get(conduct, headers=headers).json,
        client.get("/api/v1/audit/visits?format=csv", headers=headers).get_data(as_text=True).count("\n"),
        client.get(f"/api/v1/cases/{world['case'].id}", headers=headers).json["outstanding"],
        client.get("/api/v1/agreements", headers=headers).json["items"][0]["total"],
    )
    assert before == after and before[0]["visits"] == 1 and before[0]["flags_total"] == 1


@pytest.mark.parametrize(
    "hold,set_up",
    [
        ("dispute", lambda db, w: db.session.get(Debtor, w["debtor"].id).__setattr__("flags", {"dispute": True})),
        ("litigation", lambda db, w: db.session.get(Debtor, w["debtor"].id).__setattr__("flags", {"litigation": True})),
        (
            "complaint",
            lambda db, w: db.session.add(
                Complaint(
                    debtor_id=w["debtor"].id,
                    channel="letter",
                    category="other",
                    text="Still waiting.",
                    status="under_review",
                )
            ),
        ),
    ],
)
def test_a_legal_hold_stops_anonymisation_and_says_why(app, db, world, hold, set_up):
    with app.app_context():
        set_up(db, world)
        db.session.commit()
    report = sweep(app, db, TEST_NOW.date() + timedelta(days=10 * 366))
    assert report["anonymised"] == []
    (held,) = report["held"]
    assert held["debtor_id"] == world["debtor"].id and [h["hold"] for h in held["holds"]] == [hold]
    with app.app_context():
        assert db.session.get(Debtor, world["debtor"].id).name == "Zhou Min"


def test_a_debtor_with_a_case_still_open_is_kept_whole(app, db, make, world):
    make.case(team=world["team"], debtor=world["debtor"], stage="remote_contact")
    report = sweep(app, db, TEST_NOW.date() + timedelta(days=10 * 366))
    assert report["anonymised"] == [] and report["held"] == []


def test_a_dry_run_says_what_would_go_and_changes_nothing(app, db, world):
    with app.app_context():
        head = audit.chain_head()
    report = sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366), dry_run=True)
    (item,) = report["anonymised"]
    assert item["removed"]["recordings"] == 1 and item["removed"]["audit_values"] == 2
    with app.app_context():
        assert db.session.get(Debtor, world["debtor"].id).name == "Zhou Min"
        assert audit.chain_head() == head
        from app import storage

        assert storage.current().exists(world["key"])


def test_the_cli_dry_run_lists_what_would_go_and_what_is_held(app, db, make, world):
    other = make.debtor(flags={"litigation": True})
    make.case(team=world["team"], debtor=other, stage="resolved")
    result = app.test_cli_runner().invoke(args=["retention", "sweep", "--dry-run", "--date", "2030-01-01"])
    assert result.exit_code == 0, result.output
    assert f"would anonymise debtor {world['debtor'].id}" in result.output
    assert f"held: debtor {other.id} — a litigation hold" in result.output
    with app.app_context():
        assert db.session.get(Debtor, world["debtor"].id).name == "Zhou Min"


def test_storage_that_cannot_be_reached_leaves_that_debtor_whole_for_the_next_sweep(app, db, world, monkeypatch):
    from app.storage import S3Storage
    from tests.conftest import _free_port

    monkeypatch.setitem(app.extensions, "storage", S3Storage("any", f"http://127.0.0.1:{_free_port()}"))
    with app.app_context():
        report = retention.sweep(TEST_NOW.date() + timedelta(days=3 * 366), commit_each=True)
    assert report["anonymised"] == [] and report["failed"][0]["debtor_id"] == world["debtor"].id
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(Debtor, world["debtor"].id).name == "Zhou Min"
        assert db.session.scalars(sa.select(Recording.erased_at)).one() is None


def test_recordings_on_s3_are_deleted_from_the_bucket(app, db, world, s3_server, s3_credentials, monkeypatch):
    from app.storage import S3Storage

    bucket = s3_server.bucket()
    monkeypatch.setitem(app.extensions, "storage", S3Storage(bucket, s3_server.url))
    store(app, world["key"], b"OggS on s3")
    sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366))
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@pytest.mark.parametrize("profile_id,years,from_activity", [("us-fdcpa", 3, True), ("uk-conc", 6, False)])
def test_other_profiles_keep_records_for_their_own_period_from_their_own_event(
    app, db, make, world, profile_id, years, from_activity
):
    from app.models import Payment, Team

    with app.app_context():
        db.session.get(Team, world["team"].id).policy_profile = profile_id
        # A payment received half a year after the case closed: collection activity.
        db.session.add(
            Payment(
                reference="RET-PAY",
                case_id=world["case"].id,
                amount_minor=100,
                currency="CNY",
                paid_at=TEST_NOW + timedelta(days=180),
                received_at=TEST_NOW + timedelta(days=180),
            )
        )
        db.session.commit()
    start = (TEST_NOW + timedelta(days=180)).date() if from_activity else TEST_NOW.date()
    due = date(start.year + years, start.month, start.day)
    assert sweep(app, db, due - timedelta(days=1), dry_run=True)["anonymised"] == []
    (item,) = sweep(app, db, due, dry_run=True)["anonymised"]
    assert item["due"] == due.isoformat()


def test_the_position_of_a_check_in_at_the_door_is_erased_from_the_log_with_the_debtor(app, db, world):
    with app.app_context():
        audit.record(
            "visit.checked_in",
            entity_type="visits",
            entity_id=world["visit"].id,
            lat=31.234567,
            lon=121.456789,
            after={"distance_m": 12.0},
        )
        db.session.commit()
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "visit.checked_in")).one()
    assert "31.234567" not in event.changes and (event.lat, event.lon) == (None, None)
    sweep(app, db, TEST_NOW.date() + timedelta(days=3 * 366))
    with app.app_context():
        assert audit.personal_values([event.seq]) == {}
        assert audit.verify_chain()["ok"]
