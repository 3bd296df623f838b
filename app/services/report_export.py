"""The portfolio report as a CSV file (UTF-8 with a BOM, so Excel reads Chinese names).

One line per group and currency (a group with no money has one line, currency blank),
then the totals; the outcome mix, flags by rule and roll rates as columns named
``outcome:<code>``, ``flags:<rule id>`` and ``roll:<from>><to>`` (the union over the groups).
"""

import csv
import io

from app import money
from app.services.audit_log import spreadsheet_safe

BOM = "\ufeff"
COUNTS = (
    "promises_made",
    "promises_kept",
    "promises_broken",
    "promise_kept_rate",
    "remote_attempts",
    "remote_debtor_met",
    "remote_contact_rate",
    "visits",
    "visits_debtor_met",
    "field_contact_rate",
    "crew_days",
    "visits_per_crew_day",
    "door_visits_timed",
    "door_minutes_avg",
    "flags",
    "flags_per_100_visits",
    "complaints",
)
MONEY = (
    "currency",
    "payments",
    "recovered",
    "recovered_minor",
    "outstanding_at_start",
    "outstanding_at_start_minor",
    "recovery_rate",
)


def _cell(value):
    return "" if value is None else value


def _amount(minor, currency):
    return "" if minor is None else money.to_decimal_string(minor, currency)


def rows(result):
    """The header and the lines, as lists of cells."""
    lines = [*result["groups"], result["totals"]]
    outcomes = sorted({o["key"] for line in lines for o in line["outcomes"]})
    rules = sorted({f["key"] for line in lines for f in line["flags_by_rule"]})
    rolls = sorted({(r["from_bucket"], r["to_bucket"]) for line in lines for r in line["roll_rates"] or ()})
    header = [
        "from",
        "to",
        "group_by",
        "key",
        "label",
        *MONEY,
        *COUNTS,
        *(f"outcome:{o}" for o in outcomes),
        *(f"flags:{r}" for r in rules),
        *(f"roll:{a}>{b}" for a, b in rolls),
    ]
    out = [header]
    for line in lines:
        mix = {o["key"]: o["count"] for o in line["outcomes"]}
        by_rule = {f["key"]: f["count"] for f in line["flags_by_rule"]}
        roll = {(r["from_bucket"], r["to_bucket"]): r["rate"] for r in line["roll_rates"] or ()}
        tail = [
            *(_cell(line[c]) for c in COUNTS),
            *(mix.get(o, 0) for o in outcomes),
            *(by_rule.get(r, 0) for r in rules),
            *(_cell(roll.get(p)) for p in rolls),
        ]
        head = [
            result["from"].isoformat(),
            result["to"].isoformat(),
            result["group_by"],
            spreadsheet_safe(line["key"]),
            spreadsheet_safe(line.get("label", "")),  # names typed by people: no formula in Excel
        ]
        for m in line["money"] or [None]:
            if m is None:
                cells = [""] * len(MONEY)
            else:
                c = m["currency"]
                cells = [
                    c,
                    m["payments"],
                    _amount(m["recovered_minor"], c),
                    m["recovered_minor"],
                    _amount(m["outstanding_at_start_minor"], c),
                    _cell(m["outstanding_at_start_minor"]),
                    _cell(m["recovery_rate"]),
                ]
            out.append([*head, *cells, *tail])
    return out


def as_csv(result):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for cells in rows(result):
        writer.writerow(_safe(c) for c in cells)
    return BOM + buffer.getvalue()


def _safe(value):
    """A cell Excel would run as a formula (=, +, -, @ at the start of text) is quoted as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
