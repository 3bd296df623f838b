"""The audit log partitioned into chains: each event names its chain (1 for every event
already stored: the existing chain becomes chain 1 and verifies as before), a head row
per chain, and on PostgreSQL the sequence the chains take their numbers from.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 04:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    # A constant default: PostgreSQL adds the column without rewriting a row (the
    # append-only trigger is not involved); SQLite's batch mode copies the table.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.SmallInteger(), server_default="1", nullable=False))
        batch_op.create_index("ix_audit_events_chain_seq", ["chain", "seq"], unique=False)
        batch_op.create_index("ix_audit_events_chain_occurred_at", ["chain", "occurred_at"], unique=False)
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_audit_chain_head_single_row"), type_="check")
        batch_op.create_check_constraint(op.f("ck_audit_chain_head_chain_number"), "id BETWEEN 1 AND 64")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_event_seq AS bigint")
        # Past every number the single chain used (the writers of several chains move it
        # again, under chain 1's lock, when they open the chains).
        op.execute(
            "SELECT setval('audit_event_seq', GREATEST((SELECT max(seq) FROM audit_events), 1), "
            "(SELECT max(seq) FROM audit_events) IS NOT NULL)"
        )


def downgrade():
    # Only a log of one chain goes back: refuse rather than lose the other chains.
    bind = op.get_bind()
    others = bind.execute(sa.text("SELECT count(*) FROM audit_events WHERE chain <> 1")).scalar()
    if others:
        raise RuntimeError(f"{others} audit events are on chains other than 1: the log cannot go back to one chain")
    op.execute("DELETE FROM audit_chain_head WHERE id <> 1")
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS audit_event_seq")
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_audit_chain_head_chain_number"), type_="check")
        batch_op.create_check_constraint(op.f("ck_audit_chain_head_single_row"), "id = 1")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_chain_occurred_at")
        batch_op.drop_index("ix_audit_events_chain_seq")
        batch_op.drop_column("chain")
