"""National ids and phone numbers are encrypted at rest (AES-GCM, keys from the
environment) and found by exact value through a blind index (HMAC)."""

import base64

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from app import crypto
from app.crypto import Keyring
from app.models import Debtor
from app.services.pii_keys import rotate_keys
from tests.conftest import TEST_PII_CONFIG


def raw_debtor(app, db, debtor_id):
    with app.app_context():
        return db.session.execute(
            sa.text("SELECT phone, national_id FROM debtors WHERE id = :id"), {"id": debtor_id}
        ).one()


def test_national_id_and_phone_are_not_stored_in_clear(app, db, make):
    debtor = make.debtor(phone="13812345678", national_id="310101199001011234")
    phone, national_id = raw_debtor(app, db, debtor.id)
    assert "13812345678" not in phone and "310101199001011234" not in national_id
    assert "5678" not in phone and "1234" not in national_id  # not even a masked form
    with app.app_context():
        again = db.session.get(Debtor, debtor.id)
        assert (again.phone, again.national_id) == ("13812345678", "310101199001011234")


KEY_A = TEST_PII_CONFIG["PII_ENCRYPTION_KEYS"]
KEY_B = "b2:" + base64.b64encode(b"B" * 32).decode()
INDEX_2 = base64.b64encode(b"I" * 32).decode()


def use_keys(app, monkeypatch, encryption_keys, index_key=TEST_PII_CONFIG["PII_INDEX_KEY"]):
    monkeypatch.setitem(app.extensions, "pii_keyring", Keyring(encryption_keys, index_key))


def test_a_ciphertext_moved_to_another_column_does_not_decrypt(app, db, make):
    debtor = make.debtor(phone="13812345678", national_id="310101199001011235")
    with app.app_context():
        connection = db.session.connection()
        connection.execute(sa.text("UPDATE debtors SET phone = national_id WHERE id = :id"), {"id": debtor.id})
        with pytest.raises(InvalidTag):  # sealed for another column: the cipher refuses it
            crypto.keyring().decrypt(raw_debtor(app, db, debtor.id).phone, "debtors.phone")


def test_a_debtor_is_found_by_national_id_through_the_blind_index_whatever_its_case(app, db, make):
    debtor = make.debtor(national_id="31010119900101123x")
    with app.app_context():
        found = db.session.scalars(
            sa.select(Debtor.id).where(Debtor.national_id_index == crypto.blind_index("31010119900101123X "))
        ).one()
    assert found == debtor.id


def test_a_second_debtor_with_a_known_national_id_is_refused(client, make):
    make.debtor(national_id="310101199001019999")
    team = make.team(code="ENC-T")
    admin = make.token(make.user("admin"))
    response = client.post(
        "/api/v1/cases",
        headers=admin,
        json={
            "loan_ref": "ENC-1",
            "product": "cash_loan",
            "currency": "CNY",
            "principal": "100.00",
            "outstanding": "90.00",
            "days_past_due": 40,
            "team": "ENC-T",
            "debtor": {
                "name": "Dup",
                "national_id": "310101199001019999",
                "address": "1 Road",
                "lat": 31.2,
                "lon": 121.4,
            },
        },
    )
    assert response.status_code == 422 and "national_id" in response.json["error"]["fields"]
    assert team.code == "ENC-T"


def test_rotating_the_encryption_key_re_encrypts_every_value_and_the_old_key_can_then_go(app, db, make, monkeypatch):
    debtors = [make.debtor(phone=f"1391234{n:04d}", national_id=f"3101011990010{n:05d}") for n in range(5)]
    make.debtor(phone=None, national_id=None)
    use_keys(app, monkeypatch, f"{KEY_B},{KEY_A}")
    with app.app_context():
        counts = rotate_keys(batch_size=2, commit=db.session.commit)
        assert counts["reencrypted"] == 5 and counts["reindexed"] == 0
        assert rotate_keys()["reencrypted"] == 0  # a second run changes nothing
        db.session.commit()
    for debtor in debtors:
        phone, national_id = raw_debtor(app, db, debtor.id)
        assert phone.startswith("fc1:b2:") and national_id.startswith("fc1:b2:")
    use_keys(app, monkeypatch, KEY_B)  # the old key is gone
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(Debtor, debtors[3].id).national_id == "310101199001000003"


def test_rotating_the_index_key_re_indexes_so_lookups_keep_working(app, db, make, monkeypatch):
    debtor = make.debtor(national_id="310101199001012222")
    use_keys(app, monkeypatch, KEY_A, INDEX_2)
    with app.app_context():
        assert rotate_keys()["reindexed"] >= 1
        db.session.commit()
        found = db.session.scalars(
            sa.select(Debtor.id).where(Debtor.national_id_index == crypto.blind_index("310101199001012222"))
        ).one()
    assert found == debtor.id


def test_a_value_under_a_key_no_longer_configured_says_which_key_to_add_back(app, db, make, monkeypatch):
    debtor = make.debtor(national_id="310101199001013333")
    use_keys(app, monkeypatch, KEY_B)
    with app.app_context(), pytest.raises(LookupError, match="'t1'"):
        db.session.expire_all()
        _ = db.session.get(Debtor, debtor.id).national_id


def test_values_written_before_encryption_are_encrypted_by_the_rotation(app, db, make):
    debtor = make.debtor(phone="13700009999", national_id=None)
    with app.app_context():
        db.session.execute(sa.text("UPDATE debtors SET phone = '13700009999' WHERE id = :id"), {"id": debtor.id})
        assert rotate_keys()["reencrypted"] >= 1
        db.session.commit()
    assert raw_debtor(app, db, debtor.id).phone.startswith("fc1:t1:")


def test_the_cli_rotates_and_prints_new_keys(app, db, make):
    make.debtor(phone="13700008888")
    runner = app.test_cli_runner()
    keys = runner.invoke(args=["pii", "keygen", "--key-id", "k2027"]).output
    assert keys.startswith("PII_ENCRYPTION_KEYS=k2027:") and "PII_INDEX_KEY=" in keys
    result = runner.invoke(args=["pii", "rotate-keys"])
    assert result.exit_code == 0 and "re-encrypted 0" in result.output


def test_the_migration_encrypts_what_was_stored_in_clear_and_its_downgrade_decrypts_it(empty_app):
    import flask_migrate

    from app.extensions import db as _db

    with empty_app.app_context():
        flask_migrate.upgrade(revision="0004")
        _db.session.execute(
            sa.text(
                "INSERT INTO debtors (id, name, phone, national_id, address, lat, lon, timezone, availability, flags, "
                "created_at, updated_at) VALUES (1, 'Old', '13800005555', '310101198001015555', 'x', 31.2, 121.4, "
                "'Asia/Shanghai', '[]', '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        _db.session.commit()
        flask_migrate.upgrade()
        phone, national_id, index = _db.session.execute(
            sa.text("SELECT phone, national_id, national_id_index FROM debtors WHERE id = 1")
        ).one()
        assert phone.startswith("fc1:t1:") and national_id.startswith("fc1:t1:")
        assert index == crypto.blind_index("310101198001015555")
        assert _db.session.get(Debtor, 1).phone == "13800005555"
        _db.session.remove()
        flask_migrate.downgrade(revision="0004")
        assert tuple(_db.session.execute(sa.text("SELECT phone, national_id FROM debtors WHERE id = 1")).one()) == (
            "13800005555",
            "310101198001015555",
        )
        _db.session.remove()
