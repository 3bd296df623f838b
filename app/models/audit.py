"""The tamper-evident audit log's tables (written only by ``app.audit``)."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


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
