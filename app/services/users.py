"""Accounts and roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import audit, auth
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Region, Team, User
from app.services.common import Data, by_code, paginate, snapshot, unique_or_fail

FIELDS = ("username", "display_name", "role", "team_id", "region_id", "active")


def _check_password(password: str) -> None:
    if len(password) < auth.MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password must have at least {auth.MIN_PASSWORD_LENGTH} characters.",
            fields={"password": [f"at least {auth.MIN_PASSWORD_LENGTH} characters"]},
        )


def _resolve_scope(data: Data, role: str) -> tuple[int | None, int | None]:
    team_id = region_id = None
    if data.get("team"):
        team_id = by_code(Team, data["team"], "team").id
    if data.get("region"):
        region_id = by_code(Region, data["region"], "region").id
    if role == "supervisor" and team_id is None and region_id is None:
        raise ValidationFailed(
            "A supervisor needs a team or a region.", fields={"team": ["required for a supervisor (or give a region)"]}
        )
    return team_id, region_id


def create_user(data: Data, actor: User | None = None) -> User:
    unique_or_fail(User, "username", data["username"])
    _check_password(data["password"])
    team_id, region_id = _resolve_scope(data, data["role"])
    user = User(
        username=data["username"],
        display_name=data.get("display_name") or data["username"],
        password_hash=auth.hash_password(data["password"]),
        role=data["role"],
        team_id=team_id,
        region_id=region_id,
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, after=snapshot(user, FIELDS), actor=actor)
    return user


def update_user(user: User, data: Data, actor: User | None = None) -> User:
    before = snapshot(user, FIELDS)
    role = data.get("role", user.role)
    if "team" in data or "region" in data or role != user.role:
        merged = {
            "team": data.get("team", user.team.code if user.team else None),
            "region": data.get("region", user.region.code if user.region else None),
        }
        user.team_id, user.region_id = _resolve_scope(merged, role)
    user.role = role
    if "display_name" in data:
        user.display_name = data["display_name"]
    if "password" in data:
        _check_password(data["password"])
        user.password_hash = auth.hash_password(data["password"])
        auth.revoke_all_tokens(user)
    if "active" in data:
        user.active = data["active"]
        if not user.active:
            auth.revoke_all_tokens(user)
    db.session.flush()
    after = snapshot(user, FIELDS)
    audit.record(
        "user.updated",
        user,
        before=before,
        after=after,
        extra={"password_changed": True} if "password" in data else None,
        actor=actor,
    )
    return user


def deactivate_user(user: User, actor: User | None = None) -> User:
    return update_user(user, {"active": False}, actor=actor)


def list_users(args: Data) -> dict[str, Any]:
    stmt = select(User).options(selectinload(User.team), selectinload(User.region))
    if args.get("role"):
        stmt = stmt.where(User.role == args["role"])
    return paginate(stmt, User, args)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user
