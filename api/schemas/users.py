"""Logging in, the caller's own account (``/me``), and user accounts."""

from marshmallow import Schema, fields, validate

from api.base import BaseSchema, PageQuery
from api.fields import StrictBoolean
from api.schemas.common import Code, Text
from api.schemas.organisation import CollectorOut
from app.models import ROLES


class LoginIn(BaseSchema):
    username = Text(80, required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200))


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    team = fields.Function(lambda u: u.team.code if u.team else None)
    region = fields.Function(lambda u: u.region.code if u.region else None)
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class LoginOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_at = fields.AwareDateTime()
    user = fields.Nested(UserOut)


class UserIn(BaseSchema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.\-]{3,80}$", error="3 to 80 letters, digits, '_', '.' or '-'"),
    )
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=200))
    display_name = Text(200)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    team = Code(allow_none=True)
    region = Code(allow_none=True)


class UserUpdate(BaseSchema):
    password = fields.String(load_only=True, validate=validate.Length(min=10, max=200))
    display_name = Text(200)
    role = fields.String(validate=validate.OneOf(ROLES))
    team = Code(allow_none=True)
    region = Code(allow_none=True)
    active = StrictBoolean()


class UserQuery(PageQuery):
    role = fields.String(validate=validate.OneOf(ROLES))


class MeOut(UserOut):
    collector = fields.Nested(CollectorOut, allow_none=True)
