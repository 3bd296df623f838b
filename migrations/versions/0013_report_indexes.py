"""Report indexes: the portfolio report reads each case's balance movements, DPD marks and
visit tasks through indexes alone (covering indexes, no table rows), and a scope's cases
by team.

- cases (team_id, id, created_at, currency, outstanding_minor, credit_minor): a team's cases
  with what the report needs of them;
- ledger_entries (case_id, created_at, delta_minor) replaces (case_id, created_at): a case's
  movements since a moment, summed from the index;
- case_dpd_marks (case_id, at, id, days_past_due) replaces (case_id, at, id): a case's latest
  mark before a moment; and (at, case_id): the cases with a mark inside a period;
- visit_tasks (visit_date, case_id, id, crew_id, status): a period's tasks with their case,
  crew and status;
- ledger_entries (kind, created_at, case_id, currency, amount_minor) replaces (kind, created_at):
  a period's payments; contact_attempts (occurred_at, case_id, channel, purpose, result)
  replaces (occurred_at): a period's attempts.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 05:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_cases_team_book",
        "cases",
        ["team_id", "id", "created_at", "currency", "outstanding_minor", "credit_minor"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_entries_case_created_delta", "ledger_entries", ["case_id", "created_at", "delta_minor"], unique=False
    )
    op.drop_index("ix_ledger_entries_case_created_at", table_name="ledger_entries")
    op.create_index(
        "ix_case_dpd_marks_case_at_dpd", "case_dpd_marks", ["case_id", "at", "id", "days_past_due"], unique=False
    )
    op.drop_index("ix_case_dpd_marks_case_at", table_name="case_dpd_marks")
    op.create_index("ix_case_dpd_marks_at_case", "case_dpd_marks", ["at", "case_id"], unique=False)
    op.create_index(
        "ix_visit_tasks_date_case", "visit_tasks", ["visit_date", "case_id", "id", "crew_id", "status"], unique=False
    )
    op.create_index(
        "ix_ledger_entries_kind_created_cover",
        "ledger_entries",
        ["kind", "created_at", "case_id", "currency", "amount_minor"],
        unique=False,
    )
    op.drop_index("ix_ledger_entries_kind_created_at", table_name="ledger_entries")
    op.create_index(
        "ix_contact_attempts_occurred_cover",
        "contact_attempts",
        ["occurred_at", "case_id", "channel", "purpose", "result"],
        unique=False,
    )
    op.drop_index("ix_contact_attempts_occurred_at", table_name="contact_attempts")


def downgrade():
    op.create_index("ix_contact_attempts_occurred_at", "contact_attempts", ["occurred_at"], unique=False)
    op.drop_index("ix_contact_attempts_occurred_cover", table_name="contact_attempts")
    op.create_index("ix_ledger_entries_kind_created_at", "ledger_entries", ["kind", "created_at"], unique=False)
    op.drop_index("ix_ledger_entries_kind_created_cover", table_name="ledger_entries")
    op.drop_index("ix_visit_tasks_date_case", table_name="visit_tasks")
    op.drop_index("ix_case_dpd_marks_at_case", table_name="case_dpd_marks")
    op.create_index("ix_case_dpd_marks_case_at", "case_dpd_marks", ["case_id", "at", "id"], unique=False)
    op.drop_index("ix_case_dpd_marks_case_at_dpd", table_name="case_dpd_marks")
    op.create_index("ix_ledger_entries_case_created_at", "ledger_entries", ["case_id", "created_at"], unique=False)
    op.drop_index("ix_ledger_entries_case_created_delta", table_name="ledger_entries")
    op.drop_index("ix_cases_team_book", table_name="cases")
