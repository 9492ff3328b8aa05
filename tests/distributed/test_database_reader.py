"""``Database.read_row`` on PostgreSQL: a kept autocommit connection per thread that sees
every commit and replaces itself when the server drops it."""

from __future__ import annotations

from dist_servers import Postgres
from service_models import model_row
from sqlalchemy import text

from graphopt.store.db import Database

BACKEND_PID = text("SELECT pg_backend_pid() AS pid")
MODEL_COUNT = text("SELECT count(*) AS n FROM models")


def test_read_row_sees_each_commit_and_survives_a_dropped_connection(postgres: Postgres) -> None:
    db = Database(postgres.create("graphopt_reader"))
    try:
        db.create_schema()
        assert db.read_row(MODEL_COUNT, {}).n == 0
        with db.session() as session:
            session.add(model_row())
        assert db.read_row(MODEL_COUNT, {}).n == 1  # not a snapshot from before the commit

        first = db.read_row(BACKEND_PID, {}).pid
        assert db.read_row(BACKEND_PID, {}).pid == first  # the same kept connection
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            admin.commit()
        assert db.read_row(BACKEND_PID, {}).pid != first
    finally:
        db.dispose()
