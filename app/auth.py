"""Who is calling: passwords, bearer tokens, the current user.

Passwords are hashed with argon2id. A token is 32 random bytes given to the client
once; the database keeps only its SHA-256, its expiry and whether it was revoked.
"""

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app import audit, clock
from app.errors import Unauthorized
from app.extensions import db
from app.models import ApiToken, Collector, User

MIN_PASSWORD_LENGTH = 10
_hashers = {}


def _hasher():
    """argon2id with the library's defaults; tests may ask for cheaper parameters."""
    params = tuple(sorted(current_app.config.get("ARGON2_PARAMS", {}).items()))
    if params not in _hashers:
        _hashers[params] = PasswordHasher(**dict(params))
    return _hashers[params]


def hash_password(password):
    return _hasher().hash(password)


def password_matches(password_hash, password):
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def client_ip():
    if g.get("client_ip"):
        return g.client_ip
    return request.remote_addr or "unknown"


def _token_digest(token):
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def login(username, password):
    """Check the credentials; return (token, expires_at, user)."""
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        # Spend the same time as for a real account, so timing does not reveal usernames.
        password_matches(hash_password("not-a-real-password"), password)
        raise Unauthorized("Wrong username or password.", code="invalid_credentials")
    if not password_matches(user.password_hash, password) or not user.active:
        raise Unauthorized("Wrong username or password.", code="invalid_credentials")
    token = secrets.token_urlsafe(32)
    expires_at = clock.now() + timedelta(minutes=current_app.config["TOKEN_TTL_MINUTES"])
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), expires_at=expires_at))
    audit.record("auth.login", user, actor=user)
    return token, expires_at, user


def logout(token_row):
    token_row.revoked_at = clock.now()
    audit.record("auth.logout", token_row.user, actor=token_row.user)


def revoke_all_tokens(user):
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def authenticate_request():
    """Set ``g.user`` and ``g.token`` from the bearer token, or raise Unauthorized."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>'.", code="missing_token")
    # One round trip for the token, its user and (for an agent) their collector profile
    # with its team and crew (which /me, the route and every field action read).
    collector = joinedload(ApiToken.user).joinedload(User.collector)
    row = (
        db.session.execute(
            select(ApiToken)
            .options(collector.joinedload(Collector.team), collector.joinedload(Collector.crew))
            .where(ApiToken.token_hash == _token_digest(token.strip()))
        )
        .unique()
        .scalar_one_or_none()
    )
    now = clock.now()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("This token is not valid; sign in again.", code="invalid_token")
    if row.expires_at <= now:
        raise Unauthorized("This token has expired; sign in again.", code="token_expired")
    if not row.user.active:
        raise Unauthorized("This account is deactivated.", code="invalid_token")
    g.user, g.token = row.user, row
    g.user_id = row.user.id  # for logging, readable even after the request's transaction is rolled back
    return row.user
