"""Sign in, sign out, who am I."""

from flask import Blueprint, current_app, g, request

from api.base import endpoint
from api.schemas.users import LoginIn, LoginOut, MeOut
from app import auth
from app.extensions import limiter

bp = Blueprint("auth", __name__)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response):
    return response.status_code == 401


def _username_key():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested too deep to parse: not a login; the view answers 400
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    return f"login-user:{str(username)[:80].lower()}"


@bp.post("/auth/login")
@limiter.limit(_login_limit, deduct_when=_failed)
@limiter.limit(_login_limit, key_func=_username_key, deduct_when=_failed)
@endpoint(permission=None, body=LoginIn, response=LoginOut)
def login(data):
    """Sign in; answers a bearer token and when it expires. Repeated failures answer 429."""
    token, expires_at, user = auth.login(data["username"], data["password"])
    return {"access_token": token, "token_type": "Bearer", "expires_at": expires_at, "user": user}


@bp.post("/auth/logout")
@endpoint(permission="me:read", status=204)
def logout():
    """Revoke the token this request was sent with."""
    auth.logout(g.token)


@bp.get("/me")
@endpoint(permission="me:read", response=MeOut)
def me():
    """The caller: role, team, and for an agent their collector profile."""
    return g.user
