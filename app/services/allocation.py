"""How a payment is spread over a case's open instalments: the one rule, for a payment
posted through the API and for a payment file alike."""

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Part(Protocol):
    amount_minor: int
    paid_minor: int
    status: str


P = TypeVar("P", bound=Part)


def allocate(amount: int, instalments: Iterable[P]) -> list[tuple[P, int]]:
    """Pay ``amount`` (integer minor units) into ``instalments`` in the order given (oldest
    due first), each up to what it still owes; mark an instalment paid once it is whole.

    Returns ``[(instalment, portion)]`` for each instalment that took something. What is
    left over stays on the case (it reduces the balance, or becomes credit).
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be a non-negative whole number of minor units")
    left, portions = amount, []
    for instalment in instalments:
        if left == 0:
            break
        portion = min(left, instalment.amount_minor - instalment.paid_minor)
        if portion <= 0:
            continue
        instalment.paid_minor += portion
        left -= portion
        if instalment.paid_minor == instalment.amount_minor:
            instalment.status = "paid"
        portions.append((instalment, portion))
    return portions
