"""``graphopt keys``: create, revoke and list API keys in the server's database.

``create`` prints the new key alone on stdout (``KEY=$(graphopt keys create --tenant t)``);
everything else goes to stderr. Keys are stored as their sha256 only: a lost key cannot be
shown again, only revoked and replaced.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from graphopt.cli import exit_codes
from graphopt.cli.console import err, out
from graphopt.cli.serve import server_missing

if TYPE_CHECKING:
    from graphopt.store.db import Database

keys_app = typer.Typer(
    help="API keys of the server's tenants (stored hashed in its database).",
    no_args_is_help=True,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(help="The server's data directory [GRAPHOPT_DATA_DIR]."),
]


def _database(data_dir: Path | None) -> Database:
    try:
        from graphopt.settings import Settings
        from graphopt.store.db import Database
    except ImportError as exc:
        server_missing(exc.name)
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    settings.prepare()
    db = Database(settings.resolved_database_url)
    db.create_schema()
    return db


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="The key may also see every tenant's resources.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it (only it) on stdout; it is not shown again."""
    from graphopt.store.api_keys import TENANT_PATTERN, create_key

    if not re.match(TENANT_PATTERN, tenant):
        raise typer.BadParameter(
            "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            param_hint="--tenant",
        )
    db = _database(data_dir)
    try:
        created = create_key(db, tenant, admin=admin)
    finally:
        db.dispose()
    err.print(f"created {created.id} for tenant {tenant}{' (admin)' if admin else ''}")
    sys.stdout.write(created.key + "\n")
    sys.stdout.flush()


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id (key_...) or the key itself.")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from graphopt.store.api_keys import revoke_key

    db = _database(data_dir)
    try:
        row = revoke_key(db, key)
    finally:
        db.dispose()
    if row is None:
        err.print("[red]error\\[not_found][/red]: no such key")
        raise typer.Exit(exit_codes.BAD_INPUT)
    err.print(f"revoked {row.id} (tenant {row.tenant})")


@keys_app.command("list")
def list_keys(data_dir: DataDirOption = None) -> None:
    """Keys by id, tenant and state (never the keys themselves)."""
    from rich.table import Table

    from graphopt.store.api_keys import list_keys as all_keys

    db = _database(data_dir)
    try:
        rows = all_keys(db)
    finally:
        db.dispose()
    table = Table("id", "tenant", "admin", "created", "revoked")
    for row in rows:
        table.add_row(
            row.id,
            row.tenant,
            "yes" if row.admin else "",
            row.created_at.isoformat(timespec="seconds"),
            row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "",
        )
    out.print(table)
