"""Collection strategy: who set a case's priority (the strategy's score, or an override the
nightly job leaves alone), and the 0..100 range the visit tasks already hold.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 04:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority_source", sa.String(length=20), server_default="strategy", nullable=False)
        )
    # A priority someone already supplied (the importer, a PATCH) is theirs: kept as an
    # override. A case left at the default 0 is scored by the strategy from now on.
    op.execute("UPDATE cases SET priority_source = 'import' WHERE priority <> 0")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_check_constraint("priority_range", "priority >= 0 AND priority <= 100")
        batch_op.create_check_constraint("priority_source_known", "priority_source IN ('strategy', 'import', 'manual')")


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_priority_source_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_cases_priority_range"), type_="check")
        batch_op.drop_column("priority_source")
