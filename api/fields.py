"""Strict field types for the API: JSON numbers are numbers, booleans are booleans."""

import re
from datetime import UTC, time

from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from app import money
from app.models import DEBTOR_FLAGS


class StrictFloat(fields.Float):
    """A JSON number; refuses strings such as "31.2" so type errors surface."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# Row ids are 32-bit integer columns (PostgreSQL ``integer``); audit sequence numbers are 64-bit.
ID_MAX = 2**31 - 1
SEQ_MAX = 2**63 - 1


def Integer(**kwargs):
    return fields.Integer(strict=True, **kwargs)


def Id(*, strict=True, **kwargs):
    """A row id (a JSON number; ``strict=False`` in a query string). A number no id column can
    hold is refused with 422, not sent to the database."""
    return fields.Integer(strict=strict, validate=validate.Range(1, ID_MAX), **kwargs)


class IdConverter(IntegerConverter):
    """``<id:name>`` in a URL: a row id. A number past 2**31-1 names no row: 404 at once,
    rather than a database error. (Not werkzeug's ``max``: a rule refused by its converter
    answers 405 when another method's rule has the same path.)"""

    def to_python(self, value):
        number = super().to_python(value)
        if not 1 <= number <= ID_MAX:
            raise NotFound()
        return number


def Latitude(**kwargs):
    return StrictFloat(validate=validate.Range(-90, 90, error="must be between -90 and 90"), **kwargs)


def Longitude(**kwargs):
    return StrictFloat(validate=validate.Range(-180, 180, error="must be between -180 and 180"), **kwargs)


class Amount(fields.Field):
    """Money in major units as a decimal string ("1234.50"); dumped as a string.

    The one money field: every amount in every schema (and the CSV importer, through
    ``app.money.parse``) is read by the same rule. Its shape is checked here; the
    currency's number of decimals where the currency is known (``app.money.to_minor``).
    """

    def __init__(self, *, negative=False, **kwargs):
        self.negative = negative
        sign = "-?" if negative else ""
        metadata = {
            "type": "string",
            "pattern": rf"^{sign}(0|[1-9][0-9]{{0,14}})(\.[0-9]{{1,3}})?$",
            "example": "1234.50",
            "maxLength": 20,
            "description": "A decimal amount in the currency's major unit, with at most the currency's "
            "minor digits; no exponent" + ("" if negative else ", no sign") + ".",
        }
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return money.parse(value, negative=self.negative)
        except money.MoneyError as exc:
            raise ValidationError(str(exc)) from None


Money = Amount


class ClockTime(fields.Field):
    """Local wall-clock time as "HH:MM"."""

    _pattern = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.strftime("%H:%M")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not self._pattern.match(value):
            raise ValidationError("must be a time as HH:MM")
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))


def Currency(**kwargs):
    """An ISO 4217 code in use today (CLDR's data, through Babel)."""
    return fields.String(validate=_active_currency, metadata={"example": "CNY", "pattern": "^[A-Z]{3}$"}, **kwargs)


def _active_currency(value):
    if not money.is_currency(value):
        raise ValidationError("must be an active ISO 4217 code such as CNY")


class Flags(fields.Dict):
    """Debtor flags: known names only, boolean values."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(validate=validate.OneOf(DEBTOR_FLAGS)), values=StrictBoolean(), **kwargs)


class Instant(fields.AwareDateTime):
    """An ISO 8601 time with its offset; stored and answered in UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


_FACT_TYPES = [
    {"type": "string"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}},
]


class Fact(fields.Raw):
    """One fact a rule was judged on: a string (dates and times as ISO 8601), a number, a
    boolean, a list of those, or null. Answers only; the value is passed through as stored."""

    def __init__(self, **kwargs):
        metadata = {"oneOf": _FACT_TYPES, "nullable": True, **kwargs.pop("metadata", {})}
        super().__init__(allow_none=True, metadata=metadata, **kwargs)


def Facts(**kwargs):
    """The facts a rule was judged on, by name."""
    return fields.Dict(keys=fields.String(), values=Fact(), **kwargs)
