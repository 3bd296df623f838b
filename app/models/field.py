"""What happens in the field: visits and their recordings, and the phones that send them
(their actions as client events, their clocks and outboxes)."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.dispatch import VisitTask
from app.models.organisation import Collector, Crew
from app.models.types import UTCDateTime, _lat_lon_checks, utcnow

# How a field action's time was judged: the server's receive time (online), or the
# phone's time corrected by its measured clock offset, kept inside what the server can
# prove (offline), possibly moved to that bound ("device_bounded").
TIME_BASES = ("server", "device_corrected", "device_bounded")
# The documented outcome codes: (English, Chinese, who must have been met, effects).
OUTCOMES = {
    "met_debtor": ("Met the debtor; no agreement", "见到债务人，未达成协议", "debtor", {}),
    "promise_to_pay": (
        "Promise to pay (one date, one amount)",
        "承诺还款（一次性）",
        "debtor",
        {"agreement": "promise"},
    ),
    "agreement_signed": ("Instalment plan agreed", "签订分期还款协议", "debtor", {"agreement": "instalment"}),
    "paid_on_spot": (
        "Paid on the spot (to be confirmed by the servicing system)",
        "当场还款（待系统确认）",
        "debtor",
        {},
    ),
    "refused": ("Debtor refused to pay", "债务人拒绝还款", "debtor", {}),
    "not_home": ("Nobody home", "无人在家", "nobody", {}),
    "moved": ("Debtor has moved away", "债务人已搬走", "any", {"stage": "remote_contact"}),
    "wrong_address": ("Wrong address", "地址错误", "any", {"stage": "remote_contact"}),
    "third_party_only": (
        "Met a third party only; nothing disclosed",
        "仅见到第三方，未透露任何信息",
        "third_party",
        {},
    ),
    "hardship_claimed": ("Debtor claims hardship", "债务人声称经济困难", "debtor", {"stage": "remote_contact"}),
    "dispute_raised": (
        "Debtor disputes the debt",
        "债务人对债务提出异议",
        "debtor",
        {"flag": "dispute", "stop_visits": True},
    ),
    "cease_requested": (
        "Debtor asked us to stop",
        "债务人要求停止催收",
        "debtor",
        {"flag": "cease", "stop_visits": True},
    ),
    "deceased_reported": ("Debtor reported deceased", "债务人已故", "any", {"flag": "deceased", "stop_visits": True}),
    "capacity_concern": (
        "Debtor may lack capacity",
        "债务人可能缺乏行为能力",
        "any",
        {"flag": "capacity_concern", "stop_visits": True},
    ),
    "aggression": ("Visit ended for the crew's safety", "为保障催收员安全结束上门", "any", {}),
}
PEOPLE = ("debtor", "spouse", "relative", "household_member", "neighbour", "other", "nobody")
ALLOWED_TYPES = {
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/mpeg",
    "audio/wav",
    "audio/x-wav",
    "audio/aac",
    "image/jpeg",
    "image/png",
    "image/webp",
}


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
