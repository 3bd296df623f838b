"""National ids and phone numbers are encrypted at rest (AES-GCM, keys from the
environment) and found by exact value through a blind index (HMAC)."""
import sqlalchemy as sa

from app.models import Debtor


def raw_debtor(app, db, debtor_id):
    with app.app_context():
        return db.session.execute(sa.text("SELECT phone, national_id FROM debtors WHERE id = :id"),
                                  {"id": debtor_id}).one()


def test_national_id_and_phone_are_not_stored_in_clear(app, db, make):
    debtor = make.debtor(phone="13812345678", national_id="310101199001011234")
    phone, national_id = raw_debtor(app, db, debtor.id)
    assert "13812345678" not in phone and "310101199001011234" not in national_id
    assert "5678" not in phone and "1234" not in national_id  # not even a masked form
    with app.app_context():
        again = db.session.get(Debtor, debtor.id)
        assert (again.phone, again.national_id) == ("13812345678", "310101199001011234")
