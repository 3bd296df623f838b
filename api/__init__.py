"""The REST API under /api/v1: one blueprint per resource, one shared edge (``api.base``)."""

from flask import Blueprint


def create_blueprint():
    from api import agreements, auth, cases, collectors, conduct, dispatch, field, jobs, money, openapi, org, users

    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    for module in (auth, users, org, collectors, cases, dispatch, field, agreements, money, conduct, jobs, openapi):
        bp.register_blueprint(module.bp)
    from api import audit, geocoding, reports

    bp.register_blueprint(audit.bp)
    bp.register_blueprint(reports.bp)
    bp.register_blueprint(geocoding.bp)
    return bp
