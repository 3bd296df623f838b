"""Fields every resource's schemas use: a short code, a bounded text."""

from marshmallow import fields, validate


def Code(**kwargs):
    """A short identifier such as a team or collector code."""
    return fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$", error="letters, digits, '-', '_' and '.', at most 40"
        ),
        **kwargs,
    )


def Text(max_length, **kwargs):
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)
