"""Retention as policy: closed cases past their profile's retention are anonymised by a
scheduled job; a legal hold stops it; a dry run shows what would go."""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from app.models import Debtor
from tests.conftest import TEST_NOW


def test_a_closed_case_past_retention_is_anonymised_by_the_scheduled_job(app, db, make, clock):
    from app import jobs

    debtor = make.debtor(name="Li Lei", phone="13700001111", national_id="310101197001011111",
                         address="5 Old Street")
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
