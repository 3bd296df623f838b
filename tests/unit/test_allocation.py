"""A payment spread over open instalments, oldest first, in exact minor units."""

from dataclasses import dataclass

import pytest

from app.services.allocation import allocate


@dataclass
class Part:
    amount_minor: int
    paid_minor: int = 0
    status: str = "open"


def test_a_payment_fills_the_oldest_instalments_first_and_marks_the_whole_ones_paid():
    parts = [Part(33334), Part(33333), Part(33333)]
    portions = allocate(50000, parts)
    assert [(parts.index(p), n) for p, n in portions] == [(0, 33334), (1, 16666)]
    assert [(p.paid_minor, p.status) for p in parts] == [(33334, "paid"), (16666, "open"), (0, "open")]


def test_a_part_paid_instalment_takes_only_what_it_still_owes():
    parts = [Part(1000, paid_minor=999), Part(1000)]
    assert [n for _, n in allocate(5, parts)] == [1, 4]
    assert parts[0].status == "paid" and parts[1].paid_minor == 4


def test_more_than_is_owed_leaves_the_rest_unallocated():
    parts = [Part(100), Part(200)]
    portions = allocate(10**15 - 1, parts)
    assert sum(n for _, n in portions) == 300 and all(p.status == "paid" for p in parts)


def test_nothing_to_pay_or_nothing_owed_allocates_nothing():
    assert allocate(0, [Part(100)]) == [] and allocate(100, []) == []
    assert allocate(100, [Part(100, paid_minor=100, status="paid")]) == []


@pytest.mark.parametrize("amount", [-1, 1.5, True, "100"])
def test_an_amount_that_is_not_whole_minor_units_is_refused(amount):
    with pytest.raises(ValueError):
        allocate(amount, [Part(100)])
