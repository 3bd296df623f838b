"""Collectors, crews and training records."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.schemas.organisation import (
    CollectorIn,
    CollectorOut,
    CollectorQuery,
    CollectorUpdate,
    CrewIn,
    CrewOut,
    CrewQuery,
    CrewUpdate,
    TrainingIn,
    TrainingList,
    TrainingOut,
)
from app.authz import get_visible
from app.models import Collector, Crew
from app.services import collectors

bp = Blueprint("collectors", __name__)


@bp.get("/collectors")
@endpoint(permission="collectors:read", query=CollectorQuery, response=page_of(CollectorOut))
def list_collectors(args):
    """Collectors of the caller's teams."""
    return collectors.list_collectors(args, g.user)


@bp.post("/collectors")
@endpoint(permission="collectors:write", body=CollectorIn, response=CollectorOut, status=201)
def create_collector(data):
    """Register a collector: home base, team, languages, shift, daily capacity."""
    return collectors.create_collector(data, g.user)


@bp.get("/collectors/<id:collector_id>")
@endpoint(permission="collectors:read", response=CollectorOut)
def get_collector(collector_id):
    """One collector."""
    return get_visible(Collector, collector_id, g.user)


@bp.patch("/collectors/<id:collector_id>")
@endpoint(permission="collectors:write", body=CollectorUpdate, response=CollectorOut, partial=True)
def update_collector(collector_id, data):
    """Change a collector's details."""
    return collectors.update_collector(get_visible(Collector, collector_id, g.user), data, g.user)


@bp.get("/collectors/<id:collector_id>/trainings")
@endpoint(permission="collectors:read", response=TrainingList)
def list_trainings(collector_id):
    """A collector's training records, oldest first."""
    return collectors.list_trainings(get_visible(Collector, collector_id, g.user))


@bp.post("/collectors/<id:collector_id>/trainings")
@endpoint(permission="collectors:write", body=TrainingIn, response=TrainingOut, status=201)
def add_training(collector_id, data):
    """Record a passed training module and when it expires."""
    return collectors.add_training(get_visible(Collector, collector_id, g.user), data)


@bp.get("/crews")
@endpoint(permission="collectors:read", query=CrewQuery, response=page_of(CrewOut))
def list_crews(args):
    """Crews of the caller's teams."""
    return collectors.list_crews(args, g.user)


@bp.post("/crews")
@endpoint(permission="collectors:write", body=CrewIn, response=CrewOut, status=201)
def create_crew(data):
    """Form a crew of collectors who visit together."""
    return collectors.create_crew(data, g.user)


@bp.get("/crews/<id:crew_id>")
@endpoint(permission="collectors:read", response=CrewOut)
def get_crew(crew_id):
    """One crew."""
    return get_visible(Crew, crew_id, g.user)


@bp.patch("/crews/<id:crew_id>")
@endpoint(permission="collectors:write", body=CrewUpdate, response=CrewOut, partial=True)
def update_crew(crew_id, data):
    """Change a crew's members or stand it down."""
    return collectors.update_crew(get_visible(Crew, crew_id, g.user), data, g.user)
