"""API keys: created as random tokens, stored as their sha256, looked up in constant time.

A key is ``gok_`` + 43 url-safe characters (256 random bits). Only ``sha256(key)`` is
stored: a copy of the database does not hold usable keys. The key itself is shown once,
when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from graphopt.store.db import Database
from graphopt.store.models import ApiKeyRow, new_id, utcnow

KEY_PREFIX = "gok_"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    tenant: str
    admin: bool
    key: str


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(db: Database, tenant: str, *, admin: bool = False) -> CreatedKey:
    """A new key for ``tenant``; the returned ``key`` is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(id=new_id("key"), tenant=tenant, key_sha256=key_digest(key), admin=admin)
    with db.session() as session:
        session.add(row)
    return CreatedKey(row.id, tenant, admin, key)


def find_key(db: Database, key: str) -> ApiKeyRow | None:
    """The live (not revoked) key row for ``key``, or None."""
    digest = key_digest(key)
    with db.session() as session:
        row = session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.key_sha256 == digest, ApiKeyRow.revoked_at.is_(None))
        ).first()
    # The lookup is by digest (an index); compare again in constant time all the same.
    if row is None or not hmac.compare_digest(row.key_sha256, digest):
        return None
    return row


def revoke_key(db: Database, key_or_id: str) -> ApiKeyRow | None:
    """Revoke a key given by its id (``key_...``) or by the key itself; None when unknown."""
    digest = key_digest(key_or_id)
    with db.session() as session:
        row = session.scalars(
            select(ApiKeyRow).where((ApiKeyRow.id == key_or_id) | (ApiKeyRow.key_sha256 == digest))
        ).first()
        if row is None:
            return None
        session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == row.id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        session.refresh(row)
    return row


def list_keys(db: Database) -> list[ApiKeyRow]:
    with db.session() as session:
        return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))


def any_key(db: Database) -> bool:
    with db.session() as session:
        return (
            session.scalars(select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None))).first()
            is not None
        )
