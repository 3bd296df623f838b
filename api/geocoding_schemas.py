"""Shapes of the pin queue and of a supervisor's pin."""

from marshmallow import Schema, fields, pre_dump, validate

from api.base import BaseSchema, PageQuery, note_personal_read
from api.fields import Latitude, Longitude
from api.schemas.common import Code
from app.services import geocoding


class PinIn(BaseSchema):
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    note = fields.String(validate=validate.Length(max=500), metadata={"description": "Why here (kept in the audit)."})


class PointOut(Schema):
    lat = fields.Float()
    lon = fields.Float()


class PinOut(Schema):
    debtor_id = fields.Integer()
    lat = fields.Float()
    lon = fields.Float()
    location_status = fields.String()
    location_source = fields.String()
    previous = fields.Nested(PointOut, allow_none=True, metadata={"description": "The pin before (null: none)"})
    moved_m = fields.Float(allow_none=True, metadata={"description": "Metres the pin moved (null: a first pin)"})


class PinQueueQuery(PageQuery):
    team = Code()
    status = fields.String(validate=validate.OneOf(("pending", "needs_pin")))


class NoteOut(Schema):
    code = fields.String()
    en = fields.String()
    zh = fields.String()


class QueuedCase(Schema):
    id = fields.Integer()
    loan_ref = fields.String()
    team = fields.Function(lambda c: c.team.code)
    stage = fields.String()


class QueuedDebtor(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    location_status = fields.String()
    location_note = fields.Function(lambda d: geocoding.note_text(d.location_note), allow_none=True)
    geocode_attempts = fields.Integer()
    geocode_next_at = fields.AwareDateTime(allow_none=True)
    cases = fields.List(fields.Nested(QueuedCase))

    @pre_dump
    def personal_read(self, debtor, **kwargs):
        note_personal_read(debtor.id, None, ("name", "address", "lat", "lon"))
        return debtor
