"""How a transaction begins on SQLite: readers never take the write lock; writers queue for it.

SQLite has one writer at a time. A writer begins ``BEGIN IMMEDIATE``: it waits for the
write lock at the start (``busy_timeout``) instead of failing halfway, which is what a
deferred transaction does when it has read and then tries to write while another
connection wrote meanwhile ("database is locked"). A reader begins ``BEGIN`` (deferred):
in WAL mode it reads a snapshot while a writer works, so the embedded default answers
pages while a plan is being written or a file imported.

Which is which is decided when the transaction begins:

* in a request, by its method: GET, HEAD and OPTIONS read (deferred); every other
  method may change something (immediate);
* elsewhere (jobs, the CLI) immediate, unless the code says it only reads (``reading()``),
  as the planner does while it gathers a problem.

A reader may still write: a GET records the personal data it answered on the audit log.
Such a transaction is upgraded before its first write or locking read (``SELECT ... FOR
UPDATE``, the audit chain's head) or savepoint: its read snapshot ends and it begins again
``IMMEDIATE``, queueing behind any writer. What a read request wrote is always a record of
what it read, so nothing it writes depends on the snapshot it gave up; the chain head is
read after the upgrade, under the write lock. PostgreSQL needs none of this.
"""

import re
from contextlib import contextmanager
from contextvars import ContextVar

from flask import has_request_context, request
from sqlalchemy import event

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFERRED = "sqlite_deferred"  # in a connection's info: its transaction began deferred and has not written
_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
_reading = ContextVar("reading", default=False)


@contextmanager
def reading():
    """Transactions begun inside this block only read (a write upgrades them)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def begins_deferred():
    """Whether a transaction beginning now only reads."""
    return _reading.get() or (has_request_context() and request.method in SAFE_METHODS)


def _writes(statement, context):
    if _WRITES.match(statement):
        return True
    compiled = getattr(context, "compiled", None)
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None


def _upgrade(connection):
    if not connection.info.get(_DEFERRED):
        return
    connection.info[_DEFERRED] = False
    raw = connection.connection.driver_connection
    raw.execute("COMMIT")  # a read-only transaction: this only ends its snapshot
    raw.execute("BEGIN IMMEDIATE")


def install(engine):
    """Begin each SQLite transaction as a reader or a writer (see the module's docstring)."""

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        deferred = begins_deferred()
        connection.info[_DEFERRED] = deferred
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def before_write(connection, _cursor, statement, _parameters, context, _executemany):
        if connection.info.get(_DEFERRED) and _writes(statement, context):
            _upgrade(connection)

    @event.listens_for(engine, "savepoint")
    def before_savepoint(connection, _name):
        _upgrade(connection)
