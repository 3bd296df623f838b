"""The web pages: the dispatch board, the audit desk and the field app.

They are static shells served by the app; everything they show comes from the JSON
API with the signed-in user's bearer token, so they answer to the same roles and
scopes as any other client. No CDN and no build step: the scripts and Leaflet are
served from ``app/static``.
"""
from flask import Blueprint, current_app, render_template

bp = Blueprint("web", __name__)


def page_config():
    """What the scripts need to know, handed over as data attributes (no inline script)."""
    config = current_app.config
    return {"tile-url": config.get("MAP_TILE_URL") or "", "tile-attribution": config.get("MAP_TILE_ATTRIBUTION") or ""}


@bp.get("/board")
def board():
    return render_template("web/board.html", config=page_config())


@bp.get("/audit")
def audit_desk():
    return render_template("web/audit.html", config=page_config())


@bp.get("/favicon.ico")
def favicon():
    return "", 204
