"""The floor under bench/load.py's ratio: what a request that writes to PostgreSQL costs on
this machine when nothing of the service is in the way (no authentication, no ORM, no
validation, no policy, no JSON schema), served by the same gunicorn and driven by the same
locust as the service.

    POST /write           one INSERT in one transaction
    POST /minimal-action  the statements a field action cannot do without, written by hand:
                          find the token, look up the client_event_id, read the task, store
                          the event, change the task, lock the audit chain head, append the
                          audit event, move the head — eight statements, one transaction

It uses its own tables (floor_*) in the load run's throwaway database; bench/load.py
creates them, starts this app beside the service and prints its figures in the same table.
"""

import os

import sqlalchemy as sa
from flask import Flask, jsonify, request

SCHEMA = [
    "CREATE TABLE floor_tokens (id serial PRIMARY KEY, token_hash varchar(64) UNIQUE NOT NULL)",
    "CREATE TABLE floor_tasks (id serial PRIMARY KEY, status varchar(20) NOT NULL, version int NOT NULL)",
    "CREATE TABLE floor_events (id bigserial PRIMARY KEY, client_event_id varchar(64) UNIQUE NOT NULL, "
    "task_id int NOT NULL, payload json NOT NULL)",
    "CREATE TABLE floor_audit (seq bigint PRIMARY KEY, action varchar(40) NOT NULL, hash varchar(64) NOT NULL)",
    "CREATE TABLE floor_head (id int PRIMARY KEY, seq bigint NOT NULL)",
    "INSERT INTO floor_tokens (token_hash) SELECT md5(g::text) FROM generate_series(1, 1000) g",
    "INSERT INTO floor_tasks (status, version) SELECT 'assigned', 1 FROM generate_series(1, 1000) g",
    "INSERT INTO floor_head VALUES (1, 0)",
]

app = Flask(__name__)
engine = sa.create_engine(
    os.environ.get("FLOOR_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"), pool_pre_ping=True
)  # as the service's engine


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/write")
def write():
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.text("INSERT INTO floor_events (client_event_id, task_id, payload) VALUES (:e, 1, '{}') RETURNING id"),
            {"e": request.json["e"]},
        ).scalar()
    return jsonify(id=new_id), 201


@app.post("/minimal-action")
def minimal_action():
    body = request.json
    task_id = body["task"]
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT id FROM floor_tokens WHERE token_hash = md5(:t)"), {"t": str(task_id)}).first()
        conn.execute(sa.text("SELECT id FROM floor_events WHERE client_event_id = :e"), {"e": body["e"]}).first()
        version = conn.execute(sa.text("SELECT version FROM floor_tasks WHERE id = :id"), {"id": task_id}).scalar()
        event_id = conn.execute(
            sa.text("INSERT INTO floor_events (client_event_id, task_id, payload) VALUES (:e, :id, '{}') RETURNING id"),
            {"e": body["e"], "id": task_id},
        ).scalar()
        conn.execute(
            sa.text("UPDATE floor_tasks SET version = version + 1 WHERE id = :id AND version = :v"),
            {"id": task_id, "v": version},
        )
        seq = conn.execute(sa.text("SELECT seq FROM floor_head WHERE id = 1 FOR UPDATE")).scalar() + 1
        conn.execute(
            sa.text("INSERT INTO floor_audit (seq, action, hash) VALUES (:s, 'field.check_in', md5(:e))"),
            {"s": seq, "e": body["e"]},
        )
        conn.execute(sa.text("UPDATE floor_head SET seq = :s WHERE id = 1"), {"s": seq})
    return jsonify(id=event_id, status="accepted"), 201
