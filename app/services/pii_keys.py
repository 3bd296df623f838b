"""Rotation of the keys that protect personal data at rest (see app/crypto.py)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

from sqlalchemy import Integer, String, Text, bindparam, column, select, table

from app import crypto
from app.extensions import db

_DEBTORS = table(
    "debtors",
    column("id", Integer),
    column("phone", Text),
    column("national_id", Text),
    column("national_id_index", String),
)


def new_keys(key_id: str) -> dict[str, str]:
    """Fresh keys, as the settings hold them."""
    return {
        "PII_ENCRYPTION_KEYS": f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}",
        "PII_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


def rotate_keys(batch_size: int = 1000, commit: Callable[[], None] | None = None) -> dict[str, int]:
    """Re-encrypt every phone and national id under the first key of PII_ENCRYPTION_KEYS (a
    value in clear is encrypted too) and recompute every blind index with PII_INDEX_KEY.

    Reads the stored text as it is (no automatic decryption), in batches by id; ``commit``
    (the CLI's) is called after each batch, so a long table is never one long transaction.
    Running it again changes nothing.
    """
    keyring = crypto.keyring()
    counts = {"debtors": 0, "reencrypted": 0, "reindexed": 0}
    last = 0
    while True:
        rows = db.session.execute(
            select(_DEBTORS).where(_DEBTORS.c.id > last).order_by(_DEBTORS.c.id).limit(batch_size)
        ).all()
        if not rows:
            return counts
        changed = []
        for row in rows:
            values = {
                "key": row.id,
                "phone": row.phone,
                "national_id": row.national_id,
                "national_id_index": row.national_id_index,
            }
            reencrypt = False
            for name in ("phone", "national_id"):
                if not keyring.is_current(values[name]):
                    values[name] = keyring.encrypt(keyring.decrypt(values[name], f"debtors.{name}"), f"debtors.{name}")
                    reencrypt = True
            clear = None if row.national_id is None else keyring.decrypt(row.national_id, "debtors.national_id")
            index = keyring.blind_index(clear, "national_id") if clear else None
            if index != row.national_id_index:
                values["national_id_index"] = index
                counts["reindexed"] += 1
            if reencrypt or index != row.national_id_index:
                counts["reencrypted"] += reencrypt
                changed.append(values)
        if changed:
            db.session.execute(
                _DEBTORS.update()
                .where(_DEBTORS.c.id == bindparam("key"))
                .values(
                    phone=bindparam("phone"),
                    national_id=bindparam("national_id"),
                    national_id_index=bindparam("national_id_index"),
                ),
                changed,
            )
        counts["debtors"] += len(rows)
        last = rows[-1].id
        if commit is not None:
            commit()
