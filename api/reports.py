"""Reports on how collection is going: the portfolio report and the teams' weekly files."""
from flask import Blueprint, Response, g

from api.base import endpoint
from api.report_schemas import PortfolioOut, PortfolioQuery
from app.services import reports, report_export

bp = Blueprint("reports", __name__)


@bp.get("/reports/portfolio")
@endpoint(permission="reports:read", query=PortfolioQuery, response=PortfolioOut,
          streams={"text/csv": "format=csv: one line per group and currency, then the totals (UTF-8 with BOM)."})
def portfolio_report(args):
    """Recovery, promises, contact, visits, conduct and roll rates for a period, grouped one way."""
    result = reports.portfolio(g.user, args["from_"], args["to"], args["group_by"], args.get("team"),
                               args.get("region"))
    if args["format"] == "csv":
        response = Response(report_export.as_csv(result), mimetype="text/csv")
        name = f"portfolio-{args['group_by']}-{args['from_']}-{args['to']}.csv"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return result
