"""Audit log indexes for auditors' pulls: every filter ends in seq; agreements by visit.

The audit events are paged in chain order (keyset on seq), so each filter gets an
index whose last column is seq: a filtered page is one walk down an index, never a
scan of the primary key hoping to meet matches. A time range is turned into a seq
range through (occurred_at, seq) (stamps never decrease along the chain). The visit
log looks up agreements by visit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 03:30:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

REPLACED = [  # (old index, its columns) -> (new index, its columns)
    (
        ("ix_audit_events_entity", ["entity_type", "entity_id"]),
        ("ix_audit_events_entity_seq", ["entity_type", "entity_id", "seq"]),
    ),
    (("ix_audit_events_actor_user_id", ["actor_user_id"]), ("ix_audit_events_actor_seq", ["actor_user_id", "seq"])),
    (("ix_audit_events_action", ["action"]), ("ix_audit_events_action_seq", ["action", "seq"])),
    (("ix_audit_events_occurred_at", ["occurred_at"]), ("ix_audit_events_occurred_at_seq", ["occurred_at", "seq"])),
]


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for (old, _), (new, columns) in REPLACED:
            batch_op.create_index(new, columns, unique=False)
            batch_op.drop_index(old)
    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repayment_agreements_visit_id"), ["visit_id"], unique=False)


def downgrade():
    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayment_agreements_visit_id"))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for (old, old_columns), (new, _) in REPLACED:
            batch_op.create_index(old, old_columns, unique=False)
            batch_op.drop_index(new)
