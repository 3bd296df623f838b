"""Regions and teams; collectors, their training, and the crews they visit in."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.base import BaseSchema, PageQuery
from api.fields import ClockTime, Integer, Latitude, Longitude, StrictBoolean
from api.schemas.common import Code, Text


class RegionIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    timezone = Text(64, required=True)
    policy_profile = Text(40, allow_none=True)


class RegionOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    timezone = fields.String()
    policy_profile = fields.String(allow_none=True)


class TeamIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    region = Code(required=True)
    policy_profile = Text(40, allow_none=True)


class TeamOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    region = fields.Function(lambda t: t.region.code)
    policy_profile = fields.String(allow_none=True)


class Point(BaseSchema):
    lat = Latitude(required=True)
    lon = Longitude(required=True)


class CollectorIn(BaseSchema):
    code = Code(required=True)
    name = Text(200, required=True)
    team = Code(required=True)
    home = fields.Nested(Point, required=True)
    languages = fields.List(Text(16), load_default=list, validate=validate.Length(max=10))
    shift_start = ClockTime(required=True)
    shift_end = ClockTime(required=True)
    daily_capacity = Integer(load_default=10, validate=validate.Range(1, 100))
    background_cleared = StrictBoolean(load_default=False)
    active = StrictBoolean(load_default=True)
    user = Text(80, allow_none=True, metadata={"description": "Username of the collector's agent account."})


class CollectorUpdate(BaseSchema):
    name = Text(200)
    team = Code()
    home = fields.Nested(Point)
    languages = fields.List(Text(16), validate=validate.Length(max=10))
    shift_start = ClockTime()
    shift_end = ClockTime()
    daily_capacity = Integer(validate=validate.Range(1, 100))
    background_cleared = StrictBoolean()
    active = StrictBoolean()
    user = Text(80, allow_none=True)


class CollectorOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    team = fields.Function(lambda c: c.team.code)
    crew = fields.Function(lambda c: c.crew.code if c.crew else None)
    home = fields.Function(lambda c: {"lat": c.home_lat, "lon": c.home_lon})
    languages = fields.List(fields.String())
    shift_start = ClockTime()
    shift_end = ClockTime()
    daily_capacity = fields.Integer()
    background_cleared = fields.Boolean()
    active = fields.Boolean()
    user = fields.Function(lambda c: c.user.username if c.user else None)


class CollectorQuery(PageQuery):
    team = Code()
    active = fields.Boolean()


class TrainingIn(BaseSchema):
    module = Text(60, required=True)
    passed_at = fields.Date(required=True)
    expires_at = fields.Date(required=True)
    certificate_ref = Text(120, allow_none=True)

    @validates_schema
    def expiry_after_pass(self, data, **kwargs):
        if data.get("passed_at") and data.get("expires_at") and data["expires_at"] <= data["passed_at"]:
            raise ValidationError("must be after passed_at", "expires_at")


class TrainingOut(Schema):
    id = fields.Integer()
    collector = fields.Function(lambda t: t.collector.code)
    module = fields.String()
    passed_at = fields.Date()
    expires_at = fields.Date()
    certificate_ref = fields.String(allow_none=True)


class TrainingList(Schema):
    items = fields.List(fields.Nested(TrainingOut))


class CrewIn(BaseSchema):
    code = Code(required=True)
    name = Text(200)
    team = Code(required=True)
    members = fields.List(Code(), required=True, validate=validate.Length(min=1, max=6))
    active = StrictBoolean(load_default=True)


class CrewUpdate(BaseSchema):
    name = Text(200)
    members = fields.List(Code(), validate=validate.Length(min=1, max=6))
    active = StrictBoolean()


class CrewMember(Schema):
    code = fields.String()
    name = fields.String()


class CrewOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    team = fields.Function(lambda c: c.team.code)
    active = fields.Boolean()
    members = fields.List(fields.Nested(CrewMember))


class CrewQuery(PageQuery):
    team = Code()
