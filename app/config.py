"""Configuration read from the environment, with a safe embedded default.

Every setting has an environment variable of the same name. With nothing set, the
service runs on a SQLite file and a storage folder under ``instance/``.
"""

import os
from pathlib import Path

from auditchain import MAX_CHAINS

INSECURE_SECRET_KEY = "dev-insecure-secret-key"
ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The configuration is unusable; the message says which setting and why."""


def _int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def normalise_database_url(url):
    """Use the psycopg 3 driver for PostgreSQL URLs however they are spelled."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(instance_path):
    """The settings for this process, from the environment and defaults."""
    instance = Path(instance_path)
    redis_url = os.environ.get("REDIS_URL") or None
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'fieldcollect.db'}"
    return {
        "APP_ENV": os.environ.get("APP_ENV", "production"),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or INSECURE_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "POLICY_PROFILE": os.environ.get("POLICY_PROFILE", "cn"),
        "STORAGE_DIR": os.environ.get("STORAGE_DIR") or str(instance / "storage"),
        "REDIS_URL": redis_url,
        # Login throttling shares its counters across workers when Redis is configured.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Names the counters in Redis, so two deployments (or two test runs) sharing one
        # Redis database do not count each other's failed logins.
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "fieldcollect"),
        # Redis down: count in this process's memory meanwhile (checking Redis again with
        # growing pauses) rather than answer every login with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": bool(redis_url),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per minute"),
        "TOKEN_TTL_MINUTES": _int("TOKEN_TTL_MINUTES", 12 * 60),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        "IMPORT_MAX_BYTES": _int("IMPORT_MAX_BYTES", 64 * 1024 * 1024),
        "DEFAULT_TIMEZONE": os.environ.get("DEFAULT_TIMEZONE", "Asia/Shanghai"),
        "DEFAULT_CURRENCY": os.environ.get("DEFAULT_CURRENCY", "CNY"),
        "S3_BUCKET": os.environ.get("S3_BUCKET") or None,
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL") or None,
        "RECORDING_MAX_BYTES": _int("RECORDING_MAX_BYTES", 50 * 1024 * 1024),
        "VISIT_SERVICE_MINUTES": _int("VISIT_SERVICE_MINUTES", 30),
        # Seconds the engine may spend on a plan (unset: its own budget, 5 s up to 1,000 tasks).
        "DISPATCH_TIME_LIMIT": float(os.environ["DISPATCH_TIME_LIMIT"])
        if os.environ.get("DISPATCH_TIME_LIMIT")
        else None,
        # Seconds a manual move may spend re-routing the crew's day (inside the request).
        "MOVE_TIME_LIMIT": float(os.environ.get("MOVE_TIME_LIMIT") or 1.0),
        # e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; without it the maps draw plain projected geography.
        "MAP_TILE_URL": os.environ.get("MAP_TILE_URL") or None,
        "MAP_TILE_ATTRIBUTION": os.environ.get("MAP_TILE_ATTRIBUTION") or None,
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "JOB_QUEUE": os.environ.get("JOB_QUEUE", "fieldcollect"),
        "JOB_RETRIES": _int("JOB_RETRIES", 3),
        "JOB_RETRY_INTERVALS": [int(s) for s in os.environ.get("JOB_RETRY_INTERVALS", "10,60,300").split(",") if s],
        "JOB_TIMEOUT": _int("JOB_TIMEOUT", 1800),
        "AUDIT_VERIFY_WORKERS": _int("AUDIT_VERIFY_WORKERS", 1),
        # Chains the audit log is partitioned into (docs/audit-log.md): writers on
        # different chains append at once. Unset: 16, or 1 under APP_ENV=testing (see check).
        **({"AUDIT_CHAINS": _int("AUDIT_CHAINS", 16)} if os.environ.get("AUDIT_CHAINS") else {}),
        # Geocoding address-only debtors (app/services/geocoding.py; docs/addresses.md).
        # GEOCODER is any geopy geocoder by name (nominatim, baiduv3, arcgis, ...); unset with
        # GEOCODER_DOMAIN set means nominatim; both unset: no geocoder, supervisors pin by hand.
        "GEOCODER": os.environ.get("GEOCODER") or ("nominatim" if os.environ.get("GEOCODER_DOMAIN") else None),
        "GEOCODER_DOMAIN": os.environ.get("GEOCODER_DOMAIN") or None,
        "GEOCODER_SCHEME": os.environ.get("GEOCODER_SCHEME") or None,
        "GEOCODER_API_KEY": os.environ.get("GEOCODER_API_KEY") or None,
        "GEOCODER_USER_AGENT": os.environ.get("GEOCODER_USER_AGENT") or "fieldcollect/1.0",
        "GEOCODER_MIN_DELAY_SECONDS": _float("GEOCODER_MIN_DELAY_SECONDS", 1.0),
        "GEOCODER_TIMEOUT_SECONDS": _float("GEOCODER_TIMEOUT_SECONDS", 10.0),
        "GEOCODER_MAX_RETRIES": _int("GEOCODER_MAX_RETRIES", 2),
        "GEOCODER_ERROR_WAIT_SECONDS": _float("GEOCODER_ERROR_WAIT_SECONDS", 5.0),
        "GEOCODER_RETRY_SECONDS": _int("GEOCODER_RETRY_SECONDS", 600),
        "GEOCODER_MAX_ATTEMPTS": _int("GEOCODER_MAX_ATTEMPTS", 6),
        "GEOCODER_MIN_PLACE_RANK": _int("GEOCODER_MIN_PLACE_RANK", 26),
        "GEOCODER_AMBIGUOUS_METRES": _int("GEOCODER_AMBIGUOUS_METRES", 1000),
        "GEOCODER_COUNTRY_CODES": os.environ.get("GEOCODER_COUNTRY_CODES") or None,
        # An OSRM-compatible table service (e.g. http://osrm:5000): planning then uses road
        # durations and distances; unset, the engine's own travel model.
        "ROUTING_URL": os.environ.get("ROUTING_URL") or None,
        "ROUTING_PROFILE": os.environ.get("ROUTING_PROFILE", "driving"),
        "ROUTING_MAX_LOCATIONS": _int("ROUTING_MAX_LOCATIONS", 100),
        "ROUTING_TIMEOUT_SECONDS": _float("ROUTING_TIMEOUT_SECONDS", 30.0),
        # Testing and development only: the served app's clock starts at this instant (ISO 8601).
        "CLOCK_START": os.environ.get("CLOCK_START") or None,
        # Testing and development only: a file the tests write the served app's time into.
        "CLOCK_FILE": os.environ.get("CLOCK_FILE") or None,
        # Personal data at rest (app/crypto.py): AES-256-GCM keys "id:base64,..." (the first
        # encrypts) and the blind index's HMAC key. Development keys when unset; production refuses.
        "PII_ENCRYPTION_KEYS": os.environ.get("PII_ENCRYPTION_KEYS") or None,
        "PII_INDEX_KEY": os.environ.get("PII_INDEX_KEY") or None,
        # Anchors of the audit chain (app/anchors.py): where they are written, and the Ed25519
        # key that signs them (base64 of the 32-byte private key, or a PEM file).
        "ANCHOR_DIR": os.environ.get("ANCHOR_DIR") or str(instance / "anchors"),
        "ANCHOR_S3_BUCKET": os.environ.get("ANCHOR_S3_BUCKET") or None,
        "ANCHOR_S3_ENDPOINT_URL": os.environ.get("ANCHOR_S3_ENDPOINT_URL") or None,
        "ANCHOR_LOCK_DAYS": _int("ANCHOR_LOCK_DAYS", 3653),
        "ANCHOR_SIGNING_KEY": os.environ.get("ANCHOR_SIGNING_KEY") or None,
        "ANCHOR_SIGNING_KEY_FILE": os.environ.get("ANCHOR_SIGNING_KEY_FILE") or None,
        # Extra public keys (base64, comma-separated) whose anchors verify: keys rotated out.
        "ANCHOR_PUBLIC_KEYS": os.environ.get("ANCHOR_PUBLIC_KEYS") or None,
        # Strict-Transport-Security on every answer in production (0 withdraws it).
        "HSTS_MAX_AGE": _int("HSTS_MAX_AGE", 31536000),
        "HSTS_INCLUDE_SUBDOMAINS": os.environ.get("HSTS_INCLUDE_SUBDOMAINS", "true").lower()
        not in ("0", "false", "no"),
        "HSTS_PRELOAD": os.environ.get("HSTS_PRELOAD", "false").lower() in ("1", "true", "yes"),
    }


