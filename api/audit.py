"""The auditors' API: the audit events and the visit log (pages or streamed exports), and
proof that the log is intact. There is no way to change or delete either here."""

import re

from flask import Blueprint, Response, g, request, stream_with_context

from api.audit_schemas import (
    AuditEventOut,
    AuditEventQuery,
    HeadOut,
    HeadQuery,
    VerifyOut,
    VerifyQuery,
    VisitLogOut,
    VisitLogQuery,
)
from api.base import endpoint, page_of, streamed
from app.models import ALLOWED_TYPES
from app.services import audit_log, recordings

bp = Blueprint("audit", __name__)

EVENT_STREAMS = {
    "text/csv": "format=csv: a header row, then one row per event, columns as the JSON item's "
    "(changes as its stored canonical JSON text).",
    "application/x-ndjson": "format=ndjson: one JSON object per line, shaped like an item of the page.",
}
VISIT_STREAMS = {
    "text/csv": "format=csv: UTF-8 with a byte order mark (so Excel reads Chinese text), one row per visit; "
    "several recordings, agreements or flags are joined with ';'. "
    "Free text beginning with = + - @ is prefixed with ' so spreadsheets do not run it. "
    "The file is named after the filter (visits-<from>-<to>-<collector>….csv).",
    "application/x-ndjson": "format=ndjson: one JSON object per line, shaped like an item of the page.",
}


VISIT_FILTERS = ("from", "to", "collector", "crew", "loan_ref", "case", "debtor", "outcome", "flag")


def export_name(base, filters, fmt):
    """A download's file name from the filter it was asked with, in the order given by
    ``filters`` (``visits-2026-06-01-2026-06-30-C001.csv``); letters, digits, ``.``,
    ``_`` and ``-`` only, so it needs no quoting in a header."""
    parts = [base]
    for name in filters:
        value = request.args.get(name, "").strip()
        if value:
            safe = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "_", value.replace(":", "")))
            parts.append(safe[:40].strip("._") or "_")
    return "-".join(parts) + f".{fmt}"


@bp.get("/audit/events")
@endpoint(permission="audit:read", query=AuditEventQuery, response=page_of(AuditEventOut), streams=EVENT_STREAMS)
def list_events(args):
    """Audit events in chain order, filtered; format=csv|ndjson streams every match (and is logged)."""
    fmt = args["format"]
    if fmt != "json":
        return streamed(audit_log.export_events(args, g.user, fmt), audit_log.MEDIA_TYPES[fmt], f"audit-events.{fmt}")
    return audit_log.events_page(args, g.user)


@bp.get("/audit/visits")
@endpoint(permission="audit:visits", query=VisitLogQuery, response=page_of(VisitLogOut), streams=VISIT_STREAMS)
def list_visits(args):
    """The visit log: times, places, people met, outcome, recordings, agreements and flags (every pull is logged)."""
    fmt = args["format"]
    if fmt != "json":
        chunks = audit_log.export_visits(args, g.user, fmt)
        return streamed(chunks, audit_log.MEDIA_TYPES[fmt], export_name("visits", VISIT_FILTERS, fmt))
    return audit_log.visits_page(args, g.user)


RECORDING_STREAMS = {
    media_type: "The recording (or photo) as uploaded. Send `Range: bytes=start-end` for a part: answered 206 "
    "with Content-Range. Every answer to an auditor or admin is logged as a pii.read of the debtor."
    for media_type in sorted(ALLOWED_TYPES | {"application/octet-stream"})
}


@bp.get("/audit/recordings/<id:recording_id>")
@endpoint(
    permission="audit:visits",
    streams=RECORDING_STREAMS,
    errors={416},
    also={206: "Partial content: the byte range asked for (Content-Range names it)."},
)
def play_recording(recording_id):
    """A visit's recording, whole or a byte range, for whoever may read the visit (every play is logged)."""
    playback = recordings.play(recording_id, g.user, request.headers.get("Range"))
    response = Response(
        stream_with_context(playback.chunks()),
        mimetype=playback.media_type,
        status=206 if playback.partial else 200,
        direct_passthrough=True,
    )
    response.call_on_close(playback.handle.close)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Length"] = str(playback.stop - playback.start)
    if playback.partial:
        response.headers["Content-Range"] = playback.content_range
    # The stored hash names these bytes for good; personal data is not kept in shared caches.
    response.headers["ETag"] = f'"{playback.recording.sha256}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = f'inline; filename="recording-{playback.recording.id}"'
    return response


@bp.get("/audit/verify")
@endpoint(permission="audit:read", query=VerifyQuery, response=VerifyOut)
def verify_chain(args):
    """Recompute the whole hash chain; name the first broken link, if any."""
    return audit_log.verify()


@bp.get("/audit/head")
@endpoint(permission="audit:read", query=HeadQuery, response=HeadOut)
def chain_head(args):
    """The chain head (sequence and hash), live or as of the end of a UTC day, for anchoring elsewhere."""
    return audit_log.head(args.get("date"))
