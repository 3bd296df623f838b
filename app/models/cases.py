"""The debt: debtors, their cases, and the contact attempts made on a case."""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.crypto import Encrypted, blind_index
from app.extensions import db
from app.models.organisation import Team
from app.models.types import UTCDateTime, _in, _lat_lon_checks, utcnow

STAGES = ("notice", "remote_contact", "field_visit", "agreement", "resolved", "closed")
# Who set a case's priority: the strategy's score (the nightly job keeps it current), or
# an override the job leaves alone (the importer's column, a supervisor's PATCH).
PRIORITY_SOURCES = ("strategy", "import", "manual")
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
# Where a debtor's point is: located (lat/lon known), pending (an address waits for the
# geocoder), needs_pin (the geocoder's answer was not usable: a supervisor places the pin).
LOCATION_STATUSES = ("located", "pending", "needs_pin")
LOCATION_SOURCES = ("given", "geocoded", "pin")


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
