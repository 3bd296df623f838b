"""The data model. Integrity is kept by the database as well as the code:
foreign keys, unique and check constraints are declared here and created by the
migrations on SQLite and PostgreSQL alike.

Money is stored as integer minor units (fen, cents) beside an ISO 4217 currency
code; times are stored in UTC; coordinates are WGS84 degrees.
"""

from datetime import UTC, date, datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app import clock
from app.crypto import Encrypted, blind_index
from app.extensions import db

ROLES = ("agent", "supervisor", "auditor", "admin")
STAGES = ("notice", "remote_contact", "field_visit", "agreement", "resolved", "closed")
# Who set a case's priority: the strategy's score (the nightly job keeps it current), or
# an override the job leaves alone (the importer's column, a supervisor's PATCH).
PRIORITY_SOURCES = ("strategy", "import", "manual")
# withdrawn: a task the rules no longer allow (a change made it unlawful, or its day passed
# unstarted); its reason names the rule. The case goes back to the planner's pool.
TASK_STATUSES = ("open", "assigned", "checked_in", "done", "cancelled", "withdrawn")
CONTACT_CHANNELS = ("call", "sms", "letter", "email", "app_message", "in_person")
CONTACT_PURPOSES = ("contact", "overdue_notice", "validation_notice", "visit_notice")
CONTACT_RESULTS = ("reached", "no_answer", "voicemail", "wrong_number", "refused", "delivered", "failed")
DEBTOR_FLAGS = (
    "dispute",
    "dispute_verified",
    "cease",
    "vulnerable",
    "deceased",
    "capacity_concern",
    "attorney",
    "breathing_space",
    "workplace_prohibited",
    "out_of_hours_consent",
    "place_consent",
    "litigation",  # a legal hold: nothing of the debtor is anonymised while it is set
)
PLACE_KINDS = ("workplace", "hospital", "public")
# How a field action's time was judged: the server's receive time (online), or the
# phone's time corrected by its measured clock offset, kept inside what the server can
# prove (offline), possibly moved to that bound ("device_bounded").
TIME_BASES = ("server", "device_corrected", "device_bounded")
AGREEMENT_KINDS = ("promise", "instalment")
# rejected / countered: a waiver a supervisor refused, or answered with another waiver for
# the agent to take back to the debtor (a new agreement is then recorded).
AGREEMENT_STATUSES = ("pending_approval", "active", "kept", "broken", "cancelled", "rejected", "countered")
# Movements of a case's balance (app.services.ledger). allocation and credit rows are
# memos: they say where a payment went and change no balance.
LEDGER_KINDS = ("principal", "payment", "allocation", "waiver", "credit", "refund", "adjustment")
INSTALMENT_STATUSES = ("open", "paid", "late", "missed")
COMPLAINT_STATUSES = ("open", "under_review", "substantiated", "unsubstantiated", "withdrawn")
FLAG_STATUSES = ("open", "reviewed", "resolved", "dismissed")
# Where a debtor's point is: located (lat/lon known), pending (an address waits for the
# geocoder), needs_pin (the geocoder's answer was not usable: a supervisor places the pin).
LOCATION_STATUSES = ("located", "pending", "needs_pin")
LOCATION_SOURCES = ("given", "geocoded", "pin")
GEOCODE_STATUSES = ("ok", "ambiguous", "too_coarse", "not_found")


def utcnow():
    return clock.now()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones, so the value is stored as naive UTC there and made
    aware again on the way out; naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column, values):
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _lat_lon_checks(prefix=""):
    lat, lon = f"{prefix}lat", f"{prefix}lon"
    return (
        CheckConstraint(f"{lat} IS NULL OR ({lat} >= -90 AND {lat} <= 90)", name=f"{lat}_range"),
        CheckConstraint(f"{lon} IS NULL OR ({lon} >= -180 AND {lon} <= 180)", name=f"{lon}_range"),
    )


class Region(db.Model):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # A region may run under another policy profile than the service default.
    policy_profile: Mapped[str | None] = mapped_column(String(40))


