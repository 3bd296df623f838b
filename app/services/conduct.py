"""Conduct flags: raised from the policy's findings, reviewed and resolved by people."""
from datetime import datetime, timezone

from app import audit
from app.extensions import db
from app.models import ConductFlag


def raise_flag(flag, *, collector_id=None, crew_id=None, case_id=None, task_id=None, visit_id=None):
    """Store a ``rules.Flag`` as an open conduct flag, with its audit event."""
    row = ConductFlag(
        kind=flag.kind, rule_id=flag.rule_id, profile_version=flag.profile, collector_id=collector_id,
        crew_id=crew_id, case_id=case_id, task_id=task_id, visit_id=visit_id, status="open",
        details={"reason_en": flag.reason_en, "reason_zh": flag.reason_zh, **flag.details},
        raised_at=datetime.now(timezone.utc),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("conduct_flag.raised", row, after={"kind": flag.kind, "rule_id": flag.rule_id,
                                                    "collector_id": collector_id, "case_id": case_id})
    return row
