"""The server's currencies and minor digits (CLDR through Babel) against the phone's Intl
(Node.js, the same ICU and CLDR family as the phone's browser).

Where Intl disagrees with CLDR's standard digits (Intl follows ICU's own table for a few
currencies), the server's number stands: the route sends the phone ``currency_digits``
and the phone formats and parses with those. This test runs Intl for every active code,
names each disagreement, and checks Intl shows every currency with the server's digits
when told them, so the phone and the server write the same amount the same way."""

import json
import shutil
import subprocess

import pytest

from app import money

# Intl's own digits differ from CLDR's standard ones for these (ICU follows cash/ISO usage).
KNOWN_DIFFERENCES = {"COP", "HUF", "IDR", "PKR", "RSD"}

INTL = """
const codes = JSON.parse(process.argv[1]);
const out = {};
for (const [code, places] of Object.entries(codes)) {
  const own = new Intl.NumberFormat("en", {style: "currency", currency: code}).resolvedOptions().maximumFractionDigits;
  const told = new Intl.NumberFormat("en", {style: "currency", currency: code, currencyDisplay: "code",
    minimumFractionDigits: places, maximumFractionDigits: places, useGrouping: false}).format("1234.5");
  out[code] = [own, told];
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def intl():
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed to compare with Intl (apt-get install nodejs)")
    result = subprocess.run(
        [node, "-e", INTL, json.dumps(money.currencies())], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


def test_the_active_currencies_are_iso_4217_codes_in_use_with_cldrs_digits():
    money.currencies.cache_clear()  # read from CLDR here, not what an earlier test left cached
    table = money.currencies()
    assert 140 <= len(table) <= 200
    assert {"CNY": 2, "USD": 2, "JPY": 0, "KWD": 3, "VND": 0, "ISK": 0, "CLP": 0, "BHD": 3}.items() <= table.items()
    assert not {"XYZ", "DEM", "ZWL", "XAU", "XXX"} & set(table)  # unknown, withdrawn, not legal tender


def test_intl_agrees_with_the_server_on_every_currency_but_the_documented_few(intl):
    differing = {code for code, places in money.currencies().items() if intl[code][0] != places}
    assert differing <= KNOWN_DIFFERENCES, f"Intl now differs on {sorted(differing - KNOWN_DIFFERENCES)}"


def test_told_the_servers_digits_intl_writes_every_currency_with_exactly_them(intl):
    for code, places in money.currencies().items():
        shown = intl[code][1]
        number = shown.replace(code, "").strip().replace("\u00a0", "")
        decimals = len(number.split(".")[1]) if "." in number else 0
        assert decimals == places, (code, shown)
        assert money.to_decimal_string(money.to_minor(money.parse(number), code), code) == number
