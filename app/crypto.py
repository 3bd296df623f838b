"""Personal data encrypted at rest, and found again by exact value.

National ids and phone numbers are encrypted in the application with AES-256-GCM before
they reach the database, so a copy of the database (a backup, a replica, a dump on a
laptop) does not hold them in clear. Each value is stored as
``fc1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``; the column's name is the GCM
associated data, so a ciphertext moved to another column does not decrypt.

Keys come from the environment, never from the database:

* ``PII_ENCRYPTION_KEYS``: ``id:base64key,id:base64key,...``, 32-byte keys. The first
  encrypts; every listed key decrypts. Rotation: put a new key first, keep the old ones,
  run ``flask pii rotate-keys`` (re-encrypts every value under the first key), then drop
  the old keys.
* ``PII_INDEX_KEY``: a base64 32-byte key for the blind index: HMAC-SHA256 of the
  normalised value, stored beside the ciphertext, so "the debtor with this national id"
  is one index lookup without decrypting anything. Changing it means re-indexing
  (``flask pii rotate-keys`` does both).

In development and testing, without those variables, fixed development keys are used;
production refuses to start without its own (``app.config.check``).
"""

import base64
import binascii
import hashlib
import hmac
import os

from flask import current_app
from sqlalchemy import Text, TypeDecorator

from app.config import ConfigError

PREFIX = "fc1"
# Development only: production refuses these (config.check).
DEVELOPMENT_ENCRYPTION_KEYS = (
    "dev:" + base64.b64encode(hashlib.sha256(b"fieldcollect development pii").digest()).decode()
)
DEVELOPMENT_INDEX_KEY = base64.b64encode(hashlib.sha256(b"fieldcollect development index").digest()).decode()


def _key(text, setting):
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{setting}: a key is not valid base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{setting}: a key must be 32 bytes (base64 of 32 random bytes), got {len(raw)}")
    return raw


class Keyring:
    """The encryption keys (the first one encrypts) and the blind-index key."""

    def __init__(self, encryption_keys, index_key):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.keys = {}
        for item in (encryption_keys or "").split(","):
            if not item.strip():
                continue
            key_id, sep, text = item.strip().partition(":")
            if not sep or not key_id or ":" in text or not key_id.isalnum():
                raise ConfigError("PII_ENCRYPTION_KEYS: each key is written id:base64key (an id of letters and digits)")
            if key_id in self.keys:
                raise ConfigError(f"PII_ENCRYPTION_KEYS: key id {key_id!r} is listed twice")
            self.keys[key_id] = AESGCM(_key(text, "PII_ENCRYPTION_KEYS"))
        if not self.keys:
            raise ConfigError("PII_ENCRYPTION_KEYS: no key given")
        self.current_id = next(iter(self.keys))
        self.index_key = _key(index_key or "", "PII_INDEX_KEY")

    def encrypt(self, value, column):
        nonce = os.urandom(12)
        sealed = self.keys[self.current_id].encrypt(nonce, value.encode("utf-8"), column.encode())
        return f"{PREFIX}:{self.current_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored, column):
        if not stored.startswith(PREFIX + ":"):
            return stored  # written before encryption: `flask pii rotate-keys` encrypts it
        _, key_id, text = stored.split(":", 2)
        if key_id not in self.keys:
            raise LookupError(
                f"personal data encrypted under key {key_id!r}, which PII_ENCRYPTION_KEYS no longer "
                "lists: add it back (after the new one) and run `flask pii rotate-keys`"
            )
        raw = base64.b64decode(text)
        return self.keys[key_id].decrypt(raw[:12], raw[12:], column.encode()).decode("utf-8")

    def is_current(self, stored):
        return stored is None or stored.startswith(f"{PREFIX}:{self.current_id}:")

    def blind_index(self, value, kind):
        """HMAC-SHA256 of the value, normalised (trimmed, upper case), per kind of value."""
        normalised = value.strip().upper()
        return hmac.new(self.index_key, f"{kind}\x00{normalised}".encode(), hashlib.sha256).hexdigest()


def init_app(app):
    app.extensions["pii_keyring"] = Keyring(app.config.get("PII_ENCRYPTION_KEYS"), app.config.get("PII_INDEX_KEY"))


def keyring():
    return current_app.extensions["pii_keyring"]


def blind_index(value, kind="national_id"):
    return None if value is None or value == "" else keyring().blind_index(value, kind)


class Encrypted(TypeDecorator):
    """A text column whose values are encrypted with the app's current key on the way
    in and decrypted on the way out. Equality in SQL means nothing for it (every
    encryption differs): look values up through their blind index."""

    impl = Text
    cache_ok = True

    def __init__(self, column, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.column = column

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keyring().encrypt(str(value), self.column)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().decrypt(value, self.column)
