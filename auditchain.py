"""The audit log's hash chain, pure: the canonical hash of a link and the check of a
run of consecutive links. No Flask, no SQLAlchemy: ``app.audit`` builds on it, and so
do the worker processes that check parts of a long chain in parallel, which therefore
start in a fraction of a second.

Personal data stays out of the hashed bytes: in ``changes`` each personal value is
replaced by ``{"$pii": commitment}``, the SHA-256 of a random salt, the value's place
(a JSON pointer) and the value's JSON (``commitment``); the salt and the value are kept
beside the chain, so anonymising can delete them and every link still verifies, while a
value still held can be checked against its commitment (``committed``).

A link's hash is SHA-256 of the UTF-8 JSON array
``[seq, occurred_at, actor_user_id, actor_role, action, entity_type, entity_id,
changes, request_id, client_ip, lat, lon, prev_hash]`` as
``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` writes it, with
``occurred_at`` the UTC ISO 8601 text (``2026-03-01T08:00:00.123456+00:00``).
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashlib import _Hash

# A row of ``COLUMNS``, as a driver returns it.
Row = Sequence[Any]
Problem = dict[str, Any]

GENESIS_HASH = "0" * 64
# The most chains a log may be partitioned into (``AUDIT_CHAINS``).
MAX_CHAINS = 64
# The key of the object that stands in ``changes`` for a personal value.
COMMITMENT = "$pii"
# The columns a check reads, in this order; ``occurred_at`` as a naive UTC datetime
# (or, from SQLite, the naive UTC text SQLAlchemy stores).
COLUMNS = (
    "seq",
    "occurred_at",
    "actor_user_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "request_id",
    "client_ip",
    "lat",
    "lon",
    "prev_hash",
    "hash",
)

# What json.dumps(..., ensure_ascii=False) uses.
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def link_hash_values(
    seq: int,
    occurred_at_iso: str,
    actor_user_id: int | None,
    actor_role: str | None,
    action: str,
    entity_type: str,
    entity_id: str | None,
    changes: str,
    request_id: str | None,
    client_ip: str | None,
    lat: float | None,
    lon: float | None,
    prev_hash: str,
    *,
    _enc: Callable[[str], str] = _encode_string,
    _sha: "Callable[[bytes], _Hash]" = hashlib.sha256,
) -> str:
    """The hash of one link from its stored values.

    The JSON is built here by hand, byte for byte what ``json.dumps`` would produce
    (integers and floats as ``repr``, strings escaped by json's own encoder), because a
    check recomputes it for every event and ``json.dumps`` is the slow part.
    """
    content = (
        f"[{seq},{_enc(occurred_at_iso)},{'null' if actor_user_id is None else actor_user_id},"
        f"{'null' if actor_role is None else _enc(actor_role)},{_enc(action)},{_enc(entity_type)},"
        f"{'null' if entity_id is None else _enc(entity_id)},{_enc(changes)},"
        f"{'null' if request_id is None else _enc(request_id)},{'null' if client_ip is None else _enc(client_ip)},"
        f"{'null' if lat is None else float.__repr__(lat)},{'null' if lon is None else float.__repr__(lon)},"
        f"{_enc(prev_hash)}]"
    )
    return _sha(content.encode("utf-8")).hexdigest()


def commitment(
    salt_hex: str,
    pointer: str,
    value: Any,
    *,
    _enc: Callable[[str], str] = _encode_string,
    _sha: "Callable[[bytes], _Hash]" = hashlib.sha256,
    _fromhex: Callable[[str], bytes] = bytes.fromhex,
) -> str:
    """What the chain hashes in place of a personal value: SHA-256 of the salt's 16 bytes,
    the value's JSON pointer in ``changes`` (UTF-8) and a NUL, then the value as canonical
    JSON (sorted keys, no spaces, UTF-8). The pointer binds a value to its place."""
    # A string (nearly every personal value) is written by json's own encoder directly.
    text = (
        _enc(value)
        if type(value) is str
        else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    return _sha(_fromhex(salt_hex) + (pointer + "\x00" + text).encode("utf-8")).hexdigest()


def committed(changes_text: str, held: Mapping[str, Sequence[Any]]) -> str | None:
    """The first JSON pointer of ``held`` ({pointer: [salt hex, value]}) whose commitment the
    event's stored ``changes`` text does not hold, or None when all match. The commitment
    binds its place, so finding it in the hashed text is enough: no JSON to parse."""
    for pointer, (salt_hex, value) in held.items():
        if '{"$pii":"' + commitment(salt_hex, pointer, value) + '"}' not in changes_text:
            return pointer
    return None


def chain_genesis(chain: int) -> str:
    """What the first link of ``chain`` points at. Chain 1 is the log as it was before it
    was partitioned (``GENESIS_HASH``); every other chain starts from a value of its own,
    so a chain's links cannot be passed off as another's."""
    if chain == 1:
        return GENESIS_HASH
    return hashlib.sha256(f"fieldcollect audit chain {chain}".encode()).hexdigest()


def heads_hash(heads: Mapping[int, tuple[int, str]]) -> str:
    """One hash that binds the head of every chain ({chain: (seq, hash)}): what an anchor
    signs and the log's head shows. A log of one chain (chain 1) answers its head's hash,
    as it did before the log was partitioned."""
    if set(heads) == {1}:
        return heads[1][1]
    content = json.dumps([[chain, heads[chain][0], heads[chain][1]] for chain in sorted(heads)], separators=(",", ":"))
    return hashlib.sha256(("heads" + content).encode("utf-8")).hexdigest()


def check_links(
    batches: Iterable[Sequence[Row]],
    first_seq: int,
    prev: str | None,
    *,
    times_as_text: bool = False,
    contiguous: bool = True,
) -> tuple[int, str | None, Problem | None]:
    """Check consecutive links from ``first_seq``, the first expected to point at ``prev``.

    ``batches`` yields lists of rows in ``COLUMNS`` order, by ``seq``. Answers
    ``(checked, last_hash, problem)``: how many links held, the hash of the last one,
    and the first that did not (``{"seq", "what", "detail"}``) or None.

    ``contiguous``: the links' ``seq`` must be ``first_seq``, ``first_seq`` + 1, ... (a log of
    one chain). The chains of a partitioned log share one sequence, so each chain's
    numbers have gaps (the other chains' events): then ``first_seq`` is only where the count
    starts, and a removed link shows as the next one's ``prev_hash``.
    """
    parse = datetime.fromisoformat
    enc, sha, float_repr = _encode_string, hashlib.sha256, float.__repr__
    expected = first_seq
    for batch in batches:
        for (
            seq,
            occurred,
            actor,
            role,
            action,
            entity_type,
            entity_id,
            changes,
            request_id,
            client_ip,
            lat,
            lon,
            prev_hash,
            stored,
        ) in batch:
            if seq != expected and contiguous:
                return (
                    expected - first_seq,
                    prev,
                    {"seq": expected, "what": "missing", "detail": f"next event found is {seq}"},
                )
            if prev_hash != prev:
                return (
                    expected - first_seq,
                    prev,
                    {"seq": seq, "what": "prev_hash", "detail": "does not match the previous event's hash"},
                )
            occurred = (parse(occurred) if times_as_text else occurred).isoformat()
            # link_hash_values, inlined (a call per event is a tenth of the time). Two strings
            # need no escaping here: the ISO time just written, and prev_hash, which equals the
            # previous link's computed hex digest (or the genesis) by the check above.
            content = (
                f'[{seq},"{occurred}+00:00",{"null" if actor is None else actor},'
                f"{'null' if role is None else enc(role)},{enc(action)},{enc(entity_type)},"
                f"{'null' if entity_id is None else enc(entity_id)},{enc(changes)},"
                f"{'null' if request_id is None else enc(request_id)},"
                f"{'null' if client_ip is None else enc(client_ip)},"
                f"{'null' if lat is None else float_repr(lat)},{'null' if lon is None else float_repr(lon)},"
                f'"{prev_hash}"]'
            )
            if sha(content.encode("utf-8")).hexdigest() != stored:
                return (
                    expected - first_seq,
                    prev,
                    {"seq": seq, "what": "hash", "detail": "content differs from what was hashed (an altered field)"},
                )
            prev = stored
            expected += 1
    return expected - first_seq, prev, None


SEGMENT_QUERY = (
    f"SELECT {', '.join(c if c != 'occurred_at' else 'occurred_at AT TIME ZONE %(utc)s' for c in COLUMNS)}"
    " FROM audit_events WHERE seq BETWEEN %(first)s AND %(last)s ORDER BY seq"
)


def check_segment(dsn: str, first: int, last: int, batch_size: int) -> dict[str, Any]:
    """In a worker process: check links ``first``..``last`` on PostgreSQL.

    The segment's first link is taken to point where it says; whoever splits the chain
    checks that each segment starts where the one before it ended (``first_prev``).
    """
    import psycopg

    with psycopg.connect(dsn) as connection, connection.cursor(name="audit_verify_segment") as cursor:
        cursor.itersize = batch_size
        cursor.execute(SEGMENT_QUERY, {"utc": "UTC", "first": first, "last": last})
        head = cursor.fetchmany(batch_size)
        first_prev = head[0][12] if head else None

        def batches() -> Iterator[Sequence[Row]]:
            yield head
            while batch := cursor.fetchmany(batch_size):
                yield batch

        checked, last_hash, problem = check_links(batches(), first, first_prev)
    return {
        "first": first,
        "first_prev": first_prev,
        "first_found": head[0][0] if head else None,
        "checked": checked,
        "last_hash": last_hash,
        "problem": problem,
    }


CHAIN_QUERY = (
    f"SELECT {', '.join(c if c != 'occurred_at' else 'occurred_at AT TIME ZONE %(utc)s' for c in COLUMNS)}"
    " FROM audit_events WHERE chain = %(chain)s AND seq <= %(last)s ORDER BY seq"
)


def check_chain(dsn: str, chain: int, last: int, batch_size: int) -> dict[str, Any]:
    """In a worker process: check one chain of a partitioned log on PostgreSQL, from its
    genesis up to ``last`` (its head's ``seq`` when the check began)."""
    import psycopg

    with psycopg.connect(dsn) as connection, connection.cursor(name="audit_verify_chain") as cursor:
        cursor.itersize = batch_size
        cursor.execute(CHAIN_QUERY, {"utc": "UTC", "chain": chain, "last": last})

        def batches() -> Iterator[Sequence[Row]]:
            while batch := cursor.fetchmany(batch_size):
                yield batch

        checked, last_hash, problem = check_links(batches(), 1, chain_genesis(chain), contiguous=False)
    return {"chain": chain, "checked": checked, "last_hash": last_hash, "problem": problem}