def check(config):
    """Refuse to start with a configuration that is unsafe or unusable."""
    env = config["APP_ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    if env == "production" and config["SECRET_KEY"] in ("", None, INSECURE_SECRET_KEY):
        raise ConfigError(
            "SECRET_KEY is not set: in production (APP_ENV=production, the default) the service "
            "refuses to start without a secret key of its own. Set SECRET_KEY to a long random "
            "value, or APP_ENV=development to run locally."
        )
    for name in ("CLOCK_START", "CLOCK_FILE"):
        if config.get(name) and env == "production":
            raise ConfigError(f"{name} is for testing and development: production runs on the real clock")
    if len(config["SECRET_KEY"]) < 16 and env == "production":
        raise ConfigError("SECRET_KEY is too short: use at least 16 random characters")
    _check_pii_keys(config)
    if config.get("GEOCODER"):
        from geopy.geocoders import get_geocoder_for_service

        try:
            get_geocoder_for_service(config["GEOCODER"])
        except Exception:  # geopy's GeocoderNotFound
            raise ConfigError(f"GEOCODER: geopy has no geocoder named {config['GEOCODER']!r}") from None
    if config.get("GEOCODER_MIN_DELAY_SECONDS", 0) < 0:
        raise ConfigError("GEOCODER_MIN_DELAY_SECONDS must be 0 or more")
    # Unset: one chain. More chains let writers append at once, but an auditor's
    # incremental pull at the live head may pass an event that commits late (docs/audit-log.md, "Chains"):
    # a lender turns it on knowingly, with every process restarted.
    config.setdefault("AUDIT_CHAINS", 1)
    if not 1 <= config["AUDIT_CHAINS"] <= MAX_CHAINS:
        raise ConfigError(f"AUDIT_CHAINS must be from 1 to {MAX_CHAINS}, got {config['AUDIT_CHAINS']}")
    if config.get("HSTS_MAX_AGE", 0) < 0:
        raise ConfigError("HSTS_MAX_AGE must be 0 or more seconds")


def _check_pii_keys(config):
    """Development and testing may run on the built-in development keys; production may not."""
    from app import crypto

    for name, development in (
        ("PII_ENCRYPTION_KEYS", crypto.DEVELOPMENT_ENCRYPTION_KEYS),
        ("PII_INDEX_KEY", crypto.DEVELOPMENT_INDEX_KEY),
    ):
        if not config.get(name):
            if config["APP_ENV"] == "production":
                raise ConfigError(
                    f"{name} is not set: in production national ids and phone numbers are encrypted with keys of "
                    "your own, kept outside the database (see docs/personal-data.md). Generate them with "
                    "`flask pii keygen`."
                )
            config[name] = development
        elif config["APP_ENV"] == "production" and development in config[name]:
            raise ConfigError(f"{name}: the development key may not be used in production")
