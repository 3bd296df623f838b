"""External anchors of the audit chain: what a database administrator cannot rewrite.

The hash chain shows any change to the events it holds, but someone with the database's
superuser can switch the append-only trigger off, delete the last events and move
``audit_chain_head`` back: what is left is a shorter chain that verifies. An anchor
is the head (``seq``, ``hash``, when) written outside the database and signed with an
Ed25519 key the database never holds; ``verify`` checks the chain against every anchor,
so a cut tail or a rewound head shows as soon as one anchor was written past it.

Anchors go to an append-only store: a local folder by default (``ANCHOR_DIR``: files
created once, read-only, never replaced; mount it from another machine or mark it
``chattr +a``), or an S3 bucket with object lock (``ANCHOR_S3_BUCKET``): each anchor is
an object in compliance mode, retained for ``ANCHOR_LOCK_DAYS``, so not even the bucket's
owner can delete or overwrite it; every version of every key is read back.

``flask audit anchor`` writes one (run it daily from cron, and on demand); the
``anchor_audit_head`` job does the same on a worker.
"""

import base64
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app import audit, clock
from app.errors import DomainError, ServiceUnavailable
from app.extensions import db
from app.models import AuditEvent
from app.storage import StorageError, StorageUnavailable, s3_client, s3_error

VERSION = 1
PREFIX = "anchors/"


class AnchorSetupError(DomainError):
    """Anchoring is not configured (no signing key); the message says what to set."""

    status = 503
    code = "anchor_not_configured"


# ---------------------------------------------------------------- keys


def _private_key(config):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if config.get("ANCHOR_SIGNING_KEY_FILE"):
        pem = Path(config["ANCHOR_SIGNING_KEY_FILE"]).read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise AnchorSetupError("ANCHOR_SIGNING_KEY_FILE does not hold an Ed25519 private key.")
        return key
    if config.get("ANCHOR_SIGNING_KEY"):
        raw = base64.b64decode(config["ANCHOR_SIGNING_KEY"])
        if len(raw) != 32:
            raise AnchorSetupError("ANCHOR_SIGNING_KEY must be the base64 of a 32-byte Ed25519 private key.")
        return Ed25519PrivateKey.from_private_bytes(raw)
    return None


