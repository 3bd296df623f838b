"""The data model. Integrity is kept by the database as well as the code:
foreign keys, unique and check constraints are declared here and created by the
migrations on SQLite and PostgreSQL alike.

Money is stored as integer minor units (fen, cents) beside an ISO 4217 currency
code; times are stored in UTC; coordinates are WGS84 degrees.

One module per aggregate; this package imports them all, so every mapper is
configured (and Alembic sees every table) whichever name is imported, and
``from app.models import X`` names any of them."""

from app.models.audit import (
    AuditChainHead,
    AuditEvent,
    AuditEventSubject,
    AuditPersonalValue,
)
from app.models.cases import (
    CONTACT_CHANNELS,
    CONTACT_PURPOSES,
    CONTACT_RESULTS,
    DEBTOR_FLAGS,
    LOCATION_SOURCES,
    LOCATION_STATUSES,
    PLACE_KINDS,
    PRIORITY_SOURCES,
    STAGES,
    Case,
    ContactAttempt,
    Debtor,
)
from app.models.conduct import (
    COMPLAINT_STATUSES,
    FLAG_STATUSES,
    Complaint,
    ConductFlag,
)
from app.models.dispatch import (
    TASK_STATUSES,
    DispatchPlan,
    VisitTask,
)
from app.models.field import (
    ALLOWED_TYPES,
    OUTCOMES,
    PEOPLE,
    TIME_BASES,
    ClientEvent,
    Device,
    DeviceContact,
    Recording,
    Visit,
)
from app.models.geocoding import (
    GEOCODE_STATUSES,
    GeocodeResult,
)
from app.models.jobs import (
    JOB_STATUSES,
    Job,
)
from app.models.money import (
    AGREEMENT_KINDS,
    AGREEMENT_STATUSES,
    INSTALMENT_STATUSES,
    LEDGER_KINDS,
    Instalment,
    LedgerEntry,
    Payment,
    PaymentAllocation,
    RepaymentAgreement,
    UnmatchedPayment,
)
from app.models.organisation import (
    ROLES,
    ApiToken,
    Collector,
    Crew,
    Region,
    Team,
    TrainingRecord,
    User,
)
from app.models.reports import (
    CaseDpdMark,
    TeamReport,
    dpd_mark_rows,
    note_dpd_changes,
)
from app.models.types import (
    UTCDateTime,
    utcnow,
)

__all__ = [
    "ALLOWED_TYPES",
    "OUTCOMES",
    "PEOPLE",
    "AGREEMENT_KINDS",
    "AGREEMENT_STATUSES",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "AuditEventSubject",
    "AuditPersonalValue",
    "COMPLAINT_STATUSES",
    "CONTACT_CHANNELS",
    "CONTACT_PURPOSES",
    "CONTACT_RESULTS",
    "Case",
    "CaseDpdMark",
    "ClientEvent",
    "Collector",
    "Complaint",
    "ConductFlag",
    "ContactAttempt",
    "Crew",
    "DEBTOR_FLAGS",
    "Debtor",
    "Device",
    "DeviceContact",
    "DispatchPlan",
    "FLAG_STATUSES",
    "GEOCODE_STATUSES",
    "GeocodeResult",
    "INSTALMENT_STATUSES",
    "Instalment",
    "JOB_STATUSES",
    "Job",
    "LEDGER_KINDS",
    "LOCATION_SOURCES",
    "LOCATION_STATUSES",
    "LedgerEntry",
    "PLACE_KINDS",
    "PRIORITY_SOURCES",
    "Payment",
    "PaymentAllocation",
    "ROLES",
    "Recording",
    "Region",
    "RepaymentAgreement",
    "STAGES",
    "TASK_STATUSES",
    "TIME_BASES",
    "Team",
    "TeamReport",
    "TrainingRecord",
    "UTCDateTime",
    "UnmatchedPayment",
    "User",
    "Visit",
    "VisitTask",
    "dpd_mark_rows",
    "note_dpd_changes",
    "utcnow",
]
