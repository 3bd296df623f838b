"""The web pages: the dispatch board, the audit desk and the field app.

They are static shells served by the app; everything they show comes from the JSON
API with the signed-in user's bearer token, so they answer to the same roles and
scopes as any other client. No CDN and no build step: the scripts and Leaflet are
served from ``app/static``.
"""

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for

bp = Blueprint("web", __name__)

# The field app's shell: everything /field needs to start with no network. The
# service worker caches exactly these (plus the page and its manifest).
# Every module the app imports is here (an offline phone cannot fetch a missing one), and
# so are the translation catalogs fc.js loads; tests/api/test_field_web.py checks that the
# list holds every import of the entry module, followed through.
FIELD_ENTRY = "js/field/app.js"
FIELD_MODULES = (
    "js/fc.js",
    "js/api.js",
    "js/i18n.js",
    "js/money.js",
    "js/map.js",
    "js/field/store.js",
    "js/field/sync.js",
    "js/field/recorder.js",
    "js/field/common.js",
    "js/field/actions.js",
    "js/field/views/shell.js",
    "js/field/views/day.js",
    "js/field/views/stop.js",
    "js/field/views/outcome-form.js",
    "js/field/views/outbox.js",
    FIELD_ENTRY,
)
FIELD_SHELL = (
    "vendor/leaflet/leaflet.css",
    "css/app.css",
    "css/field.css",
    "vendor/leaflet/leaflet.js",
    *FIELD_MODULES,
    "i18n/en.json",
    "i18n/zh-CN.json",
    "field/icon.svg",
    "field/icon-192.png",
    "field/icon-512.png",
)
# Changes whenever the way the shell is cached changes (2: ES modules and JSON catalogs),
# on top of the digest of its files: a phone holding the classic-script shell drops it.
SHELL_FORMAT = 2
FIELD_SCOPE = "/field"


def page_config():
    """What the scripts need to know, handed over as data attributes (no inline script)."""
    config = current_app.config
    limit = config.get("DISPATCH_TIME_LIMIT")
    return {
        "tile-url": config.get("MAP_TILE_URL") or "",
        "tile-attribution": config.get("MAP_TILE_ATTRIBUTION") or "",
        # The planner's budget, for the board's progress line (empty: it depends on the day's size).
        "plan-seconds": f"{limit:g}" if limit else "",
    }


@bp.get("/")
def home():
    """The landing page: the four ways in, and the demo accounts in development only."""
    from app.services.demo import CREDENTIALS

    env = current_app.config["APP_ENV"]
    return render_template("web/home.html", env=env, demo_accounts=CREDENTIALS if env == "development" else ())


@bp.get("/board")
def board():
    return render_template("web/board.html", config=page_config())


@bp.get("/board/performance")
def performance():
    """Charts of the portfolio report (GET /api/v1/reports/portfolio): supervisors, and
    auditors read-only (the page only reads)."""
    return render_template("web/performance.html")


@bp.get("/audit")
def audit_desk():
    return render_template("web/audit.html", config=page_config())


@bp.get("/favicon.ico")
def favicon():
    return "", 204


# ---------------------------------------------------------------- the field app


def _static_path(name):
    return Path(current_app.static_folder) / name


def _shell_version():
    """A digest of the shell's files and the page, so a deploy that changes any of
    them changes the service worker, which then re-caches the shell."""
    digest = hashlib.sha256(f"shell-format-{SHELL_FORMAT}".encode())
    for name in FIELD_SHELL + ("js/field/sw.js",):
        digest.update(name.encode())
        digest.update(_static_path(name).read_bytes())
    template = Path(current_app.root_path) / current_app.template_folder / "web" / "field.html"
    digest.update(template.read_bytes())
    digest.update(json.dumps(page_config(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


@bp.get("/field")
def field_app():
    return render_template(
        "web/field.html",
        config=page_config(),
        scope=FIELD_SCOPE,
        entry=url_for("static", filename=FIELD_ENTRY),
        modules=[url_for("static", filename=name) for name in FIELD_MODULES],
    )


@bp.get("/field/manifest.webmanifest")
def field_manifest():
    manifest = {
        "name": "fieldcollect · 外访",
        "short_name": "外访 Field",
        "id": FIELD_SCOPE,
        "start_url": FIELD_SCOPE,
        "scope": FIELD_SCOPE,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f8fafc",
        "theme_color": "#0f172a",
        "description": "The day's home visits: route, check-in, outcome, agreement, recording; works offline.",
        "icons": [
            {"src": url_for("static", filename="field/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": url_for("static", filename="field/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {
                "src": url_for("static", filename="field/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any maskable",
            },
        ],
    }
    return Response(json.dumps(manifest, ensure_ascii=False), mimetype="application/manifest+json")


@bp.get("/field/sw.js")
def field_service_worker():
    """The service worker, with the shell's list and version written at its head.

    Served from under /field with ``Service-Worker-Allowed`` so that its scope can be
    ``/field`` itself (the page has no trailing slash), and never from a cache, so
    the browser sees a new version as soon as it is deployed."""
    shell = {
        "version": _shell_version(),
        "scope": FIELD_SCOPE,
        "urls": [FIELD_SCOPE, url_for("web.field_manifest")]
        + [url_for("static", filename=name) for name in FIELD_SHELL],
    }
    source = _static_path("js/field/sw.js").read_text(encoding="utf-8")
    body = f"self.FC_SHELL = {json.dumps(shell)};\n{source}"
    response = Response(body, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = FIELD_SCOPE
    response.headers["Cache-Control"] = "no-cache"
    return response
