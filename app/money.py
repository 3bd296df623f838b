"""Exact money: integer minor units beside an ISO 4217 code; decimal strings at the API."""
from decimal import Decimal, InvalidOperation

# Minor-unit exponents of the currencies the service is configured for; others default to 2.
EXPONENTS = {"CNY": 2, "USD": 2, "GBP": 2, "EUR": 2, "HKD": 2, "JPY": 0, "KRW": 0}
MAX_MINOR = 10**15  # far beyond any consumer loan; keeps values inside BIGINT and exact


class MoneyError(ValueError):
    pass


def exponent(currency):
    return EXPONENTS.get(currency, 2)


def to_minor(amount, currency):
    """Decimal (or decimal string) in major units → integer minor units, exactly."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise MoneyError("not a decimal amount") from None
    if not value.is_finite():
        raise MoneyError("not a decimal amount")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} has at most {exponent(currency)} decimal places")
    minor = int(scaled)
    if abs(minor) >= MAX_MINOR:
        raise MoneyError("amount is too large")
    return minor


def to_decimal_string(minor, currency):
    """Integer minor units → '1234.50' (as many places as the currency has)."""
    places = exponent(currency)
    value = Decimal(minor).scaleb(-places)
    return f"{value:.{places}f}"
