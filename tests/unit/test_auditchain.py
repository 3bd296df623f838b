"""The audit chain's pure core: the hand-built canonical JSON must be exactly json.dumps's."""

import hashlib
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

import auditchain


def reference_hash(row):
    """The definition: SHA-256 of json.dumps of the array, as the foundation wrote it."""
    content = json.dumps(
        [
            row["seq"],
            row["occurred_at"],
            row["actor_user_id"],
            row["actor_role"],
            row["action"],
            row["entity_type"],
            row["entity_id"],
            row["changes"],
            row["request_id"],
            row["client_ip"],
            row["lat"],
            row["lon"],
            row["prev_hash"],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def test_the_fast_link_hash_is_byte_for_byte_the_canonical_json_definition():
    rng = random.Random(6)
    awkward = ["", '"', "\\", "\n\t\r\b\f", "\x01\x1f\x7f", "é王芳", "\u2028\u2029", "😀", "</script>", "'; --"]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def text():
        return "".join(rng.choice(awkward + ["abc", "123"]) for _ in range(rng.randrange(4)))

    for seq in range(1, 5000):
        occurred = start + timedelta(microseconds=rng.choice([0, 1, 999999, rng.randrange(10**12)]))
        row = {
            "seq": seq,
            "occurred_at": occurred.isoformat(),
            "actor_user_id": rng.choice([None, 1, 2**40]),
            "actor_role": rng.choice([None, "agent", text()]),
            "action": text() or "a.b",
            "entity_type": text(),
            "entity_id": rng.choice([None, "17", text()]),
            "changes": json.dumps(
                {"after": {text(): text(), "n": rng.random()}},
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            ),
            "request_id": rng.choice([None, text()]),
            "client_ip": rng.choice([None, "10.0.0.1", "::1"]),
            "lat": rng.choice([None, 0.0, -0.0, -90.0, 31.0, 31.23, rng.uniform(-90, 90), 1e-07, 1e-05]),
            "lon": rng.choice([None, 180.0, rng.uniform(-180, 180)]),
            "prev_hash": hashlib.sha256(str(seq).encode()).hexdigest(),
        }
        assert auditchain.link_hash_values(*row.values()) == reference_hash(row), row


def _link(seq, prev, **overrides):
    values = {
        "seq": seq,
        "occurred_at": datetime(2026, 3, 1, 8, 0, seq),
        "actor_user_id": 7,
        "actor_role": "agent",
        "action": "thing.done",
        "entity_type": "things",
        "entity_id": str(seq),
        "changes": "{}",
        "request_id": None,
        "client_ip": None,
        "lat": None,
        "lon": None,
        "prev_hash": prev,
    }
    values.update(overrides)
    digest = auditchain.link_hash_values(
        *[values[c] if c != "occurred_at" else values[c].isoformat() + "+00:00" for c in auditchain.COLUMNS[:-1]]
    )
    return tuple(values[c] for c in auditchain.COLUMNS[:-1]) + (digest,)


def chain(n):
    rows, prev = [], auditchain.GENESIS_HASH
    for seq in range(1, n + 1):
        rows.append(_link(seq, prev))
        prev = rows[-1][-1]
    return rows


def test_an_intact_run_of_links_checks_out():
    rows = chain(5)
    assert auditchain.check_links([rows[:2], rows[2:]], 1, auditchain.GENESIS_HASH) == (5, rows[-1][-1], None)


def test_a_check_names_a_gap_a_broken_link_and_an_altered_link():
    rows = chain(5)
    gap = auditchain.check_links([rows[:2] + rows[3:]], 1, auditchain.GENESIS_HASH)
    assert gap[0] == 2 and gap[2] == {"seq": 3, "what": "missing", "detail": "next event found is 4"}
    altered = list(rows)
    altered[3] = altered[3][:4] + ("thing.undone",) + altered[3][5:]
    assert auditchain.check_links([altered], 1, auditchain.GENESIS_HASH)[2]["what"] == "hash"
    relinked = list(rows)
    relinked[2] = _link(3, "f" * 64)
    assert auditchain.check_links([relinked], 1, auditchain.GENESIS_HASH)[2] == {
        "seq": 3,
        "what": "prev_hash",
        "detail": "does not match the previous event's hash",
    }


def test_the_check_agrees_with_the_link_hash_on_awkward_values():
    """check_links builds the same JSON inline: every awkward value checks out, and one
    changed character anywhere is found."""
    rng = random.Random(8)
    awkward = ["", '"', "\\", "\n\t", "\x01", "é王芳", "\u2028", "😀", "'; --"]
    rows, prev = [], auditchain.GENESIS_HASH
    for seq in range(1, 60):
        pick = lambda: "".join(rng.choice(awkward + ["ab"]) for _ in range(rng.randrange(3)))  # noqa: E731
        rows.append(
            _link(
                seq,
                prev,
                occurred_at=datetime(2026, 3, 1) + timedelta(microseconds=rng.choice([0, 1, 10**9 + 7])),
                actor_user_id=rng.choice([None, 3]),
                actor_role=rng.choice([None, pick()]),
                action=pick() or "a",
                entity_type=pick(),
                entity_id=rng.choice([None, pick()]),
                changes=pick(),
                request_id=rng.choice([None, pick()]),
                client_ip=rng.choice([None, pick()]),
                lat=rng.choice([None, -0.0, 31.2, 1e-07]),
                lon=rng.choice([None, 121.5]),
            )
        )
        prev = rows[-1][-1]
    assert auditchain.check_links([rows], 1, auditchain.GENESIS_HASH) == (59, prev, None)
    for column in (3, 4, 5, 6, 7, 8, 9):
        altered = list(rows)
        row = list(altered[40])
        row[column] = (row[column] or "") + '"'
        altered[40] = tuple(row)
        assert auditchain.check_links([altered], 1, auditchain.GENESIS_HASH)[2]["seq"] == 41, column


def test_the_pure_core_imports_neither_flask_nor_sqlalchemy():
    code = "import sys, auditchain; print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=auditchain.__file__.rsplit("/", 1)[0],
    )
    assert out.stdout.strip() == "[]"


def test_a_commitment_binds_the_value_to_its_salt_and_its_place():
    from auditchain import commitment, committed

    salt = "00" * 16
    first = commitment(salt, "/after/phone", "138****1111")
    assert first != commitment(salt, "/after/phone", "138****1112")
    assert first != commitment("01" * 16, "/after/phone", "138****1111")
    assert first != commitment(salt, "/before/phone", "138****1111")
    text = '{"after":{"phone":{"$pii":"' + first + '"}}}'
    assert committed(text, {"/after/phone": [salt, "138****1111"]}) is None
    assert committed(text, {"/after/phone": [salt, "138****9999"]}) == "/after/phone"
    assert committed(text, {"/before/phone": [salt, "138****1111"]}) == "/before/phone"


@pytest.mark.parametrize("value", ["138****1234", '王芳 "quoted"\nline', "", 3, 1.5, None, True, [1, "a"]])
def test_a_commitment_is_the_documented_sha256_of_salt_pointer_nul_and_canonical_json(value):
    from auditchain import commitment

    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(
        bytes.fromhex("ab" * 16) + "/after/名".encode() + b"\x00" + canonical.encode()
    ).hexdigest()
    assert commitment("ab" * 16, "/after/名", value) == expected