class Team(db.Model):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    policy_profile: Mapped[str | None] = mapped_column(String(40))

    region: Mapped[Region] = relationship()


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role_known"),
        # A supervisor is scoped to a team or a whole region; nobody else is scoped here.
        CheckConstraint(
            "role <> 'supervisor' OR team_id IS NOT NULL OR region_id IS NOT NULL",
            name="supervisor_scoped",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship()
    region: Mapped[Region | None] = relationship()
    collector: Mapped["Collector | None"] = relationship(back_populates="user", uselist=False)


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Crew(db.Model):
    """Collectors who visit together; the unit that dispatch assigns tasks to."""

    __tablename__ = "crews"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    team: Mapped[Team] = relationship()
    members: Mapped[list["Collector"]] = relationship(back_populates="crew", order_by="Collector.id")


class Collector(db.Model):
    __tablename__ = "collectors"
    __table_args__ = (
        *_lat_lon_checks("home_"),
        CheckConstraint("daily_capacity > 0 AND daily_capacity <= 100", name="capacity_range"),
        CheckConstraint("shift_start < shift_end", name="shift_order"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    home_lat: Mapped[float] = mapped_column()
    home_lon: Mapped[float] = mapped_column()
    languages: Mapped[list] = mapped_column(JSON, default=list)
    shift_start: Mapped[time] = mapped_column(Time)
    shift_end: Mapped[time] = mapped_column(Time)
    daily_capacity: Mapped[int] = mapped_column(Integer, default=10)
    # NIFA 2024: no disqualifying background. Cleared by the employer's vetting.
    background_cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship()
    crew: Mapped[Crew | None] = relationship(back_populates="members")
    user: Mapped[User | None] = relationship(back_populates="collector")
    trainings: Mapped[list["TrainingRecord"]] = relationship(
        back_populates="collector", order_by="TrainingRecord.passed_at"
    )


class TrainingRecord(db.Model):
    __tablename__ = "training_records"
    __table_args__ = (CheckConstraint("expires_at > passed_at", name="expiry_after_pass"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), index=True)
    module: Mapped[str] = mapped_column(String(60))
    passed_at: Mapped[date] = mapped_column(Date)
    expires_at: Mapped[date] = mapped_column(Date)
    certificate_ref: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    collector: Mapped[Collector] = relationship(back_populates="trainings")


class Debtor(db.Model):
    __tablename__ = "debtors"
    __table_args__ = (
        *_lat_lon_checks(),
        CheckConstraint("(lat IS NULL) = (lon IS NULL)", name="lat_lon_together"),
        CheckConstraint(_in("location_status", LOCATION_STATUSES), name="location_status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Personal data: encrypted at rest (app/crypto.py), returned whole only to roles that
    # need it. The national id is found by its blind index, which is unique.
    phone: Mapped[str | None] = mapped_column(Encrypted("debtors.phone"))
    national_id: Mapped[str | None] = mapped_column(Encrypted("debtors.national_id"))
    national_id_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(Text)
    # None while only the address is known: the case waits for the geocoder or a pin.
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    location_status: Mapped[str] = mapped_column(String(20), default="located", server_default="located", index=True)
    location_source: Mapped[str | None] = mapped_column(String(20))
    # Why the point is missing (a reason code of app.services.geocoding.NOTES), and the
    # geocoder's tries: a failed call is tried again after a growing pause.
    location_note: Mapped[str | None] = mapped_column(String(40))
    geocode_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    geocode_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    # Stated availability: [{"days": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"}].
    availability: Mapped[list] = mapped_column(JSON, default=list)
    # Flags that bear on the conduct policy, e.g. {"dispute": true, "cease": false}.
    flags: Mapped[dict] = mapped_column(JSON, default=dict)
    # Other places the case knows of, where the profile may forbid visits:
    # [{"kind": "workplace"|"hospital"|"public", "address": "...", "lat": .., "lon": ..}].
    places: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set when retention removed the debtor's personal data (app/services/retention.py).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cases: Mapped[list["Case"]] = relationship(back_populates="debtor")

    @validates("national_id")
    def _index_national_id(self, key, value):
        self.national_id_index = blind_index(value)
        return value

    def flag(self, name):
        return bool((self.flags or {}).get(name))


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="stage_known"),
        CheckConstraint("principal_minor >= 0", name="principal_not_negative"),
        CheckConstraint("outstanding_minor >= 0", name="outstanding_not_negative"),
        CheckConstraint("credit_minor >= 0", name="credit_not_negative"),
        CheckConstraint("days_past_due >= 0", name="dpd_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint("priority >= 0 AND priority <= 100", name="priority_range"),
        CheckConstraint(_in("priority_source", PRIORITY_SOURCES), name="priority_source_known"),
        # The portfolio report: a team's cases with what it reads of them, from the index alone.
        Index("ix_cases_team_book", "team_id", "id", "created_at", "currency", "outstanding_minor", "credit_minor"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(80), unique=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    product: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    # Paid beyond the balance, held for a refund decision (the ledger's credit rows).
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    days_past_due: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(20), default="notice", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    priority_source: Mapped[str] = mapped_column(String(20), default="strategy", server_default="strategy")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    debtor: Mapped[Debtor] = relationship(back_populates="cases")
    team: Mapped[Team] = relationship()
    contact_attempts: Mapped[list["ContactAttempt"]] = relationship(
        back_populates="case", order_by="ContactAttempt.occurred_at"
    )


class ContactAttempt(db.Model):
    __tablename__ = "contact_attempts"
    __table_args__ = (
        CheckConstraint(_in("channel", CONTACT_CHANNELS), name="channel_known"),
        CheckConstraint(_in("purpose", CONTACT_PURPOSES), name="purpose_known"),
        CheckConstraint(_in("result", CONTACT_RESULTS), name="result_known"),
        # Attempts by time; with what the portfolio report reads of them, from the index alone.
        Index("ix_contact_attempts_occurred_cover", "occurred_at", "case_id", "channel", "purpose", "result"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(30), default="contact")
    result: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # For a visit notice (CONC 7.9.12 R): the date announced to the debtor.
    planned_visit_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="contact_attempts")


class DispatchPlan(db.Model):
    """A day's plan for a team or region: a draft a supervisor previews, then commits."""

    __tablename__ = "dispatch_plans"
    __table_args__ = (
        CheckConstraint(_in("status", ("draft", "committed", "superseded", "discarded")), name="status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_date: Mapped[date] = mapped_column(Date, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    policy_profile: Mapped[str] = mapped_column(String(60))
    # The engine's plan as JSON, and the reasons for each task.
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team | None] = relationship()
    region: Mapped[Region | None] = relationship()


class VisitTask(db.Model):
    """A home visit to make on a given day; assigned to a crew by a plan or by hand."""

    __tablename__ = "visit_tasks"
    __table_args__ = (
        CheckConstraint(_in("status", TASK_STATUSES), name="status_known"),
        CheckConstraint(
            "status IN ('open', 'cancelled', 'withdrawn') OR crew_id IS NOT NULL", name="assigned_has_crew"
        ),
        CheckConstraint("priority >= 0 AND priority <= 100", name="priority_range"),
        UniqueConstraint("case_id", "visit_date", name="uq_visit_tasks_case_date"),
        # The portfolio report: a period's tasks with their case, crew and status, from the index alone.
        Index("ix_visit_tasks_date_case", "visit_date", "case_id", "id", "crew_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visit_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_plans.id"))
    sequence: Mapped[int | None] = mapped_column(Integer)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Why the task went to its crew, or why it is unassigned: rule ids and words.
    reason: Mapped[dict] = mapped_column(JSON, default=dict)
    # Every crew the task was ever given to, so a stale phone's event is a conflict, not a 404.
    crew_history: Mapped[list] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case: Mapped[Case] = relationship()
    crew: Mapped[Crew | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Recording(db.Model):
    __tablename__ = "recordings"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size_positive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20), default="audio")
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when retention deleted the file from storage; the row (hash, size, length) stays.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Visit(db.Model):
    """What happened at the door: check-in, check-out, outcome."""

    __tablename__ = "visits"
    __table_args__ = (
        *_lat_lon_checks("check_in_"),
        *_lat_lon_checks("check_out_"),
        CheckConstraint("check_in_accuracy_m IS NULL OR check_in_accuracy_m >= 0", name="accuracy_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("visit_tasks.id"), unique=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), index=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), index=True)
    # The time every rule was judged on; beside it the phone's clock and the server's receive time.
    check_in_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    check_in_device_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_in_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_in_basis: Mapped[str | None] = mapped_column(String(20))
    check_in_lat: Mapped[float] = mapped_column()
    check_in_lon: Mapped[float] = mapped_column()
    check_in_accuracy_m: Mapped[float | None] = mapped_column()
    check_in_distance_m: Mapped[float | None] = mapped_column()
    check_in_mock: Mapped[bool] = mapped_column(Boolean, default=False)
    check_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_out_device_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_out_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_out_basis: Mapped[str | None] = mapped_column(String(20))
    check_out_lat: Mapped[float | None] = mapped_column()
    check_out_lon: Mapped[float | None] = mapped_column()
    check_out_accuracy_m: Mapped[float | None] = mapped_column()
    check_out_distance_m: Mapped[float | None] = mapped_column()
    check_out_mock: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(40))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_device_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    person_met: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task: Mapped[VisitTask] = relationship()
    crew: Mapped[Crew] = relationship()
    collector: Mapped[Collector] = relationship()
    recordings: Mapped[list[Recording]] = relationship(foreign_keys=[Recording.visit_id])


class RepaymentAgreement(db.Model):
    __tablename__ = "repayment_agreements"
    __table_args__ = (
        CheckConstraint(_in("kind", AGREEMENT_KINDS), name="kind_known"),
        CheckConstraint(_in("status", AGREEMENT_STATUSES), name="status_known"),
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint("waiver_minor >= 0", name="waiver_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    waiver_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the debtor owed when the agreement was made; the waiver is judged against it.
    owed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    frequency: Mapped[str | None] = mapped_column(String(20))
    acknowledgement_kind: Mapped[str | None] = mapped_column(String(20))
    acknowledgement_ref: Mapped[str | None] = mapped_column(String(128))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A waiver decision: who decided, why, and a counter-offer's waiver.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    counter_waiver_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    instalments: Mapped[list["Instalment"]] = relationship(back_populates="agreement", order_by="Instalment.seq")
    case: Mapped[Case] = relationship()


class Instalment(db.Model):
    __tablename__ = "instalments"
    __table_args__ = (
        UniqueConstraint("agreement_id", "seq", name="uq_instalments_agreement_seq"),
        CheckConstraint(_in("status", INSTALMENT_STATUSES), name="status_known"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("paid_minor >= 0 AND paid_minor <= amount_minor", name="paid_range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("repayment_agreements.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")

    agreement: Mapped[RepaymentAgreement] = relationship(back_populates="instalments")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentAllocation(db.Model):
    __tablename__ = "payment_allocations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("payment_id", "instalment_id", name="uq_payment_allocations_payment_instalment"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    instalment_id: Mapped[int] = mapped_column(ForeignKey("instalments.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class LedgerEntry(db.Model):
    """One movement of a case's balance, in integer minor units, with its source.

    ``delta_minor`` is its effect on the balance (0 for a memo row); ``balance_minor`` the
    balance after it (negative: a credit held for the debtor). The rows of a case, in id
    order, add up to its ``outstanding_minor - credit_minor``.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "delta_minor = 0 OR delta_minor = amount_minor OR delta_minor = -amount_minor", name="delta_is_the_amount"
        ),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        # The portfolio report: a period's payments, and each case's movements since a moment.
        Index("ix_ledger_entries_kind_created_cover", "kind", "created_at", "case_id", "currency", "amount_minor"),
        Index("ix_ledger_entries_case_created_delta", "case_id", "created_at", "delta_minor"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    delta_minor: Mapped[int] = mapped_column(BigInteger)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(80))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("repayment_agreements.id"), index=True)
    instalment_id: Mapped[int | None] = mapped_column(ForeignKey("instalments.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UnmatchedPayment(db.Model):
    """A payment from the servicing system whose loan reference names no case: kept, so the
    day's reconciliation lists it and a second file with the same reference is not new."""

    __tablename__ = "unmatched_payments"
    __table_args__ = (CheckConstraint("length(currency) = 3", name="currency_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    loan_ref: Mapped[str] = mapped_column(String(80))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Complaint(db.Model):
    __tablename__ = "complaints"
    __table_args__ = (CheckConstraint(_in("status", COMPLAINT_STATUSES), name="status_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int | None] = mapped_column(ForeignKey("debtors.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    channel: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_notes: Mapped[str | None] = mapped_column(Text)


class ConductFlag(db.Model):
    __tablename__ = "conduct_flags"
    __table_args__ = (CheckConstraint(_in("status", FLAG_STATUSES), name="status_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    profile_version: Mapped[str] = mapped_column(String(60))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collectors.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("visit_tasks.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_notes: Mapped[str | None] = mapped_column(Text)

    collector: Mapped[Collector | None] = relationship()
    case: Mapped["Case | None"] = relationship()


class ClientEvent(db.Model):
    """A field action keyed by the phone's ``client_event_id``, so a resend is answered, not redone."""

    __tablename__ = "client_events"
    __table_args__ = (UniqueConstraint("user_id", "client_event_id", name="uq_client_events_user_event"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_event_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int | None] = mapped_column(Integer)
    # What the phone sent, kept even when the event was refused or in conflict.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    response: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The phone that sent it, its place in that phone's outbox, its clock, and the time judged.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    device_seq: Mapped[int | None] = mapped_column(BigInteger)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_basis: Mapped[str | None] = mapped_column(String(20))
    # SHA-256 of the content (canonical JSON, id and outbox number aside): a resend with
    # another is a conflict; the other contents seen under this id, each flagged once.
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    mismatches: Mapped[list] = mapped_column(JSON, default=list)
    # Where its number stood in the phone's sequence (in_order, gap, late, unnumbered).
    sequence_note: Mapped[dict | None] = mapped_column(JSON)
    # An element the server could not read as an action, as sent (canonical JSON text).
    raw: Mapped[str | None] = mapped_column(Text)


class Device(db.Model):
    """A phone, as it names itself (``X-Device-Id``) for one account, and what the server
    measured of it at its latest contact: its clock's offset and its outbox's high-water mark."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "device_key", name="uq_devices_user_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device_key: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The server's time of the latest request, the phone's clock in it, and their difference.
    last_contact_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offset_ms: Mapped[int | None] = mapped_column(BigInteger)
    # The highest outbox sequence number the phone had handed out at that contact.
    seq_high: Mapped[int] = mapped_column(BigInteger, default=0)
    # The highest outbox number among the actions and recordings received from it.
    seq_seen: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceContact(db.Model):
    """The last time the server heard from a phone while its outbox's high-water mark was
    ``seq_high``: an event numbered above it was queued after ``at``, and is never judged
    earlier."""

    __tablename__ = "device_contacts"
    __table_args__ = (UniqueConstraint("device_id", "seq_high", name="uq_device_contacts_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    seq_high: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(db.Model):
    """One link of the tamper-evident log. Written only by ``app.audit``; never updated."""

    __tablename__ = "audit_events"
    # Auditors page in chain order: each filter has an index that ends in seq, so a page
    # is one walk down an index. Stamps never decrease along the chain, so a time range
    # becomes a seq range through (occurred_at, seq).
    __table_args__ = (
        Index("ix_audit_events_entity_seq", "entity_type", "entity_id", "seq"),
        Index("ix_audit_events_actor_seq", "actor_user_id", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_occurred_at_seq", "occurred_at", "seq"),
        # A partitioned log is checked chain by chain, and a chain's daily head found by time.
        Index("ix_audit_events_chain_seq", "chain", "seq"),
        Index("ix_audit_events_chain_occurred_at", "chain", "occurred_at"),
    )
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # When the event was appended to the chain: never earlier than the event before it.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(80))
    # Canonical JSON text (sorted keys) of before/after values, personal data masked.
    changes: Mapped[str] = mapped_column(Text, default="{}")
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Which chain of a partitioned log (``AUDIT_CHAINS``) the event links into; 1 for a log
    # of one chain. Not hashed: an event moved to another chain breaks the links of both.
    chain: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")


class AuditPersonalValue(db.Model):
    """The personal values of one audit event, kept beside the chain.

    The event's hashed ``changes`` hold, in place of each personal value, a commitment:
    SHA-256 of a random salt and the value (``auditchain.commitment``). The salts and
    values live here, so anonymising deletes this row and the chain still verifies.
    Rows are deleted (erasure), never updated.
    """

    __tablename__ = "audit_personal_values"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    # {"/after/phone": ["<salt hex>", <value>], ...}: JSON pointers into ``changes``.
    values: Mapped[str] = mapped_column(Text)


class AuditEventSubject(db.Model):
    """Which debtors an audit event is about (its personal values, a read of their data):
    how erasure finds their values and a subject access request finds who read them."""

    __tablename__ = "audit_event_subjects"
    debtor_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )


class AuditChainHead(db.Model):
    """The last link of each chain (``id`` is the chain: 1 for a log of one chain, up to
    ``AUDIT_CHAINS``); a writer locks its chain's row to append in order."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id BETWEEN 1 AND 64", name="chain_number"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


JOB_STATUSES = ("queued", "running", "finished", "failed", "retrying")


class Job(db.Model):
    """Background work (nightly planning, agreement evaluation, exports) and how it went."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_in("status", JOB_STATUSES), name="status_known"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    runner: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # How far a long job has come, written as it goes: {"done": n, "total": m, ...}.
    progress: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GeocodeResult(db.Model):
    """A geocoder's answer for one normalised address, kept so no address is asked twice.

    The address itself is not kept here (only the SHA-256 of its normalised text), so
    anonymising a debtor leaves no copy of their address behind in the cache."""

    __tablename__ = "geocode_results"
    __table_args__ = (
        UniqueConstraint("provider", "query_sha256", name="uq_geocode_results_query"),
        CheckConstraint(_in("status", GEOCODE_STATUSES), name="status_known"),
        *_lat_lon_checks(),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    query_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    # The provider's own measure (Nominatim: place_rank and importance; Baidu: confidence).
    precision: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column()
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------- reports


class CaseDpdMark(db.Model):
    """A case's days past due from a moment on: written when a case arrives and whenever
    its DPD moves into another bucket of the collection strategy (``note_dpd_changes``).

    ``cases.days_past_due`` is only today's value; reports need each case's bucket at the
    start and the end of a period (roll rates), which is the latest mark before that moment.
    A mark per bucket change, not per day, keeps the table near one row per case.
    """

    __tablename__ = "case_dpd_marks"
    __table_args__ = (
        CheckConstraint("days_past_due >= 0", name="dpd_not_negative"),
        # A case's latest mark before a moment, read from the index alone; a period's marks.
        Index("ix_case_dpd_marks_case_at_dpd", "case_id", "at", "id", "days_past_due"),
        Index("ix_case_dpd_marks_at_case", "at", "case_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(20))
    strategy_version: Mapped[str] = mapped_column(String(40))

    case: Mapped[Case] = relationship()


class TeamReport(db.Model):
    """A team's weekly report as produced by the ``weekly_reports`` job: its CSV and its
    printable page in storage."""

    __tablename__ = "team_reports"
    __table_args__ = (UniqueConstraint("team_id", "week_start", name="uq_team_reports_team_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    week_start: Mapped[date] = mapped_column(Date)
    csv_key: Mapped[str] = mapped_column(String(255))
    html_key: Mapped[str] = mapped_column(String(255))
    csv_sha256: Mapped[str] = mapped_column(String(64))
    html_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship()

    @property
    def week_end(self):
        from datetime import timedelta

        return self.week_start + timedelta(days=6)


def dpd_mark_rows(changes, at):
    """Rows of ``case_dpd_marks`` for writers that bypass the ORM (the importer's bulk
    statements): ``changes`` are (case id, DPD before or None for a new case, DPD now)."""
    from app.policy.strategy import default_strategy

    strategy = default_strategy()
    return [
        {
            "case_id": case_id,
            "at": at,
            "days_past_due": now,
            "bucket": strategy.bucket_for(now),
            "strategy_version": strategy.version,
        }
        for case_id, before, now in changes
        if before is None or strategy.bucket_for(before) != strategy.bucket_for(now)
    ]


def note_dpd_changes(session, _flush_context, _instances):
    """Before each flush: a DPD mark for every new case and every case whose DPD moved into
    another bucket, whoever changed it (import, API, demo), in the same transaction."""
    from sqlalchemy.orm import attributes

    from app.policy.strategy import default_strategy

    strategy = default_strategy()
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Case) or obj.days_past_due is None:
            continue
        bucket = strategy.bucket_for(obj.days_past_due)
        if obj in session.new:
            at = obj.created_at or clock.now()  # a new case: from its creation
        else:
            history = attributes.get_history(obj, "days_past_due")
            if not history.has_changes():
                continue
            if history.deleted and history.deleted[0] is not None and strategy.bucket_for(history.deleted[0]) == bucket:
                continue  # the same bucket: nothing a report could tell apart
            at = clock.now()
        session.add(
            CaseDpdMark(
                case=obj, at=at, days_past_due=obj.days_past_due, bucket=bucket, strategy_version=strategy.version
            )
        )


from sqlalchemy import event as _event  # noqa: E402
from sqlalchemy.orm import Session as _Session  # noqa: E402

_event.listen(_Session, "before_flush", note_dpd_changes)
