"""Random sync batches (Hypothesis): valid events, malformed elements and replays, each
batch sent and then sent again as a phone that never saw the answer would.

For every batch: no 500, one answer per element; the resend answers every element the
same way (a stored event with the same bytes, marked duplicate; a conflict or an element
without a usable id exactly as before), applies nothing again and changes nothing but
the log; every check-in accepted made exactly one visit. On SQLite and PostgreSQL; each
example in a SAVEPOINT rolled back afterwards.
"""

import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models import ClientEvent, Visit
from tests.api.test_field import HOME, iso, local
from tests.conftest import table_counts

EXAMPLES = int(os.environ.get("SYNC_FUZZ_EXAMPLES", "60"))
IDS = [f"fz-evt-{n:06d}" for n in range(6)]
# The tables a resend may touch: the log of the request, and the phone's contact.
LOG_TABLES = {
    "audit_events",
    "audit_chain_head",
    "audit_personal_values",
    "audit_event_subjects",
    "devices",
    "device_contacts",
}

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def valid_event(draw, tasks):
    index = draw(st.integers(0, len(tasks) - 1))
    task_id = tasks[index]
    lat, lon = HOME[0] + index * 0.01, HOME[1]
    kind = draw(st.sampled_from(["check_in", "check_in", "check_out", "visit"]))
    event = {"type": kind, "task_id": task_id, "client_event_id": draw(st.sampled_from(IDS))}
    if kind == "visit":
        event |= {"outcome": "not_home", "person_met": "nobody", "device_time": iso(local(9, 58))}
    else:
        event |= {
            "lat": lat + draw(st.sampled_from([0.0, 0.0001, 0.3])),
            "lon": lon,
            "accuracy_m": 10.0,
            "device_time": iso(local(9, draw(st.integers(40, 59)))),
        }
    return event


@st.composite
def malformed_element(draw, tasks):
    return draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["check_in", "visit", "teleport", 7]),
                    "task_id": st.one_of(st.sampled_from(tasks), json_leaf),
                    "client_event_id": st.one_of(st.sampled_from(IDS), json_leaf),
                },
                optional={"lat": json_leaf, "outcome": json_leaf, "seq": json_leaf},
            ),
        )
    )


@st.composite
def batches(draw, tasks):
    elements = []
    for _ in range(draw(st.integers(1, 8))):
        choice = draw(st.sampled_from(["valid", "valid", "malformed", "replay"]))
        if choice == "replay" and elements:
            earlier = draw(st.sampled_from(elements))
            if isinstance(earlier, dict) and draw(st.booleans()):
                earlier = {**earlier, "device_time": iso(local(9, 30))}  # the same id, other content
            elements.append(earlier)
        elif choice == "malformed":
            elements.append(draw(malformed_element(tasks)))
        else:
            elements.append(draw(valid_event(tasks)))
    return elements


def counts(db):
    return table_counts(db.session, db.metadata.sorted_tables)


@pytest.mark.slow
def test_random_batches_sent_twice_apply_once_answer_the_same_and_never_fail(app, db, client, day):
    tasks = [t.id for t in day.tasks]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=batches(tasks))
    def check(batch):
        db.session.remove()
        savepoint = db.session.get_bind().begin_nested()
        try:
            day.clock.set(local(10))
            numbered = [
                {**e, "seq": n} if isinstance(e, dict) and "seq" not in e else e for n, e in enumerate(batch, start=1)
            ]
            headers = day.phone_headers(seq_high=len(batch))
            first = client.post("/api/v1/agent/sync", json={"events": numbered}, headers=headers)
            assert first.status_code == 200, first.get_data(as_text=True)[:300]
            answers = first.json["results"]
            assert len(answers) == len(numbered)
            with app.app_context():
                before = counts(db)
                visits = before["visits"]
                db.session.remove()
            accepted_check_ins = sum(
                1
                for e, a in zip(numbered, answers)
                if a["status"] == "accepted" and isinstance(e, dict) and e["type"] == "check_in"
            )
            assert visits == accepted_check_ins

            again = client.post("/api/v1/agent/sync", json={"events": numbered}, headers=headers)
            assert again.status_code == 200
            for was, now in zip(answers, again.json["results"]):
                if was["status"] in ("accepted", "rejected") and was["client_event_id"] is not None:
                    assert now == {**was, "status": "duplicate", "original_status": was["status"]}
                else:  # duplicates and conflicts answer again as before; an element with no id, re-judged alike
                    assert now == was
            with app.app_context():
                after = counts(db)
                changed = {t for t in after if after[t] != before[t]} - LOG_TABLES
                assert changed == set(), changed
                assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == visits
                stored = db.session.scalar(sa.select(sa.func.count()).select_from(ClientEvent))
                assert stored <= len(set(IDS))
                db.session.remove()
        finally:
            db.session.remove()
            savepoint.rollback()

    check()
