"""Field events keep their payload; tasks remember their crews; agreements keep what was owed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:29:10.323168

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owed_minor", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("frequency", sa.String(length=20), nullable=True))

    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crew_history", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("outcome_at")

    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_column("crew_history")

    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.drop_column("frequency")
        batch_op.drop_column("owed_minor")

    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.drop_column("task_id")
