"""Helpers every service uses: audit snapshots, lookups that fail as the API expects, keyset pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

from sqlalchemy import Select, select

from app.errors import NotFound, ValidationFailed
from app.extensions import db

# What a view hands a service: a request body or query string validated by its schema.
Data = Mapping[str, Any]
_M = TypeVar("_M")


def snapshot(obj: object, names: Iterable[str]) -> dict[str, Any]:
    """Plain JSON-able values of some attributes, for audit before/after."""
    out = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, time):
            value = value.strftime("%H:%M")
        elif isinstance(value, (list, dict)):
            value = value.copy()
        out[name] = value
    return out


def apply(obj: object, data: Data, names: Iterable[str]) -> None:
    """Set the attributes named in ``names`` that ``data`` carries."""
    for name in names:
        if name in data:
            setattr(obj, name, data[name])


def by_code(model: type[_M], code: str, field: str, what: str | None = None) -> _M:
    """Resolve a reference given by code, as a field error when it does not exist."""
    row = db.session.scalars(select(model).where(model.code == code)).one_or_none()
    if row is None:
        raise ValidationFailed(f"No {what or field} with code {code!r}.", fields={field: ["does not exist"]})
    return row


def require_row(model: type[_M], ident: int, what: str) -> _M:
    row = db.session.get(model, ident)
    if row is None:
        raise NotFound(f"No such {what}.")
    return row


def unique_or_fail(
    model: type[Any], field: str, value: object, *, exclude_id: int | None = None, message: str | None = None
) -> None:
    stmt = select(model.id).where(getattr(model, field) == value)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if db.session.execute(stmt).first() is not None:
        raise ValidationFailed(message or f"{field} is already taken.", fields={field: ["already exists"]})


def paginate(stmt: Select[Any], model: type[Any], args: Data) -> dict[str, Any]:
    """Keyset pagination on the primary key: stable under inserts, no OFFSET scans."""
    if args.get("after") is not None:
        stmt = stmt.where(model.id > args["after"])
    rows = db.session.scalars(stmt.order_by(model.id).limit(args["limit"] + 1)).all()
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return {"items": rows, "next_after": rows[-1].id if more else None}
