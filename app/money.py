"""Exact money: integer minor units beside an ISO 4217 code; decimal strings at the API.

One parser for every amount the service takes (the API's ``Money`` field and the CSV
importer both call :func:`parse`): digits, an optional point and at most the
currency's minor digits; no exponent, no sign unless the field allows one, no more
than :data:`MAX_MINOR` minor units. Currency codes and their minor digits come from
CLDR through Babel: the ISO 4217 codes that are legal tender somewhere today.
"""

import functools
import re
from decimal import Decimal

MAX_MINOR = 10**15  # far beyond any consumer loan; keeps values inside BIGINT and exact
MAX_DIGITS = 3  # no active currency has more minor digits (BHD, KWD, …: 3)
# Shape only: at most 15 integer digits, at most MAX_DIGITS decimals. The currency's
# own number of decimals is judged once the currency is known.
_AMOUNT = re.compile(rf"^(-)?(0|[1-9][0-9]{{0,14}})(?:\.([0-9]{{1,{MAX_DIGITS}}}))?$")


class MoneyError(ValueError):
    pass


@functools.cache
def currencies() -> dict[str, int]:
    """{code: minor digits} of the ISO 4217 currencies in use (CLDR's territory data: legal
    tender in some territory, with no end date)."""
    from babel.core import get_global
    from babel.numbers import get_currency_precision

    active = {
        code
        for history in get_global("territory_currencies").values()
        for code, _start, end, tender in history
        if tender and end is None
    }
    return {code: get_currency_precision(code) for code in sorted(active)}


def is_currency(code: object) -> bool:
    return isinstance(code, str) and code in currencies()


def exponent(currency: str) -> int:
    try:
        return currencies()[currency]
    except KeyError:
        raise MoneyError(f"{currency!r} is not an active ISO 4217 currency") from None


def parse(text: object, *, negative: bool = False) -> Decimal:
    """A decimal amount as text (an int is taken as its digits) → ``Decimal``, shape checked.

    Refuses exponents, signs (a leading ``-`` only when ``negative``), floats, blanks and
    amounts past the bound before any arithmetic, so no input can overflow anything.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise MoneyError('send the amount as a decimal string such as "1234.50"')
    match = _AMOUNT.fullmatch(str(text))  # not .match: "$" also matches before a final newline
    if match is None:
        raise MoneyError(
            "not an amount: digits with an optional point and up to 3 decimals, "
            "no exponent" + ("" if negative else ", no sign") + ", below 10^15"
        )
    if match.group(1) and not negative:
        raise MoneyError("must not be negative")
    return Decimal(str(text))


def to_minor(amount: object, currency: str) -> int:
    """A parsed amount (``Decimal``, or text put through :func:`parse`) → integer minor units."""
    if not isinstance(amount, Decimal):
        amount = parse(amount, negative=True)
    places = exponent(currency)
    digits = amount.as_tuple().exponent
    if not isinstance(digits, int):  # NaN or infinity: only a Decimal made elsewhere can be one
        raise MoneyError("not an amount")
    if digits < -places and amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise MoneyError(
            f"{currency} has at most {places} decimal places" if places else f"{currency} has no decimal places"
        )
    minor = int(amount.scaleb(places))
    if abs(minor) >= MAX_MINOR:
        raise MoneyError("amount is too large")
    return minor


def to_decimal_string(minor: int, currency: str) -> str:
    """Integer minor units → '1234.50' (as many places as the currency has)."""
    places = currencies().get(currency, 2)
    value = Decimal(minor).scaleb(-places)
    return f"{value:.{places}f}"
