"""The pin queue and a supervisor's pins: debtors known only by their address."""

from flask import Blueprint, g

from api.base import endpoint, page_of
from api.geocoding_schemas import PinIn, PinOut, PinQueueQuery, QueuedDebtor
from app.authz import get_visible
from app.models import Debtor
from app.services import geocoding

bp = Blueprint("geocoding", __name__)


@bp.get("/pin-queue")
@endpoint(permission="cases:write", query=PinQueueQuery, response=page_of(QueuedDebtor))
def pin_queue(args):
    """Debtors of your teams without a place on the map: waiting for the geocoder, or for your pin."""
    return geocoding.pin_queue(args, g.user)


@bp.put("/debtors/<id:debtor_id>/pin")
@endpoint(permission="cases:write", body=PinIn, response=PinOut)
def place_pin(debtor_id, data):
    """Place or correct a debtor's pin (audited with before, after and the distance moved)."""
    return geocoding.place_pin(get_visible(Debtor, debtor_id, g.user, "debtor"), data, g.user)
