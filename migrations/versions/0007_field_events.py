"""Field events: content fingerprints (a resend with other content is a conflict), the phone's
sequence notes, and elements the server could not read kept as sent.

Revision ID: 0007
Revises: p21a
Create Date: 2026-11-30 22:35:31.696299

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "p21a"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mismatches", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("sequence_note", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("raw", sa.Text(), nullable=True))

    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq_seen", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("seq_seen")

    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.drop_column("raw")
        batch_op.drop_column("sequence_note")
        batch_op.drop_column("mismatches")
        batch_op.drop_column("payload_sha256")
