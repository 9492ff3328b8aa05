"""Write a new migration after a change to :mod:`graphopt.store.models`::

    .venv/bin/python -m graphopt.store.migrations "add the widgets table"

It migrates a scratch SQLite database to the newest revision, then autogenerates the
difference to the models into ``versions/``. Review the file (server defaults for new
NOT NULL columns on existing rows, data moves), then run ``tests/distributed/
test_migrations.py``: it fails while the migrations and the models differ.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from graphopt.store.migrations import config, upgrade


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        upgrade(engine)
        with engine.connect() as connection:
            command.revision(config(connection), message=sys.argv[1], autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    main()
