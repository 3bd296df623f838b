"""The amounts the browser's money module is tested on (tests/js/money_cases.json) are
answered by the server's own rules the same way: if app/money.py changes what it takes,
this fails until the cases, and so the browser's parser, follow."""

import json
from pathlib import Path

from app import money

CASES = json.loads((Path(__file__).parents[1] / "js" / "money_cases.json").read_text(encoding="utf-8"))


def server_minor(text, currency):
    try:
        return str(money.to_minor(money.parse(text), currency))
    except money.MoneyError:
        return None


def test_the_server_takes_and_refuses_exactly_the_amounts_the_browser_is_held_to():
    assert {c: money.exponent(c) for c in CASES["digits"]} == CASES["digits"]
    answers = [(c["text"], c["currency"], server_minor(c["text"], c["currency"])) for c in CASES["to_minor"]]
    assert answers == [(c["text"], c["currency"], c["minor"]) for c in CASES["to_minor"]]
    assert any(c["minor"] is None for c in CASES["to_minor"]) and any(c["minor"] for c in CASES["to_minor"])


def test_the_server_writes_minor_units_as_the_browser_does():
    for case in CASES["to_decimal"]:
        assert money.to_decimal_string(int(case["minor"]), case["currency"]) == case["text"], case
