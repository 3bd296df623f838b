"""Conduct flags, complaints and collectors' conduct records."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.schemas.conduct import (
    ComplaintIn,
    ComplaintOut,
    ComplaintQuery,
    ComplaintUpdate,
    ConductRecordOut,
    FlagOut,
    FlagQuery,
    PeriodQuery,
    ReviewIn,
)
from app.authz import get_visible
from app.models import Collector
from app.services import conduct

bp = Blueprint("conduct", __name__)


@bp.get("/conduct/flags")
@endpoint(permission="flags:read", query=FlagQuery, response=page_of(FlagOut))
def list_flags(args):
    """Conduct flags of the caller's teams, by status, kind, collector, time."""
    return conduct.list_flags(args, g.user)


@bp.get("/conduct/flags/<id:flag_id>")
@endpoint(permission="flags:read", response=FlagOut)
def get_flag(flag_id):
    """One conduct flag."""
    return conduct.get_flag(flag_id, g.user)


@bp.post("/conduct/flags/<id:flag_id>/review")
@endpoint(permission="flags:review", body=ReviewIn, response=FlagOut)
def review_flag(flag_id, data):
    """Review a flag with notes: reviewed, resolved or dismissed."""
    return conduct.review_flag(conduct.get_flag(flag_id, g.user), data, g.user)


@bp.get("/complaints")
@endpoint(permission="complaints:read", query=ComplaintQuery, response=page_of(ComplaintOut))
def list_complaints(args):
    """Complaints about the caller's teams."""
    return conduct.list_complaints(args, g.user)


@bp.post("/complaints")
@endpoint(permission="complaints:write", body=ComplaintIn, response=ComplaintOut, status=201)
def create_complaint(data):
    """Take a complaint from any channel; it raises a flag and keeps the named collector away."""
    return conduct.create_complaint(data, g.user)


@bp.post("/complaints/<id:complaint_id>/resolve")
@endpoint(permission="complaints:write", body=ComplaintUpdate, response=ComplaintOut)
def resolve_complaint(complaint_id, data):
    """Move a complaint to review or resolve it with notes."""
    return conduct.resolve_complaint(conduct.get_complaint(complaint_id, g.user), data, g.user)


@bp.get("/collectors/<id:collector_id>/conduct")
@endpoint(permission="flags:read", query=PeriodQuery, response=ConductRecordOut)
def conduct_record(collector_id, args):
    """A collector's record over a period: visits, flags, complaints, agreements."""
    collector = get_visible(Collector, collector_id, g.user, "collector")
    return conduct.conduct_record(collector, args["since"], args["until"])
