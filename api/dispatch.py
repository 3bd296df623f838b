"""Planning a day, committing it, and moving tasks by hand."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.schemas.board import BoardOut, BoardQuery
from api.schemas.dispatch import AssignIn, PlanIn, PlanOut, TaskOut, TaskQuery, UnassignIn
from api.schemas.field import MoveOptionsOut
from app.authz import get_visible
from app.models import VisitTask
from app.services import board, dispatch

bp = Blueprint("dispatch", __name__)


@bp.post("/dispatch/plans")
@endpoint(permission="dispatch:plan", body=PlanIn, response=PlanOut, status=201)
def create_plan(data):
    """Plan a day for a team or region: a draft with every task's crew or reason."""
    return dispatch.create_plan(data, g.user)


@bp.get("/dispatch/plans/<id:plan_id>")
@endpoint(permission="dispatch:read", response=PlanOut)
def get_plan(plan_id):
    """A plan, draft or committed."""
    return dispatch.get_plan(plan_id, g.user)


@bp.post("/dispatch/plans/<id:plan_id>/commit")
@endpoint(permission="dispatch:plan", response=PlanOut)
def commit_plan(plan_id):
    """Commit a draft: its tasks are written and the crews' routes set."""
    return dispatch.commit_plan(dispatch.get_plan(plan_id, g.user), g.user)


@bp.get("/tasks")
@endpoint(permission="dispatch:read", query=TaskQuery, response=page_of(TaskOut))
def list_tasks(args):
    """Visit tasks of the caller's teams, by date, status or crew."""
    return dispatch.list_tasks(args, g.user)


@bp.get("/tasks/<id:task_id>/move-options")
@endpoint(permission="dispatch:plan", response=MoveOptionsOut)
def move_options(task_id):
    """Each crew of the task's team and whether a move there would pass the policy and its room now (nothing moves)."""
    return dispatch.move_options(get_visible(VisitTask, task_id, g.user, "task"))


@bp.post("/tasks/<id:task_id>/assign")
@endpoint(permission="dispatch:plan", body=AssignIn, response=TaskOut)
def assign_task(task_id, data):
    """Move a task to a crew by hand; the policy still applies and names the rule if it refuses."""
    return dispatch.assign_task(get_visible(VisitTask, task_id, g.user, "task"), data, g.user)


@bp.post("/tasks/<id:task_id>/unassign")
@endpoint(permission="dispatch:plan", body=UnassignIn, response=TaskOut)
def unassign_task(task_id, data):
    """Take a task off its crew, with a reason."""
    return dispatch.unassign_task(get_visible(VisitTask, task_id, g.user, "task"), data, g.user)


@bp.get("/board")
@endpoint(permission="dispatch:read", query=BoardQuery, response=BoardOut)
def get_board(args):
    """The day's state for the dispatch board: crews, positions, routes, statuses, what needs attention."""
    return board.board_state(args, g.user)
