"""Regions and teams."""

from flask import Blueprint, g
from marshmallow import Schema, fields

from api.base import endpoint
from api.schemas.organisation import RegionIn, RegionOut, TeamIn, TeamOut
from app.services import org

bp = Blueprint("org", __name__)

RegionList = type("RegionList", (Schema,), {"items": fields.List(fields.Nested(RegionOut))})
TeamList = type("TeamList", (Schema,), {"items": fields.List(fields.Nested(TeamOut))})


@bp.get("/regions")
@endpoint(permission="org:read", response=RegionList)
def list_regions():
    """Every region."""
    return org.list_regions()


@bp.post("/regions")
@endpoint(permission="org:manage", body=RegionIn, response=RegionOut, status=201)
def create_region(data):
    """Create a region with its time zone and optional policy profile."""
    return org.create_region(data)


@bp.get("/teams")
@endpoint(permission="org:read", response=TeamList)
def list_teams():
    """The teams the caller may see."""
    return org.list_teams(g.user)


@bp.post("/teams")
@endpoint(permission="org:manage", body=TeamIn, response=TeamOut, status=201)
def create_team(data):
    """Create a team in a region."""
    return org.create_team(data)
