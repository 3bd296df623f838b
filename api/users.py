"""Accounts and roles (admin)."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.schemas.users import UserIn, UserOut, UserQuery, UserUpdate
from app.services import users

bp = Blueprint("users", __name__)


@bp.get("/users")
@endpoint(permission="users:manage", query=UserQuery, response=page_of(UserOut))
def list_users(args):
    """List accounts."""
    return users.list_users(args)


@bp.post("/users")
@endpoint(permission="users:manage", body=UserIn, response=UserOut, status=201)
def create_user(data):
    """Create an account with a role."""
    return users.create_user(data, actor=g.user)


@bp.get("/users/<id:user_id>")
@endpoint(permission="users:manage", response=UserOut)
def get_user(user_id):
    """One account."""
    return users.get_user(user_id)


@bp.patch("/users/<id:user_id>")
@endpoint(permission="users:manage", body=UserUpdate, response=UserOut, partial=True)
def update_user(user_id, data):
    """Change role, scope, password or active state; deactivating revokes every token."""
    return users.update_user(users.get_user(user_id), data, actor=g.user)


@bp.delete("/users/<id:user_id>")
@endpoint(permission="users:manage", response=UserOut)
def deactivate_user(user_id):
    """Deactivate an account (kept for the record) and revoke its tokens."""
    return users.deactivate_user(users.get_user(user_id), actor=g.user)
