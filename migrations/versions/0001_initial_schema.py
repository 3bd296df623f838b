"""Initial schema: accounts, organisation, collectors, cases, visits, agreements, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 02:05:44.456350

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AUDIT_APPEND_ONLY = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
"""


def upgrade():
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=80), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_actor_user_id"), ["actor_user_id"], unique=False)
        batch_op.create_index("ix_audit_events_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "debtors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("national_id", sa.String(length=40), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f("ck_debtors_lat_range")),
        sa.CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f("ck_debtors_lon_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtors")),
        sa.UniqueConstraint("national_id", name=op.f("uq_debtors_national_id")),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("policy_profile", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("policy_profile", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"], name=op.f("fk_teams_region_id_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("code", name=op.f("uq_teams_code")),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_region_id"), ["region_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sa.String(length=80), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal_minor", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "stage IN ('notice', 'remote_contact', 'field_visit', 'agreement', 'resolved', 'closed')",
            name=op.f("ck_cases_stage_known"),
        ),
        sa.CheckConstraint("days_past_due >= 0", name=op.f("ck_cases_dpd_not_negative")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_cases_currency_code")),
        sa.CheckConstraint("outstanding_minor >= 0", name=op.f("ck_cases_outstanding_not_negative")),
        sa.CheckConstraint("principal_minor >= 0", name=op.f("ck_cases_principal_not_negative")),
        sa.ForeignKeyConstraint(["debtor_id"], ["debtors.id"], name=op.f("fk_cases_debtor_id_debtors")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_cases_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("loan_ref", name=op.f("uq_cases_loan_ref")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_debtor_id"), ["debtor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_team_id"), ["team_id"], unique=False)

    op.create_table(
        "crews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_crews_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crews")),
        sa.UniqueConstraint("code", name=op.f("uq_crews_code")),
    )
    with op.batch_alter_table("crews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crews_team_id"), ["team_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role <> 'supervisor' OR team_id IS NOT NULL OR region_id IS NOT NULL",
            name=op.f("ck_users_supervisor_scoped"),
        ),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'auditor', 'admin')", name=op.f("ck_users_role_known")),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"], name=op.f("fk_users_region_id_regions")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_region_id"), ["region_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_team_id"), ["team_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "client_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client_event_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_client_events_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_events")),
        sa.UniqueConstraint("user_id", "client_event_id", name="uq_client_events_user_event"),
    )
    op.create_table(
        "collectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("home_lat", sa.Double(), nullable=False),
        sa.Column("home_lon", sa.Double(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("shift_start", sa.Time(), nullable=False),
        sa.Column("shift_end", sa.Time(), nullable=False),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.Column("background_cleared", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("daily_capacity > 0 AND daily_capacity <= 100", name=op.f("ck_collectors_capacity_range")),
        sa.CheckConstraint(
            "home_lat IS NULL OR (home_lat >= -90 AND home_lat <= 90)", name=op.f("ck_collectors_home_lat_range")
        ),
        sa.CheckConstraint(
            "home_lon IS NULL OR (home_lon >= -180 AND home_lon <= 180)", name=op.f("ck_collectors_home_lon_range")
        ),
        sa.CheckConstraint("shift_start < shift_end", name=op.f("ck_collectors_shift_order")),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name=op.f("fk_collectors_crew_id_crews")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_collectors_team_id_teams")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_collectors_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collectors")),
        sa.UniqueConstraint("code", name=op.f("uq_collectors_code")),
        sa.UniqueConstraint("user_id", name=op.f("uq_collectors_user_id")),
    )
    with op.batch_alter_table("collectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collectors_crew_id"), ["crew_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_collectors_team_id"), ["team_id"], unique=False)

    op.create_table(
        "contact_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_visit_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('call', 'sms', 'letter', 'email', 'app_message', 'in_person')",
            name=op.f("ck_contact_attempts_channel_known"),
        ),
        sa.CheckConstraint(
            "purpose IN ('contact', 'overdue_notice', 'validation_notice', 'visit_notice')",
            name=op.f("ck_contact_attempts_purpose_known"),
        ),
        sa.CheckConstraint(
            "result IN ('reached', 'no_answer', 'voicemail', 'wrong_number', 'refused', 'delivered', 'failed')",
            name=op.f("ck_contact_attempts_result_known"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_contact_attempts_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_contact_attempts_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
    )
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_attempts_case_id"), ["case_id"], unique=False)

    op.create_table(
        "dispatch_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_date", sa.Date(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("policy_profile", sa.String(length=60), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'committed', 'superseded', 'discarded')", name=op.f("ck_dispatch_plans_status_known")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_dispatch_plans_created_by_id_users")),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"], name=op.f("fk_dispatch_plans_region_id_regions")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_dispatch_plans_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_plans")),
    )
    with op.batch_alter_table("dispatch_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_plans_plan_date"), ["plan_date"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_payments_currency_code")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_payments_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_case_id"), ["case_id"], unique=False)

    op.create_table(
        "training_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=False),
        sa.Column("module", sa.String(length=60), nullable=False),
        sa.Column("passed_at", sa.Date(), nullable=False),
        sa.Column("expires_at", sa.Date(), nullable=False),
        sa.Column("certificate_ref", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("expires_at > passed_at", name=op.f("ck_training_records_expiry_after_pass")),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["collectors.id"], name=op.f("fk_training_records_collector_id_collectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_records")),
    )
    with op.batch_alter_table("training_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_records_collector_id"), ["collector_id"], unique=False)

    op.create_table(
        "visit_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status = 'open' OR status = 'cancelled' OR crew_id IS NOT NULL",
            name=op.f("ck_visit_tasks_assigned_has_crew"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'checked_in', 'done', 'cancelled')",
            name=op.f("ck_visit_tasks_status_known"),
        ),
        sa.CheckConstraint("priority >= 0 AND priority <= 100", name=op.f("ck_visit_tasks_priority_range")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_visit_tasks_case_id_cases")),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name=op.f("fk_visit_tasks_crew_id_crews")),
        sa.ForeignKeyConstraint(["plan_id"], ["dispatch_plans.id"], name=op.f("fk_visit_tasks_plan_id_dispatch_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_tasks")),
        sa.UniqueConstraint("case_id", "visit_date", name="uq_visit_tasks_case_date"),
    )
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_tasks_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_tasks_crew_id"), ["crew_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visit_tasks_visit_date"), ["visit_date"], unique=False)

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=False),
        sa.Column("check_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("check_in_device_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_lat", sa.Double(), nullable=False),
        sa.Column("check_in_lon", sa.Double(), nullable=False),
        sa.Column("check_in_accuracy_m", sa.Double(), nullable=True),
        sa.Column("check_in_distance_m", sa.Double(), nullable=True),
        sa.Column("check_in_mock", sa.Boolean(), nullable=False),
        sa.Column("check_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_device_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_lat", sa.Double(), nullable=True),
        sa.Column("check_out_lon", sa.Double(), nullable=True),
        sa.Column("check_out_accuracy_m", sa.Double(), nullable=True),
        sa.Column("check_out_distance_m", sa.Double(), nullable=True),
        sa.Column("check_out_mock", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("person_met", sa.String(length=40), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "check_in_accuracy_m IS NULL OR check_in_accuracy_m >= 0", name=op.f("ck_visits_accuracy_positive")
        ),
        sa.CheckConstraint(
            "check_in_lat IS NULL OR (check_in_lat >= -90 AND check_in_lat <= 90)",
            name=op.f("ck_visits_check_in_lat_range"),
        ),
        sa.CheckConstraint(
            "check_in_lon IS NULL OR (check_in_lon >= -180 AND check_in_lon <= 180)",
            name=op.f("ck_visits_check_in_lon_range"),
        ),
        sa.CheckConstraint(
            "check_out_lat IS NULL OR (check_out_lat >= -90 AND check_out_lat <= 90)",
            name=op.f("ck_visits_check_out_lat_range"),
        ),
        sa.CheckConstraint(
            "check_out_lon IS NULL OR (check_out_lon >= -180 AND check_out_lon <= 180)",
            name=op.f("ck_visits_check_out_lon_range"),
        ),
        sa.ForeignKeyConstraint(["collector_id"], ["collectors.id"], name=op.f("fk_visits_collector_id_collectors")),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name=op.f("fk_visits_crew_id_crews")),
        sa.ForeignKeyConstraint(["task_id"], ["visit_tasks.id"], name=op.f("fk_visits_task_id_visit_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("task_id", name=op.f("uq_visits_task_id")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visits_check_in_at"), ["check_in_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_collector_id"), ["collector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_crew_id"), ["crew_id"], unique=False)

    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution_notes", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'under_review', 'substantiated', 'unsubstantiated', 'withdrawn')",
            name=op.f("ck_complaints_status_known"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_complaints_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["collectors.id"], name=op.f("fk_complaints_collector_id_collectors")
        ),
        sa.ForeignKeyConstraint(["debtor_id"], ["debtors.id"], name=op.f("fk_complaints_debtor_id_debtors")),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["users.id"], name=op.f("fk_complaints_resolved_by_id_users")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_complaints_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaints_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_collector_id"), ["collector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_debtor_id"), ["debtor_id"], unique=False)

    op.create_table(
        "conduct_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=60), nullable=False),
        sa.Column("profile_version", sa.String(length=60), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'reviewed', 'resolved', 'dismissed')", name=op.f("ck_conduct_flags_status_known")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_conduct_flags_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["collectors.id"], name=op.f("fk_conduct_flags_collector_id_collectors")
        ),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name=op.f("fk_conduct_flags_crew_id_crews")),
        sa.ForeignKeyConstraint(["reviewed_by_id"], ["users.id"], name=op.f("fk_conduct_flags_reviewed_by_id_users")),
        sa.ForeignKeyConstraint(["task_id"], ["visit_tasks.id"], name=op.f("fk_conduct_flags_task_id_visit_tasks")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_conduct_flags_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conduct_flags")),
    )
    with op.batch_alter_table("conduct_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conduct_flags_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conduct_flags_collector_id"), ["collector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conduct_flags_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_conduct_flags_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_conduct_flags_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_recordings_size_positive")),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name=op.f("fk_recordings_uploaded_by_id_users")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_recordings_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_recordings_storage_key")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "repayment_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("waiver_minor", sa.BigInteger(), nullable=False),
        sa.Column("acknowledgement_kind", sa.String(length=20), nullable=True),
        sa.Column("acknowledgement_ref", sa.String(length=128), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('promise', 'instalment')", name=op.f("ck_repayment_agreements_kind_known")),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'active', 'kept', 'broken', 'cancelled')",
            name=op.f("ck_repayment_agreements_status_known"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_repayment_agreements_currency_code")),
        sa.CheckConstraint("total_minor > 0", name=op.f("ck_repayment_agreements_total_positive")),
        sa.CheckConstraint("waiver_minor >= 0", name=op.f("ck_repayment_agreements_waiver_not_negative")),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_repayment_agreements_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_repayment_agreements_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_repayment_agreements_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_repayment_agreements_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayment_agreements")),
    )
    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repayment_agreements_case_id"), ["case_id"], unique=False)

    op.create_table(
        "instalments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.CheckConstraint("status IN ('open', 'paid', 'late', 'missed')", name=op.f("ck_instalments_status_known")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_instalments_amount_positive")),
        sa.CheckConstraint("paid_minor >= 0 AND paid_minor <= amount_minor", name=op.f("ck_instalments_paid_range")),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["repayment_agreements.id"], name=op.f("fk_instalments_agreement_id_repayment_agreements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalments")),
        sa.UniqueConstraint("agreement_id", "seq", name="uq_instalments_agreement_seq"),
    )
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instalments_agreement_id"), ["agreement_id"], unique=False)

    op.create_table(
        "payment_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("instalment_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payment_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["instalment_id"], ["instalments.id"], name=op.f("fk_payment_allocations_instalment_id_instalments")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_allocations_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_allocations")),
    )
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_allocations_instalment_id"), ["instalment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_allocations_payment_id"), ["payment_id"], unique=False)

    op.execute("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")
    if op.get_bind().dialect.name == "postgresql":
        # The audit log is append-only: the database itself refuses UPDATE and DELETE.
        op.execute(AUDIT_APPEND_ONLY)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_refuse_change()")
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_allocations_payment_id"))
        batch_op.drop_index(batch_op.f("ix_payment_allocations_instalment_id"))

    op.drop_table("payment_allocations")
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instalments_agreement_id"))

    op.drop_table("instalments")
    with op.batch_alter_table("repayment_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayment_agreements_case_id"))

    op.drop_table("repayment_agreements")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_visit_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_sha256"))

    op.drop_table("recordings")
    with op.batch_alter_table("conduct_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conduct_flags_visit_id"))
        batch_op.drop_index(batch_op.f("ix_conduct_flags_raised_at"))
        batch_op.drop_index(batch_op.f("ix_conduct_flags_kind"))
        batch_op.drop_index(batch_op.f("ix_conduct_flags_collector_id"))
        batch_op.drop_index(batch_op.f("ix_conduct_flags_case_id"))

    op.drop_table("conduct_flags")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaints_debtor_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_collector_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_case_id"))

    op.drop_table("complaints")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_crew_id"))
        batch_op.drop_index(batch_op.f("ix_visits_collector_id"))
        batch_op.drop_index(batch_op.f("ix_visits_check_in_at"))

    op.drop_table("visits")
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_tasks_visit_date"))
        batch_op.drop_index(batch_op.f("ix_visit_tasks_crew_id"))
        batch_op.drop_index(batch_op.f("ix_visit_tasks_case_id"))

    op.drop_table("visit_tasks")
    with op.batch_alter_table("training_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_records_collector_id"))

    op.drop_table("training_records")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_case_id"))

    op.drop_table("payments")
    with op.batch_alter_table("dispatch_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispatch_plans_plan_date"))

    op.drop_table("dispatch_plans")
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_attempts_case_id"))

    op.drop_table("contact_attempts")
    with op.batch_alter_table("collectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collectors_team_id"))
        batch_op.drop_index(batch_op.f("ix_collectors_crew_id"))

    op.drop_table("collectors")
    op.drop_table("client_events")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_team_id"))
        batch_op.drop_index(batch_op.f("ix_users_region_id"))

    op.drop_table("users")
    with op.batch_alter_table("crews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crews_team_id"))

    op.drop_table("crews")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_team_id"))
        batch_op.drop_index(batch_op.f("ix_cases_stage"))
        batch_op.drop_index(batch_op.f("ix_cases_debtor_id"))

    op.drop_table("cases")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_region_id"))

    op.drop_table("teams")
    op.drop_table("regions")
    op.drop_table("debtors")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_occurred_at"))
        batch_op.drop_index("ix_audit_events_entity")
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_user_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
    op.drop_table("audit_chain_head")
