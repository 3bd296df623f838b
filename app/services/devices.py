"""Phones, their clocks, and the time a field action is judged on.

The server's clock is the judge; a phone's clock is evidence. Every request of the
field app names the phone (``X-Device-Id``), says what its clock reads
(``X-Device-Time``) and how far its outbox has numbered the actions queued on it
(``X-Device-Seq``, a per-phone sequence that only grows). At each such contact the
server keeps the phone's clock offset (phone − server) and, whenever the high-water
mark moves, the last time it heard from the phone at the old mark.

* An action sent straight to its endpoint (online) is judged at the time the server
  received it; the phone's time is stored beside it, never instead of it.
* An action queued offline (sent in a sync batch) is judged at its own device time
  corrected by the phone's measured offset, kept inside what the server can prove:
  never earlier than the last contact at which the phone's high-water mark was below
  the action's sequence number (it was queued after that contact), never later than
  the batch's arrival. When the bound moves the time, the basis says so.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import audit
from app.extensions import db
from app.models import Device, DeviceContact

# An offline action older than this cannot be placed in time by what the server knows
# (no contact of the phone bounds it): it is judged no earlier than this before arrival.
OFFLINE_HORIZON = timedelta(hours=72)


@dataclass(frozen=True)
class Report:
    """What a request says about its phone (from its headers)."""

    key: str
    device_time: datetime | None
    seq_high: int | None


@dataclass(frozen=True)
class Contact:
    """A request's phone, and what the server knew of it before this request."""

    device: Device
    received_at: datetime
    offset: timedelta | None  # measured by this request (None: no clock reading in it)
    previous_at: datetime | None  # the phone's previous contact, if any
    previous_seq_high: int  # its outbox high-water mark at that contact
    previous_offset: timedelta | None


@dataclass(frozen=True)
class Judged:
    """The time a field action is judged on, with the evidence beside it."""

    at: datetime
    device_time: datetime | None
    received_at: datetime
    basis: str  # server | device_corrected | device_bounded
    not_before: datetime | None = None


def note_contact(user, report, received_at):
    """Record a contact of ``user``'s phone; the state before it stays readable on the answer."""
    device = _locked(user, report.key)
    offset = report.device_time - received_at if report.device_time is not None else None
    first = device is None
    if first:
        try:
            with db.session.begin_nested():
                device = Device(
                    user_id=user.id,
                    device_key=report.key,
                    first_seen_at=received_at,
                    last_contact_at=received_at,
                    seq_high=0,
                )
                db.session.add(device)
                db.session.flush()
        except IntegrityError:
            # Two first requests of one phone at once: the other made the row; wait for it.
            device, first = _locked(user, report.key), False
    if first:
        previous = (None, 0, None)
    else:
        previous = (
            device.last_contact_at,
            device.seq_high,
            timedelta(milliseconds=device.offset_ms) if device.offset_ms is not None else None,
        )
    seq_high = report.seq_high if report.seq_high is not None else device.seq_high
    if seq_high > device.seq_high and previous[0] is not None:
        # The old mark's last contact: events numbered above it were queued after that moment.
        db.session.add(DeviceContact(device_id=device.id, seq_high=device.seq_high, at=device.last_contact_at))
    # A mark never goes back (a phone reporting a lower one is not believed).
    device.seq_high = max(device.seq_high, seq_high)
    device.last_contact_at = max(received_at, device.last_contact_at)
    if report.device_time is not None:
        device.last_device_time = report.device_time
        device.offset_ms = int(offset.total_seconds() * 1000)
    db.session.flush()
    return Contact(
        device=device,
        received_at=received_at,
        offset=offset,
        previous_at=previous[0],
        previous_seq_high=previous[1],
        previous_offset=previous[2],
    )


def _locked(user, key):
    return db.session.scalars(
        select(Device)
        .where(Device.user_id == user.id, Device.device_key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def queued_after(contact, seq):
    """The latest moment the server can prove an event numbered ``seq`` was queued after:
    its phone's last contact while the outbox's high-water mark was below ``seq``."""
    if contact is None or seq is None:
        return None
    if seq > contact.previous_seq_high:
        return contact.previous_at
    return db.session.scalar(
        select(DeviceContact.at)
        .where(DeviceContact.device_id == contact.device.id, DeviceContact.seq_high < seq)
        .order_by(DeviceContact.seq_high.desc())
        .limit(1)
    )


def judge_online(device_time, received_at):
    """A direct action: the server's receive time."""
    return Judged(at=received_at, device_time=device_time, received_at=received_at, basis="server")


def judge_offline(contact, device_time, seq, received_at):
    """A queued action: its device time corrected by the phone's offset, inside the bounds
    the server can prove (see the module's docstring)."""
    not_before = queued_after(contact, seq) or received_at - OFFLINE_HORIZON
    if device_time is None:
        return Judged(at=received_at, device_time=None, received_at=received_at, basis="server", not_before=not_before)
    offset = None
    if contact is not None:
        offset = contact.offset if contact.offset is not None else contact.previous_offset
    corrected = device_time - (offset or timedelta(0))
    at = min(max(corrected, not_before), received_at)
    return Judged(
        at=at,
        device_time=device_time,
        received_at=received_at,
        basis="device_corrected" if at == corrected else "device_bounded",
        not_before=not_before,
    )


# ---------------------------------------------------------------- the phone's order


def note_sequence(contact, seq):
    """Where this number stands in the phone's sequence: ``in_order``, a ``gap`` before it
    (numbers never received), ``late`` (after a higher one), or ``unnumbered``. Recorded on
    the event and, when not in order, in the audit log."""
    if contact is None or seq is None:
        return {"status": "unnumbered"}
    device = contact.device
    seen = device.seq_seen or 0
    if seq == seen + 1:
        note = {"status": "in_order"}
    elif seq > seen + 1:
        note = {"status": "gap", "missing": [seen + 1, seq - 1]}
    else:
        note = {"status": "late", "after": seen}
    device.seq_seen = max(seen, seq)
    if note["status"] != "in_order":
        audit.record(
            f"field.sequence_{note['status']}",
            entity_type="devices",
            entity_id=device.id,
            extra={"seq": seq, **{k: v for k, v in note.items() if k != "status"}},
        )
    return note
