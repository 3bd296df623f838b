"""Each team's weekly report: last week's portfolio report, day by day, as a CSV file and as
a one-page printable HTML page with its charts drawn server-side as inline SVG (no script,
nothing fetched), written to storage by the ``weekly_reports`` job and downloaded by the
team's supervisors (and auditors and admins).

A week is Monday to Sunday in the team's region's time zone; by default the last whole
week before today there. Running the job again for a week replaces that week's files.
"""
import hashlib
from datetime import timedelta

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import audit, authz, clock, storage
from app.errors import NotFound
from app.extensions import db
from app.models import Team, TeamReport
from app.services import report_export, reports

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}


def last_week(zone, today=None):
    """The Monday of the last whole week before ``today`` (the team's local date)."""
    today = today or clock.today(zone)
    return today - timedelta(days=today.weekday() + 7)


def write_all(day=None, team_codes=None, job_id=None):
    """Write the week's files for every team (or the named ones): the week holding ``day``,
    else each team's last whole week. Returns what was written."""
    stmt = select(Team).options(selectinload(Team.region)).order_by(Team.code)
    if team_codes:
        stmt = stmt.where(Team.code.in_(team_codes))
    written = []
    for team in db.session.scalars(stmt).all():
        monday = day - timedelta(days=day.weekday()) if day is not None else last_week(team.region.timezone)
        row = write_team_week(team, monday, job_id)
        written.append({"team": team.code, "week_start": monday.isoformat(), "report_id": row.id})
    return {"reports": len(written), "written": written}


def write_team_week(team, monday, job_id=None):
    sunday = monday + timedelta(days=6)
    result = reports.report_for(reports.Scope(frozenset({team.id})), monday, sunday, "day")
    csv_bytes = report_export.as_csv(result).encode("utf-8")
    html_bytes = render_page(team, result).encode("utf-8")
    base = f"reports/weekly/team-{team.id}/{monday.isoformat()}"
    store = storage.current()
    store.put(f"{base}.csv", csv_bytes, MEDIA_TYPES["csv"])
    store.put(f"{base}.html", html_bytes, MEDIA_TYPES["html"])
    row = db.session.scalars(select(TeamReport).where(TeamReport.team_id == team.id,
                                                      TeamReport.week_start == monday)).one_or_none()
    if row is None:
        row = TeamReport(team_id=team.id, week_start=monday)
        db.session.add(row)
    row.csv_key, row.html_key = f"{base}.csv", f"{base}.html"
    row.csv_sha256 = hashlib.sha256(csv_bytes).hexdigest()
    row.html_sha256 = hashlib.sha256(html_bytes).hexdigest()
    row.job_id, row.created_at = job_id, clock.now()
    db.session.flush()
    audit.record("report.weekly_written", row, extra={"team": team.code, "week_start": monday.isoformat(),
                                                      "csv_sha256": row.csv_sha256, "html_sha256": row.html_sha256})
    return row


# ---------------------------------------------------------------- the printable page

W, H = 320, 120  # a day chart's drawing area


def _day_bars(groups, value, top=None):
    """Bars of a week of days: (x, y, width, height, label, text) in the SVG's units, the
    tallest ``top`` (by default the largest value)."""
    values = [value(g) or 0 for g in groups]
    top = top or max(values) or 1
    width = W / max(len(values), 1)
    bars = []
    for i, (g, v) in enumerate(zip(groups, values)):
        h = round(H * v / top, 1)
        bars.append({"x": round(i * width + 4, 1), "y": round(H - h, 1), "w": round(width - 8, 1), "h": h,
                     "label": g["key"][5:], "text": v})
    return bars


def _ranked(items, value_key="count"):
    """Horizontal bars for a list of {key, count}: (key, value, width in % of the largest)."""
    top = max((i[value_key] or 0 for i in items), default=0) or 1
    return [{"key": i["key"], "value": i[value_key], "pct": round(100 * (i[value_key] or 0) / top, 1)}
            for i in sorted(items, key=lambda i: -(i[value_key] or 0))[:8]]


def render_page(team, result):
    from app import money

    groups, totals = result["groups"], result["totals"]
    currencies = [m["currency"] for m in totals["money"] or ()]
    recovery = []
    for currency in currencies:
        def paid(g, currency=currency):
            return next((m["recovered_minor"] for m in g["money"] or () if m["currency"] == currency), 0)

        bars = _day_bars(groups, paid)
        for bar in bars:
            bar["text"] = money.to_decimal_string(bar["text"], currency)
        line = next(m for m in totals["money"] if m["currency"] == currency)
        recovery.append({"currency": currency, "bars": bars,
                         "total": money.to_decimal_string(line["recovered_minor"], currency),
                         "outstanding": money.to_decimal_string(line["outstanding_at_start_minor"] or 0, currency),
                         "rate": line["recovery_rate"]})
    return render_template(
        "reports/weekly.html", team=team, result=result, totals=totals, recovery=recovery,
        visits=_day_bars(groups, lambda g: g["visits"]),
        met=_day_bars(groups, lambda g: g["visits_debtor_met"], top=max((g["visits"] for g in groups), default=0)),
        outcomes=_ranked(totals["outcomes"]), flags=_ranked(totals["flags_by_rule"], "per_100_visits"),
        W=W, H=H, made_at=clock.now())


# ---------------------------------------------------------------- listing and downloading

def visible(user, team_code=None):
    """The weekly reports of the teams the user may read (narrowed to one), newest first."""
    scope = reports.resolve_scope(user, team_code)
    stmt = select(TeamReport).options(selectinload(TeamReport.team)).order_by(TeamReport.week_start.desc(),
                                                                             TeamReport.team_id).limit(200)
    if scope.team_ids is not None:
        stmt = stmt.where(TeamReport.team_id.in_(sorted(scope.team_ids)))
    return list(db.session.scalars(stmt))


def open_file(report_id, fmt, user):
    """A weekly report's file, opened, with its media type and a name; the download is on the log."""
    teams = authz.visible_team_ids(user)
    row = db.session.get(TeamReport, report_id)
    if row is None or (teams is not None and row.team_id not in teams):
        raise NotFound("No such report.")
    key = row.csv_key if fmt == "csv" else row.html_key
    audit.record("report.downloaded", row, actor=user,
                 extra={"team": row.team.code, "week_start": row.week_start.isoformat(), "format": fmt,
                        "sha256": row.csv_sha256 if fmt == "csv" else row.html_sha256})
    name = f"weekly-{row.team.code}-{row.week_start.isoformat()}.{fmt}"
    return storage.current().get(key), MEDIA_TYPES[fmt], name
