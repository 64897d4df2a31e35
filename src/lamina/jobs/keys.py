"""API keys: created once, shown once, stored as a SHA-256 hash with a short display prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from lamina.jobs.models import api_keys
from lamina.jobs.store import JobStore

SECRET_PREFIX = "lam_"
DISPLAY_CHARS = 12
"""How much of the secret (``lam_`` included) is kept to tell keys apart in listings."""


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A key as stored: never the secret itself."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a secret (keys are random 256-bit tokens, so no salt or KDF is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """The API keys table of a :class:`JobStore`'s database."""

    def __init__(self, store: JobStore) -> None:
        self.engine = store.engine

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new active key and its secret; the secret is not recoverable afterwards."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ValueError("a key name must have 1 to 200 characters")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        stmt = (
            sa.insert(api_keys)
            .values(
                id="key_" + secrets.token_hex(8),
                name=name,
                prefix=secret[:DISPLAY_CHARS],
                secret_hash=hash_secret(secret),
                created_at=datetime.now(UTC),
            )
            .returning(*api_keys.c)
        )
        with self.engine.begin() as conn:
            return _key(conn.execute(stmt).one()), secret

    def list(self) -> list[ApiKey]:
        """Every key, oldest first, revoked ones included."""
        stmt = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        with self.engine.connect() as conn:
            return [_key(row) for row in conn.execute(stmt)]

    def revoke(self, key_id: str) -> bool:
        """Revoke an active key; ``False`` if there is no such active key."""
        stmt = (
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def verify(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or ``None``.

        Looked up by hash, so the time taken does not depend on how much of a guess matches.
        """
        if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        stmt = sa.select(api_keys).where(
            api_keys.c.secret_hash == digest, api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            return None
        return _key(row)

    def webhook_default(self, key_id: str) -> str | None:
        """The key's default webhook URL, or ``None``."""
        stmt = sa.select(api_keys.c.webhook_url).where(api_keys.c.id == key_id)
        with self.engine.connect() as conn:
            found: str | None = conn.execute(stmt).scalar_one_or_none()
        return found

    def set_webhook_default(self, key_id: str, url: str | None) -> None:
        """Set (or, with ``None``, clear) the key's default webhook URL."""
        stmt = sa.update(api_keys).where(api_keys.c.id == key_id).values(webhook_url=url)
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def count_active(self) -> int:
        """How many keys are not revoked (``lamina serve`` creates one when there are none)."""
        stmt = (
            sa.select(sa.func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
