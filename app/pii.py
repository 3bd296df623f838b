"""Masking of personal data, for responses to roles that need less and for the audit log."""


def mask_phone(phone):
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 11 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_national_id(value):
    if not value:
        return value
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def mask_name(name):
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_address(address):
    if not address:
        return address
    return address[: min(6, len(address) // 3)] + "…"


MASKS = {
    "phone": mask_phone,
    "national_id": mask_national_id,
    "name": mask_name,
    "debtor_name": mask_name,
    "address": mask_address,
}


def mask_fields(values):
    """A copy of ``values`` with every personal field masked."""
    return {
        key: MASKS[key](value) if key in MASKS and isinstance(value, str) else value for key, value in values.items()
    }


# Keys whose values the audit log keeps out of its hash chain (app/audit.py): the value is
# replaced by a salted commitment and kept beside the chain, where anonymising deletes it.
# Any value under one of these keys, at any depth of an event's changes, is committed.
PERSONAL_KEYS = frozenset({"name", "debtor_name", "phone", "national_id", "address", "lat", "lon", "notes", "text"})
