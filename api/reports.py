"""Reports on how collection is going: the portfolio report and the teams' weekly files."""
from flask import Blueprint, Response, g

from api.base import endpoint, printable
from api.report_schemas import (
    PortfolioOut,
    PortfolioQuery,
    TeamReportFileQuery,
    TeamReportPage,
    TeamReportQuery,
)
from app.services import report_export, reports, weekly_reports

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


@bp.get("/reports/weekly")
@endpoint(permission="reports:read", query=TeamReportQuery, response=TeamReportPage)
def list_weekly_reports(args):
    """The teams' weekly reports (CSV and printable page) the caller may read, newest week first."""
    return {"items": weekly_reports.visible(g.user, args.get("team"))}


@bp.get("/reports/weekly/<id:report_id>/file")
@endpoint(permission="reports:read", query=TeamReportFileQuery,
          streams={"text/csv": "format=csv: the week's portfolio report by day (UTF-8 with BOM).",
                   "text/html": "format=html: the one-page printable report with its charts (no script)."})
def download_weekly_report(report_id, args):
    """Download a team's weekly report as CSV or as a printable page (the download is logged)."""
    content, media_type, name = weekly_reports.open_file(report_id, args["format"], g.user)
    if args["format"] == "html":
        return printable(content, name)
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
