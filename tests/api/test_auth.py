from datetime import datetime, timedelta

import sqlalchemy as sa

from app.models import ApiToken
from tests.conftest import TEST_NOW


def login(client, username, password="correct-horse-battery", ip="10.0.0.1"):
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def test_login_answers_a_bearer_token_with_its_expiry_and_the_user(client, make):
    make.user("supervisor", username="sup")
    response = login(client, "sup")
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["user"]["role"] == "supervisor"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=1) < expires - TEST_NOW <= timedelta(hours=12)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json["username"] == "sup"


def test_the_database_keeps_only_a_hash_of_the_token(app, db, client, make):
    make.user("admin", username="root")
    token = login(client, "root").json["access_token"]
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert stored and token not in stored


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make):
    make.user("admin", username="root")
    wrong = login(client, "root", "not-the-password")
    unknown = login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json


def test_logout_revokes_the_token(client, make):
    make.user("auditor", username="aud")
    headers = {"Authorization": f"Bearer {login(client, 'aud').json['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_an_expired_token_is_refused(client, make):
    user = make.user("auditor")
    headers = make.token(user, expires_in=timedelta(seconds=-1))
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


def test_deactivating_an_account_revokes_its_tokens_and_blocks_login(client, make):
    admin_headers = make.token(make.user("admin"))
    agent = make.user("agent", username="leaver")
    agent_headers = {"Authorization": f"Bearer {login(client, 'leaver').json['access_token']}"}
    assert client.delete(f"/api/v1/users/{agent.id}", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/me", headers=agent_headers).status_code == 401
    assert login(client, "leaver").status_code == 401


def test_changing_a_password_signs_the_user_out_everywhere(client, make):
    admin_headers = make.token(make.user("admin"))
    user = make.user("auditor", username="aud2")
    old = {"Authorization": f"Bearer {login(client, 'aud2').json['access_token']}"}
    response = client.patch(f"/api/v1/users/{user.id}", headers=admin_headers, json={"password": "a-new-long-pass"})
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=old).status_code == 401
    assert login(client, "aud2", "a-new-long-pass").status_code == 200


def test_garbage_in_the_authorization_header_is_a_401(client):
    for header in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer \u00e9\u00e9"):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["error"]["code"] in ("missing_token", "invalid_token")


def test_repeated_failed_logins_from_one_address_answer_429(client, make):
    make.user("admin", username="root")
    statuses = [login(client, f"guess{i}", "wrong-password").status_code for i in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert login(client, "root").status_code == 429  # even the right password waits
    assert login(client, "root", ip="10.0.0.2").status_code == 200  # another address is not blocked


def test_repeated_failed_logins_for_one_account_answer_429_from_any_address(client, make):
    make.user("admin", username="root")
    for i in range(5):
        assert login(client, "root", "wrong-password", ip=f"10.1.0.{i}").status_code == 401
    response = login(client, "root", ip="10.1.0.99")
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_requests"


def test_successful_logins_are_not_throttled(client, make):
    make.user("admin", username="root")
    assert all(login(client, "root").status_code == 200 for _ in range(8))