def _raw_public(public_key):
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key):
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def public_keys(config):
    """Every key whose anchors verify, by key id: the signing key's, and ANCHOR_PUBLIC_KEYS."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = {}
    private = _private_key(config)
    if private is not None:
        keys[key_id(private.public_key())] = private.public_key()
    for text in (config.get("ANCHOR_PUBLIC_KEYS") or "").split(","):
        if text.strip():
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip()))
            keys[key_id(public)] = public
    return keys


def new_signing_key():
    """A new key pair, as the settings hold them: (private base64, public base64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(private).decode(), base64.b64encode(_raw_public(key.public_key())).decode()


def signed_bytes(anchor):
    """What the signature covers: the anchor's fields but the signature, as canonical JSON."""
    fields = {k: v for k, v in anchor.items() if k != "signature"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- stores


class LocalAnchorStore:
    """A folder of anchor files, each created once (never replaced) and made read-only."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def describe(self):
        return f"folder {self.folder}"

    def write(self, name, data):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            raise StorageError(f"An anchor named {name} already exists; anchors are never replaced.") from None
        except OSError as exc:
            raise StorageUnavailable(f"The anchor folder could not be written ({exc.strerror}).") from exc

    def read_all(self):
        if not self.folder.exists():
            return []
        try:
            return [(path.name, path.read_bytes()) for path in sorted(self.folder.glob("*.json"))]
        except OSError as exc:
            raise StorageUnavailable(f"The anchor folder could not be read ({exc.strerror}).") from exc


class S3AnchorStore:
    """Anchors as objects under object lock (compliance mode) in an S3 bucket that has it on."""

    def __init__(self, bucket, endpoint_url=None, lock_days=3653, client=None):
        self.bucket, self.lock_days = bucket, lock_days
        self.client = client or s3_client(endpoint_url)

    def describe(self):
        return f"s3://{self.bucket}/{PREFIX}"

    def _call(self, key, operation, **kwargs):
        try:
            return operation(**kwargs)
        except Exception as exc:
            translated = s3_error(exc, key)
            if translated is None:
                raise
            raise translated from exc

    def write(self, name, data):
        key = PREFIX + name
        retain_until = datetime.now(UTC) + timedelta(days=self.lock_days)
        # Not the service's clock: the store judges the lock by its own, real time.
        self._call(
            key,
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=retain_until,
            IfNoneMatch="*",
        )

    def read_all(self):
        """Every version of every anchor object: an overwritten one is read in full too."""
        out = []
        paginator = self.client.get_paginator("list_object_versions")
        try:
            pages = list(paginator.paginate(Bucket=self.bucket, Prefix=PREFIX))
        except Exception as exc:
            translated = s3_error(exc, PREFIX)
            if translated is None:
                raise
            raise translated from exc
        for page in pages:
            for version in page.get("Versions", []):
                body = self._call(
                    version["Key"],
                    self.client.get_object,
                    Bucket=self.bucket,
                    Key=version["Key"],
                    VersionId=version["VersionId"],
                )["Body"].read()
                out.append((version["Key"].removeprefix(PREFIX), body))
        return sorted(out)


def store():
    existing = current_app.extensions.get("anchor_store")
    if existing is None:
        config = current_app.config
        if config.get("ANCHOR_S3_BUCKET"):
            existing = S3AnchorStore(
                config["ANCHOR_S3_BUCKET"],
                config.get("ANCHOR_S3_ENDPOINT_URL") or config.get("S3_ENDPOINT_URL"),
                config.get("ANCHOR_LOCK_DAYS", 3653),
            )
        else:
            existing = LocalAnchorStore(config["ANCHOR_DIR"])
        current_app.extensions["anchor_store"] = existing
    return existing


# ---------------------------------------------------------------- writing and checking


def anchor_head(day=None):
    """Sign the chain head (live, or a UTC day's head) and write it to the anchor store.
    The anchor is itself recorded as an audit event (committed by the caller)."""
    key = _private_key(current_app.config)
    if key is None:
        raise AnchorSetupError(
            "No anchor signing key: set ANCHOR_SIGNING_KEY (from `flask audit keygen`) or "
            "ANCHOR_SIGNING_KEY_FILE, and keep the key away from the database."
        )
    db.session.flush()
    if day is None:
        head, as_of = audit.chain_head(), clock.now()
    else:
        daily = audit.daily_head(day)
        head, as_of = {k: daily[k] for k in ("seq", "hash", "chains") if k in daily}, daily["end"]
    now = clock.now()
    anchor = {
        "v": VERSION,
        "seq": head["seq"],
        "hash": head["hash"],
        "as_of": as_of.isoformat(),
        "anchored_at": now.isoformat(),
        "key_id": key_id(key.public_key()),
    }
    if head.get("chains"):
        # A partitioned log: the head of every chain, each checked on its own, and bound
        # together by ``hash`` (auditchain.heads_hash) under the one signature.
        anchor["v"] = 2
        anchor["chains"] = [[c["chain"], c["seq"], c["hash"]] for c in head["chains"]]
    anchor["signature"] = base64.b64encode(key.sign(signed_bytes(anchor))).decode()
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{head['seq']:012d}.json"
    target = store()
    target.write(name, json.dumps(anchor, sort_keys=True, indent=1).encode("utf-8") + b"\n")
    audit.record(
        "audit.anchored",
        entity_type="audit_chain",
        entity_id=str(head["seq"]),
        extra={
            "seq": head["seq"],
            "hash": head["hash"],
            "as_of": anchor["as_of"],
            "anchor": name,
            "store": target.describe(),
        },
    )
    return {**anchor, "name": name, "store": target.describe()}


def _valid(anchor, keys):
    from cryptography.exceptions import InvalidSignature

    public = keys.get(anchor.get("key_id"))
    if public is None or not isinstance(anchor.get("signature"), str):
        return False
    try:
        public.verify(base64.b64decode(anchor["signature"]), signed_bytes(anchor))
        return True
    except (InvalidSignature, ValueError):
        return False


def _heads_of(anchor):
    """What an anchor holds, by chain: {chain: (seq, hash)}. A v1 anchor is of a log of one
    chain, which is chain 1 of a partitioned log."""
    if anchor.get("chains"):
        return {int(chain): (int(seq), digest) for chain, seq, digest in anchor["chains"]}
    return {1: (anchor["seq"], anchor["hash"])}


def _against_chains(anchors, heads):
    """The first thing a validly signed anchor shows about the chains as they are now
    (``heads``: {chain: (seq, hash)}): a chain cut short or its head moved back (the anchor
    holds a link beyond the head), or a link rewritten since (the anchor's hash is not the
    stored one, or the link is on another chain now)."""
    wanted = set()
    for a in reversed(anchors):  # the furthest along first
        for chain, (seq, _digest) in _heads_of(a).items():
            head_seq = heads.get(chain, (0, None))[0]
            if seq > head_seq:
                where = f"chain {chain} ends" if len(heads) > 1 or chain != 1 else "the chain ends"
                return {
                    "seq": head_seq + 1,
                    "what": "anchor",
                    **({"chain": chain} if chain != 1 or len(heads) > 1 else {}),
                    "detail": f"anchor {a['name']} (written {a['anchored_at']}) holds seq {seq}, but {where} "
                    f"at seq {head_seq}: events after {head_seq} were removed and the head moved back",
                }
            if seq > 0:
                wanted.add(seq)
    if not wanted:
        return None
    stored = {
        row.seq: (row.hash, row.chain)
        for row in db.session.execute(
            select(AuditEvent.seq, AuditEvent.hash, AuditEvent.chain).where(AuditEvent.seq.in_(sorted(wanted)))
        )
    }
    for a in anchors:
        for chain, (seq, digest) in sorted(_heads_of(a).items(), key=lambda item: item[1][0]):
            if seq == 0:
                continue
            now_hash, now_chain = stored.get(seq, (None, None))
            if now_hash != digest or now_chain != chain:
                return {
                    "seq": seq,
                    "what": "anchor",
                    **({"chain": chain} if len(heads) > 1 else {}),
                    "detail": f"anchor {a['name']} (written {a['anchored_at']}) holds hash {digest[:16]}… "
                    f"for seq {seq}; the chain now has {str(now_hash)[:16]}…: "
                    "the chain was rewritten from there",
                }
    return None


def check(result):
    """Check a ``verify_chain`` result against every anchor; add ``anchors`` to it, and make
    it not ``ok`` when an anchor shows a cut tail, a rewound head or a rewritten link."""
    keys = public_keys(current_app.config)
    try:
        stored = store().read_all()
    except StorageError as exc:
        raise ServiceUnavailable(f"The anchors could not be read: {exc.message}", code="anchors_unavailable") from exc
    anchors, unsigned, problem = [], None, None
    for name, data in stored:
        try:
            anchor = json.loads(data)
            ok = isinstance(anchor, dict) and isinstance(anchor.get("seq"), int) and _valid(anchor, keys)
        except ValueError:
            ok = False
        if not ok:
            unsigned = unsigned or {
                "seq": None,
                "what": "anchor",
                "detail": f"anchor {name} is not signed by a known anchor key: the anchor store "
                "was written by someone else, or the key is not configured",
            }
            continue
        anchors.append({**anchor, "name": name})
    anchors.sort(key=lambda a: (a["seq"], a["anchored_at"]))
    problem = _against_chains(anchors, audit.heads_in(result["head"]))
    # What the validly signed anchors show about the chain comes first; then a forged one.
    problem = problem or unsigned
    # The latest: written last; of two written at the same instant, the one further along the chain.
    latest = max(anchors, key=lambda a: (a["anchored_at"], a["seq"]), default=None)
    result["anchors"] = {
        "checked": len(anchors),
        "store": store().describe(),
        "latest": None if latest is None else {k: latest[k] for k in ("seq", "hash", "anchored_at")},
    }
    if problem is not None and result["ok"]:
        result["ok"], result["first_broken"] = False, problem
    return result
