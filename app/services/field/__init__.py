"""The day at the door: the agent's route (``agent_route``), the field actions coming in
(``events``: once, stored with their answer, judged on the server's clock), the work of
each action — check-in, check-out, the visit's outcome — (``visits``), and the visit's
recordings (``recordings``).

The names the old ``app.services.field`` module had are re-exported here.
"""

from app.models import ALLOWED_TYPES, OUTCOMES, PEOPLE
from app.services.field.agent_route import route
from app.services.field.recordings import store_recording
from app.services.field.visits import HANDLERS, agreement_summary, crew_id_of, times_of, visit_summary

__all__ = [
    "ALLOWED_TYPES",
    "HANDLERS",
    "OUTCOMES",
    "PEOPLE",
    "agreement_summary",
    "crew_id_of",
    "route",
    "store_recording",
    "times_of",
    "visit_summary",
]
