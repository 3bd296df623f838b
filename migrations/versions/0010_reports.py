"""Reports: each case's DPD marks (its bucket over time, for roll rates), the teams' weekly
report files, and the indexes the portfolio report's aggregates read by.

Existing cases get one mark each, at their creation, with today's DPD: the history before
this migration is not known, so roll rates start from here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 04:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_dpd_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=20), nullable=False),
    sa.Column('strategy_version', sa.String(length=40), nullable=False),
    sa.CheckConstraint('days_past_due >= 0', name=op.f('ck_case_dpd_marks_dpd_not_negative')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_dpd_marks_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_dpd_marks'))
    )
    op.create_index('ix_case_dpd_marks_case_at', 'case_dpd_marks', ['case_id', 'at', 'id'], unique=False)
    op.create_table('team_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('csv_key', sa.String(length=255), nullable=False),
    sa.Column('html_key', sa.String(length=255), nullable=False),
    sa.Column('csv_sha256', sa.String(length=64), nullable=False),
    sa.Column('html_sha256', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_reports_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_reports')),
    sa.UniqueConstraint('team_id', 'week_start', name='uq_team_reports_team_week')
    )
    # The report's windows: each source table is read by its time within a period.
    op.create_index('ix_contact_attempts_occurred_at', 'contact_attempts', ['occurred_at'], unique=False)
    op.create_index('ix_repayment_agreements_created_at', 'repayment_agreements', ['created_at'], unique=False)
    op.create_index('ix_complaints_received_at', 'complaints', ['received_at'], unique=False)
    op.create_index('ix_ledger_entries_kind_created_at', 'ledger_entries', ['kind', 'created_at'], unique=False)
    op.create_index('ix_ledger_entries_case_created_at', 'ledger_entries', ['case_id', 'created_at'], unique=False)
    # One mark per existing case: its DPD today, from its creation (nothing earlier is known).
    # Buckets as the strategy file defines them today.
    from app.policy.strategy import CURRENT, default_strategy

    strategy = default_strategy()
    whens = " ".join(f"WHEN days_past_due >= {b.min_dpd}" + (f" AND days_past_due <= {b.max_dpd}" if b.max_dpd else "")
                     + f" THEN '{b.id}'" for b in strategy.buckets)
    op.execute(
        "INSERT INTO case_dpd_marks (case_id, at, days_past_due, bucket, strategy_version) "
        f"SELECT id, created_at, days_past_due, CASE {whens} ELSE '{CURRENT}' END, '{strategy.version}' FROM cases")


def downgrade():
    op.drop_index('ix_ledger_entries_case_created_at', table_name='ledger_entries')
    op.drop_index('ix_ledger_entries_kind_created_at', table_name='ledger_entries')
    op.drop_index('ix_complaints_received_at', table_name='complaints')
    op.drop_index('ix_repayment_agreements_created_at', table_name='repayment_agreements')
    op.drop_index('ix_contact_attempts_occurred_at', table_name='contact_attempts')
    op.drop_table('team_reports')
    op.drop_index('ix_case_dpd_marks_case_at', table_name='case_dpd_marks')
    op.drop_table('case_dpd_marks')
