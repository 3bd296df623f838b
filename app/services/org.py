"""Regions and teams: the geography that scopes supervisors and plans."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import audit, authz, policy
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Region, Team, User
from app.services.common import Data, by_code, snapshot, unique_or_fail

_ZONES: set[str] | None = None


def check_timezone(name: str, field: str = "timezone") -> str:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    if name not in _ZONES:
        raise ValidationFailed(
            "Unknown time zone.", fields={field: ["must be an IANA time zone such as Asia/Shanghai"]}
        )
    return name


def check_profile(profile_id: str | None) -> None:
    """A region or team may name another policy profile, but only one that exists."""
    if profile_id is not None and profile_id not in policy.current().profiles:
        raise ValidationFailed(
            "Unknown policy profile.",
            fields={"policy_profile": [f"must be one of {', '.join(sorted(policy.current().profiles))}"]},
        )


def create_region(data: Data) -> Region:
    unique_or_fail(Region, "code", data["code"])
    check_timezone(data["timezone"])
    check_profile(data.get("policy_profile"))
    region = Region(
        code=data["code"], name=data["name"], timezone=data["timezone"], policy_profile=data.get("policy_profile")
    )
    db.session.add(region)
    db.session.flush()
    audit.record("region.created", region, after=snapshot(region, ("code", "name", "timezone", "policy_profile")))
    return region


def create_team(data: Data) -> Team:
    unique_or_fail(Team, "code", data["code"])
    region = by_code(Region, data["region"], "region")
    check_profile(data.get("policy_profile"))
    team = Team(code=data["code"], name=data["name"], region_id=region.id, policy_profile=data.get("policy_profile"))
    db.session.add(team)
    db.session.flush()
    audit.record(
        "team.created", team, after={**snapshot(team, ("code", "name", "policy_profile")), "region": region.code}
    )
    return team


def list_regions() -> dict[str, Any]:
    return {"items": db.session.scalars(select(Region).order_by(Region.code)).all()}


def list_teams(user: User) -> dict[str, Any]:
    stmt = authz.scope(select(Team).options(selectinload(Team.region)), Team, user)
    return {"items": db.session.scalars(stmt.order_by(Team.code)).all()}
