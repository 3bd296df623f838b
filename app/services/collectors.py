"""Collectors, the crews they visit in, and their training records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import audit, authz
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Collector, Crew, TrainingRecord, User
from app.services import door
from app.services.common import Data, apply, paginate, snapshot, unique_or_fail

COLLECTOR_FIELDS = (
    "code",
    "name",
    "team_id",
    "crew_id",
    "home_lat",
    "home_lon",
    "languages",
    "shift_start",
    "shift_end",
    "daily_capacity",
    "background_cleared",
    "active",
    "user_id",
)
EDITABLE = (
    "name",
    "home_lat",
    "home_lon",
    "languages",
    "shift_start",
    "shift_end",
    "daily_capacity",
    "background_cleared",
    "active",
)


def _flatten_home(data: Data) -> dict[str, Any]:
    data = dict(data)
    home = data.pop("home", None)
    if home is not None:
        data["home_lat"], data["home_lon"] = home["lat"], home["lon"]
    return data


def _check_shift(start: time, end: time) -> None:
    if start >= end:
        raise ValidationFailed(
            "The shift must end after it starts.", fields={"shift_end": ["must be after shift_start"]}
        )


def _agent_user(username: str, exclude_collector_id: int | None = None) -> User:
    user = db.session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or user.role != "agent":
        raise ValidationFailed("No agent account with that username.", fields={"user": ["must name an agent account"]})
    taken = db.session.scalars(select(Collector.id).where(Collector.user_id == user.id)).first()
    if taken is not None and taken != exclude_collector_id:
        raise ValidationFailed(
            "That account already belongs to another collector.", fields={"user": ["already linked"]}
        )
    return user


def create_collector(data: Data, actor: User) -> Collector:
    data = _flatten_home(data)
    unique_or_fail(Collector, "code", data["code"])
    team = authz.writable_team(actor, data["team"])
    _check_shift(data["shift_start"], data["shift_end"])
    collector = Collector(team_id=team.id, code=data["code"], languages=data.get("languages", []))
    apply(collector, data, EDITABLE)
    if data.get("user"):
        collector.user_id = _agent_user(data["user"]).id
    db.session.add(collector)
    db.session.flush()
    audit.record("collector.created", collector, after=snapshot(collector, COLLECTOR_FIELDS))
    return collector


def update_collector(collector: Collector, data: Data, actor: User) -> Collector:
    data = _flatten_home(data)
    before = snapshot(collector, COLLECTOR_FIELDS)
    if "team" in data:
        team = authz.writable_team(actor, data["team"])
        if collector.crew_id is not None and collector.crew.team_id != team.id:
            raise ValidationFailed(
                "Take the collector out of their crew before moving team.",
                fields={"team": ["collector is in a crew of another team"]},
            )
        collector.team_id = team.id
    apply(collector, data, EDITABLE)
    _check_shift(collector.shift_start, collector.shift_end)
    if "user" in data:
        collector.user_id = _agent_user(data["user"], collector.id).id if data["user"] else None
    db.session.flush()
    audit.record("collector.updated", collector, before=before, after=snapshot(collector, COLLECTOR_FIELDS))
    if collector.crew_id is not None:
        # Deactivated, vetting withdrawn: the crew's committed visits are judged again.
        door.withdraw_unlawful(crew_ids=[collector.crew_id], cause="collector.updated")
    return collector


def add_training(collector: Collector, data: Data) -> TrainingRecord:
    if data["expires_at"] <= data["passed_at"]:
        raise ValidationFailed(
            "A training must expire after it was passed.", fields={"expires_at": ["must be after passed_at"]}
        )
    record = TrainingRecord(
        collector_id=collector.id,
        module=data["module"],
        passed_at=data["passed_at"],
        expires_at=data["expires_at"],
        certificate_ref=data.get("certificate_ref"),
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "training.recorded",
        record,
        after={
            **snapshot(record, ("module", "passed_at", "expires_at", "certificate_ref")),
            "collector": collector.code,
        },
    )
    return record


def _members(codes: Sequence[str], team_id: int, actor: User, crew_id: int | None = None) -> list[Collector]:
    if len(set(codes)) != len(codes):
        raise ValidationFailed("A collector is listed twice.", fields={"members": ["duplicate collector"]})
    members = []
    for code in codes:
        collector = authz.visible_collector(actor, code, "members")
        if collector.team_id != team_id:
            raise ValidationFailed(f"{code} is in another team.", fields={"members": [f"{code}: not in this team"]})
        if collector.crew_id is not None and collector.crew_id != crew_id:
            raise ValidationFailed(
                f"{code} is already in another crew.",
                fields={"members": [f"{code}: already in crew {collector.crew.code}"]},
            )
        members.append(collector)
    return members


def create_crew(data: Data, actor: User) -> Crew:
    unique_or_fail(Crew, "code", data["code"])
    team = authz.writable_team(actor, data["team"])
    members = _members(data["members"], team.id, actor)
    crew = Crew(code=data["code"], name=data.get("name", ""), team_id=team.id, active=data.get("active", True))
    db.session.add(crew)
    db.session.flush()
    for collector in members:
        collector.crew_id = crew.id
    db.session.flush()
    audit.record(
        "crew.created",
        crew,
        after={"code": crew.code, "team": team.code, "active": crew.active, "members": [c.code for c in members]},
    )
    return crew


def update_crew(crew: Crew, data: Data, actor: User) -> Crew:
    before = {"name": crew.name, "active": crew.active, "members": [c.code for c in crew.members]}
    if "members" in data:
        members = _members(data["members"], crew.team_id, actor, crew.id)
        for collector in list(crew.members):
            if collector not in members:
                collector.crew_id = None
        for collector in members:
            collector.crew_id = crew.id
    apply(crew, data, ("name", "active"))
    db.session.flush()
    db.session.refresh(crew)
    after = {"name": crew.name, "active": crew.active, "members": [c.code for c in crew.members]}
    audit.record("crew.updated", crew, before=before, after=after)
    # A crew that shrank, or was stood down, keeps only the visits it may still make.
    door.withdraw_unlawful(crew_ids=[crew.id], cause="crew.updated")
    return crew


def list_collectors(args: Data, user: User) -> dict[str, Any]:
    stmt = authz.scope(
        select(Collector).options(
            selectinload(Collector.team), selectinload(Collector.crew), selectinload(Collector.user)
        ),
        Collector,
        user,
    )
    if args.get("team"):
        stmt = stmt.where(Collector.team.has(code=args["team"]))
    if args.get("active") is not None:
        stmt = stmt.where(Collector.active == args["active"])
    return paginate(stmt, Collector, args)


def list_crews(args: Data, user: User) -> dict[str, Any]:
    stmt = authz.scope(select(Crew).options(selectinload(Crew.team), selectinload(Crew.members)), Crew, user)
    if args.get("team"):
        stmt = stmt.where(Crew.team.has(code=args["team"]))
    return paginate(stmt, Crew, args)


def list_trainings(collector: Collector) -> dict[str, Any]:
    return {"items": collector.trainings}
