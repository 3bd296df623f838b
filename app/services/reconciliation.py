"""The day's money per team, read from the ledger: received, allocated to instalments,
left on cases, credits, refunds; and the payments whose loan reference named no case.

A team's day is its region's calendar day. Every figure is a sum of ledger rows (so the
report ties back to the ledger by construction, and a test ties it back independently):
``received = allocated + left_on_cases + credits`` for each team and currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app import authz, money
from app.extensions import db
from app.models import Case, LedgerEntry, Team, UnmatchedPayment, User

KINDS = {"payment": "received", "allocation": "allocated", "credit": "credits", "refund": "refunds"}


def _bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), ZoneInfo(zone))
    return start, start + timedelta(days=1)


def report(day: date, user: User, team_code: str | None = None) -> dict[str, Any]:
    teams = db.session.scalars(authz.scope(select(Team), Team, user).order_by(Team.code)).all()
    if team_code is not None:
        teams = [t for t in teams if t.code == team_code]
        if not teams:
            from app.errors import ValidationFailed

            raise ValidationFailed("No such team among yours.", fields={"team": ["not one of your teams"]})
    lines = []
    for team in teams:
        start, end = _bounds(day, team.region.timezone)
        sums = {}
        for currency, kind, count, total in db.session.execute(
            select(LedgerEntry.currency, LedgerEntry.kind, func.count(), func.sum(LedgerEntry.amount_minor))
            .join(Case, Case.id == LedgerEntry.case_id)
            .where(
                Case.team_id == team.id,
                LedgerEntry.kind.in_(tuple(KINDS)),
                LedgerEntry.created_at >= start,
                LedgerEntry.created_at < end,
            )
            .group_by(LedgerEntry.currency, LedgerEntry.kind)
        ):
            sums.setdefault(currency, {})[kind] = (count, int(total))
        for currency in sorted(sums):
            figures = {name: sums[currency].get(kind, (0, 0))[1] for kind, name in KINDS.items()}
            figures["left_on_cases"] = figures["received"] - figures["allocated"] - figures["credits"]
            lines.append(
                {
                    "team": team.code,
                    "currency": currency,
                    "payments": sums[currency].get("payment", (0, 0))[0],
                    **{k: money.to_decimal_string(v, currency) for k, v in figures.items()},
                    "minor": figures,
                }
            )
    # Unmatched payments have no case, so no team: listed for whoever reads every team.
    unmatched = []
    if authz.visible_team_ids(user) is None and team_code is None:
        start, end = _bounds(day, "UTC")
        unmatched = [
            {
                "reference": u.reference,
                "loan_ref": u.loan_ref,
                "currency": u.currency,
                "amount": money.to_decimal_string(u.amount_minor, u.currency),
                "paid_at": u.paid_at,
                "received_at": u.received_at,
            }
            for u in db.session.scalars(
                select(UnmatchedPayment)
                .where(UnmatchedPayment.received_at >= start, UnmatchedPayment.received_at < end)
                .order_by(UnmatchedPayment.id)
            )
        ]
    return {"date": day, "teams": lines, "unmatched": unmatched}


CSV_COLUMNS = ("team", "currency", "payments", "received", "allocated", "left_on_cases", "credits", "refunds")


def as_csv(result: Mapping[str, Any]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("date", *CSV_COLUMNS, "reference", "loan_ref"))
    for line in result["teams"]:
        writer.writerow((result["date"].isoformat(), *(line[c] for c in CSV_COLUMNS), "", ""))
    for item in result["unmatched"]:
        writer.writerow(
            (
                result["date"].isoformat(),
                "",
                item["currency"],
                1,
                item["amount"],
                "",
                "",
                "",
                "",
                item["reference"],
                item["loan_ref"],
            )
        )
    return out.getvalue()
