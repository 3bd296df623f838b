"""A visit's recording played back on the audit desk: the stored bytes, whole or one byte
range (HTTP Range), to the staff who may read that visit in the visit log.

A recording is the debtor's voice at their door: every answer that hands its bytes to a
user whose reads are logged (auditors, admins) writes a ``pii.read`` naming the debtor,
in the request's own transaction, as the visit log itself does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app import authz, storage
from app.errors import NotFound, RangeNotSatisfiable
from app.extensions import db
from app.models import ALLOWED_TYPES, Case, Recording, User, Visit, VisitTask
from app.services import audit_log

CHUNK = 1 << 16


@dataclass(frozen=True)
class Playback:
    recording: Recording
    start: int
    stop: int  # exclusive
    partial: bool
    media_type: str
    handle: Any  # the stored file, read from ``start``; closed by ``chunks`` or the response

    def chunks(self) -> Iterator[bytes]:
        """The bytes from ``start`` to ``stop``, a chunk at a time."""
        remaining = self.stop - self.start
        with self.handle:
            while remaining > 0:
                chunk = self.handle.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.recording.size_bytes}"


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """The one range a ``Range`` header asks for, as ``(start, stop)`` with ``stop``
    exclusive, or ``None`` for the whole file: no header, a header this server does not
    take (not bytes, several ranges, not well formed: RFC 9110 lets a server ignore it).
    A range wholly past the end raises ``RangeNotSatisfiable``; one running past the end
    is cut to it."""
    from werkzeug.http import parse_range_header

    if not header:
        return None
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    start, stop = parsed.ranges[0]
    if start < 0:  # the last -start bytes
        start = max(0, length + start)
        stop = length
    elif stop is None or stop > length:
        stop = length
    if start >= length or start >= stop:
        raise RangeNotSatisfiable(
            f"The range asked for starts past the end of the recording ({length} bytes).", length=length
        )
    return start, stop


def play(recording_id: int, user: User, range_header: str | None) -> Playback:
    """The recording's bytes (or the range asked for), if ``user`` may read its visit."""
    stmt = (
        select(Recording, VisitTask.case_id, Case.debtor_id)
        .join(Visit, Visit.id == Recording.visit_id)
        .join(VisitTask, VisitTask.id == Visit.task_id)
        .join(Case, Case.id == VisitTask.case_id)
        .where(Recording.id == recording_id)
    )
    row = db.session.execute(authz.scope(stmt, Visit, user)).first()
    if row is None:
        raise NotFound("No such recording.")
    recording, case_id, debtor_id = row
    if recording.erased_at is not None:
        raise NotFound(
            f"The recording's file was erased under the retention policy on "
            f"{recording.erased_at.date().isoformat()}; its hash and length are kept.",
            code="recording_erased",
        )
    length = recording.size_bytes
    asked = byte_range(range_header, length)
    start, stop = asked or (0, length)
    handle = storage.current().open_range(recording.storage_key, start)
    audit_log.record_personal_reads(
        user,
        [(debtor_id, case_id, ("recording",))],
        via="audit.recordings",
        entity_type="recordings",
        entity_id=recording.id,
    )
    media_type = recording.content_type if recording.content_type in ALLOWED_TYPES else "application/octet-stream"
    return Playback(recording, start, stop, asked is not None, media_type, handle)
