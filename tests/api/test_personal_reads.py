"""Every answer that carries a debtor's personal data to an auditor or an admin is
written to the audit log as a ``pii.read`` event."""
import json
from datetime import date

import sqlalchemy as sa

from app.models import AuditEvent, VisitTask

DAY = date(2026, 6, 11)


def reads(app, db):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "pii.read")
                                  .order_by(AuditEvent.seq)).all()


def test_an_auditors_read_of_debtor_addresses_through_the_board_is_recorded(app, db, client, make):
    team = make.team(code="BOARD-T")
    crew = make.crew(team=team, members=2, code="BOARD-K")
    case = make.case(team=team, debtor=make.debtor(address="88 Planted Lane, Shanghai"))
    make._save(VisitTask(case_id=case.id, visit_date=DAY, status="assigned", crew_id=crew.id, priority=10,
                         sequence=1))
    auditor = make.user("auditor")
    response = client.get(f"/api/v1/board?date={DAY}&team=BOARD-T", headers=make.token(auditor))
    assert response.status_code == 200
    assert "88 Planted Lane" in response.get_data(as_text=True)
    (event,) = reads(app, db)
    extra = json.loads(event.changes)["extra"]
    assert event.actor_user_id == auditor.id and case.debtor_id in extra["debtors"]
