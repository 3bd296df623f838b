"""Geocoding: address-only debtors (lat/lon optional, with where the point came from and why
it is missing), the geocoder's answers cached by normalised address, and a job's progress.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:38:59.503409

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "geocode_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("query_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("precision", sa.String(length=40), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("raw_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'ambiguous', 'too_coarse', 'not_found')", name=op.f("ck_geocode_results_status_known")
        ),
        sa.CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f("ck_geocode_results_lat_range")),
        sa.CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f("ck_geocode_results_lon_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geocode_results")),
        sa.UniqueConstraint("provider", "query_sha256", name="uq_geocode_results_query"),
    )
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("location_status", sa.String(length=20), server_default="located", nullable=False)
        )
        batch_op.add_column(sa.Column("location_source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("location_note", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("geocode_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("geocode_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("lat", existing_type=sa.Double(), nullable=True)
        batch_op.alter_column("lon", existing_type=sa.Double(), nullable=True)
        batch_op.create_index(batch_op.f("ix_debtors_location_status"), ["location_status"], unique=False)
        batch_op.create_check_constraint("lat_lon_together", "(lat IS NULL) = (lon IS NULL)")
        batch_op.create_check_constraint(
            "location_status_known", "location_status IN ('located', 'pending', 'needs_pin')"
        )

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("progress")

    with op.batch_alter_table("debtors", schema=None) as batch_op:
        # Refused while a debtor has no point: place or remove them first.
        batch_op.drop_constraint(batch_op.f("ck_debtors_location_status_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_debtors_lat_lon_together"), type_="check")
        batch_op.drop_index(batch_op.f("ix_debtors_location_status"))
        batch_op.alter_column("lon", existing_type=sa.Double(), nullable=False)
        batch_op.alter_column("lat", existing_type=sa.Double(), nullable=False)
        batch_op.drop_column("geocode_next_at")
        batch_op.drop_column("geocode_attempts")
        batch_op.drop_column("location_note")
        batch_op.drop_column("location_source")
        batch_op.drop_column("location_status")

    op.drop_table("geocode_results")
