"""Door rules: phones and their clocks, judged times beside device and server times,
withdrawn tasks, and the other places a case knows of.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:58:58.415185

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device_key", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offset_ms", sa.BigInteger(), nullable=True),
        sa.Column("seq_high", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("user_id", "device_key", name="uq_devices_user_key"),
    )
    op.create_table(
        "device_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("seq_high", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_contacts_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_contacts")),
        sa.UniqueConstraint("device_id", "seq_high", name="uq_device_contacts_seq"),
    )
    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("device_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("device_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("time_basis", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_client_events_device_id"), ["device_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_client_events_device_id_devices"), "devices", ["device_id"], ["id"])

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("places", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_in_received_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_in_basis", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("check_out_received_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_out_basis", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("outcome_device_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome_received_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_visit_tasks_status_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_visit_tasks_assigned_has_crew"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_visit_tasks_status_known"),
            "status IN ('open', 'assigned', 'checked_in', 'done', 'cancelled', 'withdrawn')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_visit_tasks_assigned_has_crew"),
            "status IN ('open', 'cancelled', 'withdrawn') OR crew_id IS NOT NULL",
        )


def downgrade():
    # A withdrawn task was cancelled in the old vocabulary.
    op.execute("UPDATE visit_tasks SET status = 'cancelled' WHERE status = 'withdrawn'")
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_visit_tasks_assigned_has_crew"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_visit_tasks_status_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_visit_tasks_status_known"),
            "status IN ('open', 'assigned', 'checked_in', 'done', 'cancelled')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_visit_tasks_assigned_has_crew"),
            "status = 'open' OR status = 'cancelled' OR crew_id IS NOT NULL",
        )

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("outcome_received_at")
        batch_op.drop_column("outcome_device_at")
        batch_op.drop_column("check_out_basis")
        batch_op.drop_column("check_out_received_at")
        batch_op.drop_column("check_in_basis")
        batch_op.drop_column("check_in_received_at")

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_column("places")

    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_client_events_device_id_devices"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_client_events_device_id"))
        batch_op.drop_column("time_basis")
        batch_op.drop_column("judged_at")
        batch_op.drop_column("device_time")
        batch_op.drop_column("device_seq")
        batch_op.drop_column("device_id")

    op.drop_table("device_contacts")
    op.drop_table("devices")
