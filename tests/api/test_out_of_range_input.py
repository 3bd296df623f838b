"""Input the database cannot hold is refused at the edge (found by fuzzing: each was a 500).

Ids no integer column can hold, and text with NUL characters (PostgreSQL text cannot).

Row ids are 32-bit on PostgreSQL; SQLite cannot even bind a number past 2**63-1. Such a
number in a query or a body is a 422 naming the field; in a path it matches no route
(404). Nothing is written.
"""

import pytest

TOO_BIG = 2**63  # past every integer column; SQLite's driver raised OverflowError on it
PAST_INT4 = 2**31  # past a PostgreSQL integer column


@pytest.fixture()
def admin(make):
    return make.token(make.user("admin"))


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/crews?after={n}", "after"),
        ("/api/v1/users?after={n}", "after"),
        ("/api/v1/complaints?after={n}", "after"),
        ("/api/v1/agreements?case_id={n}", "case_id"),
        ("/api/v1/audit/visits?case={n}", "case"),
        ("/api/v1/audit/events?actor={n}", "actor"),
        ("/api/v1/audit/events?format=csv&limit={n}", "limit"),
        ("/api/v1/audit/events?after={n}", "after"),
    ],
)
def test_a_query_id_too_large_for_any_column_is_refused_naming_it(client, admin, path, field):
    response = client.get(path.format(n=TOO_BIG), headers=admin)
    assert response.status_code == 422, response.get_json()
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/agreements?case_id={n}", "case_id"),
        ("/api/v1/audit/visits?after={n}", "after"),  # PostgreSQL: "integer out of range", a 500
        ("/api/v1/cases?after={n}", "after"),
    ],
)
def test_a_row_id_past_32_bits_in_a_query_is_refused(client, admin, path, field):
    response = client.get(path.format(n=PAST_INT4), headers=admin)
    assert response.status_code == 422, response.get_json()
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/cases/{n}"),
        ("GET", "/api/v1/users/{n}"),
        ("GET", "/api/v1/collectors/{n}/trainings"),
        ("PATCH", "/api/v1/crews/{n}"),
        ("PATCH", "/api/v1/collectors/{n}"),
    ],
)
@pytest.mark.parametrize("n", [TOO_BIG, PAST_INT4, 0])
def test_a_path_id_no_row_can_have_is_not_found(client, admin, method, path, n):
    response = client.open(path.format(n=n), method=method, headers=admin, json={})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_body_id_too_large_for_any_column_is_refused_and_nothing_is_written(client, make, admin, rows):
    from app.models import Complaint

    make.case()
    response = client.post(
        "/api/v1/complaints",
        headers=admin,
        json={"case_id": TOO_BIG, "channel": "phone", "category": "rudeness", "text": "x"},
    )
    assert response.status_code == 422
    assert "case_id" in response.json["error"]["fields"]
    assert rows(Complaint) == 0


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/audit/visits?flag=%00", "flag"),  # PostgreSQL: "text fields cannot contain NUL", a 500
        ("/api/v1/audit/events?action=a%00b", "action"),
        ("/api/v1/cases?loan_ref=L%00", "loan_ref"),
    ],
)
def test_a_nul_character_in_a_query_is_refused_naming_the_field(client, admin, path, field):
    response = client.get(path, headers=admin)
    assert response.status_code == 422, response.get_json()
    assert field in response.json["error"]["fields"]


def test_a_nul_character_in_a_body_is_refused_and_nothing_is_written(client, make, admin, rows):
    from app.models import Region

    before = rows(Region)
    response = client.post(
        "/api/v1/regions", headers=admin, json={"code": "NORTH", "name": "North\u0000", "timezone": "Asia/Shanghai"}
    )
    assert response.status_code == 422
    assert "name" in response.json["error"]["fields"]
    assert rows(Region) == before
