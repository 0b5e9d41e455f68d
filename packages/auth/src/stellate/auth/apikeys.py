"""API keys: signed raw keys shown once, hashed at rest, verified HMAC-first.

A raw key is ``<display prefix><signed token>``; the signed token (a
:class:`~stellate.core.signing.TokenEngine` signature, purpose ``"api-key"``) carries
the key's public id and its secret part. Verification:

1. checks the prefix and the HMAC signature: a forged or mistyped key is refused
   here, with no database query (so guessing keys cannot load the database);
2. looks the key up by its id (primary key) and compares the SHA-256 of the secret
   part with the stored hash in constant time (a leaked table cannot be replayed:
   it holds no usable key);
3. refuses revoked and expired keys and records when the key was last used (at
   most once a minute per key, so a busy key does not write on every request).

SHA-256 suffices at rest (not argon2) because the secret part is 32 random bytes:
there is no dictionary to attack, only 2^256 guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from starlette.types import ASGIApp

from stellate.auth._db import SQLDatabase, resolve_database
from stellate.auth.principal import Principal
from stellate.auth.users import UserTables
from stellate.core.responses import JSONResponse
from stellate.core.signing import TokenEngine

__all__ = ["APIKey", "APIKeyAuth", "APIKeyStore", "GeneratedKey"]

API_KEY_SCOPE_KEY = "stellate.auth.api_key"
_LAST_USED_GRANULARITY = 60.0


class APIKey(msgspec.Struct, frozen=True):
    """A stored API key (never the raw key, which exists only when generated)."""

    id: str
    user_id: int
    name: str
    display: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class GeneratedKey(msgspec.Struct, frozen=True):
    """What :meth:`APIKeyStore.generate` returns; show ``raw_key`` to the user once."""

    raw_key: str
    key: APIKey


class APIKeyStore:
    """Generates, verifies and revokes API keys stored in PostgreSQL.

    Args:
        token_engine: signs the keys (purpose ``"api-key"``); rotate by prepending keys.
        key_display_prefix: what raw keys start with (``"sk_myapp_"``), so they are
            recognisable in logs and by secret scanners.
        database: a ``stellate.orm.Database`` or its alias.
        table: the table of keys.
        users_prefix: prefix of the user tables principals are read from.
        tables: those tables themselves (``UserStore(...).tables``; wins over
            ``users_prefix``), for a swapped user model.
    """

    def __init__(
        self,
        token_engine: TokenEngine,
        *,
        key_display_prefix: str = "sk_",
        database: SQLDatabase | str = "default",
        table: str = "stellate_api_keys",
        users_prefix: str = "stellate_",
        tables: UserTables | None = None,
    ) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"APIKeyStore `table` `{table}` must be a plain SQL identifier")
        if "." in key_display_prefix or not key_display_prefix.isascii():
            raise ValueError(
                f"APIKeyStore `key_display_prefix` `{key_display_prefix}` must be ASCII "
                "without dots, e.g. `sk_myapp_`"
            )
        self.engine = token_engine.with_purpose("api-key")
        self.prefix = key_display_prefix
        self._database = database
        self.table = table
        self.tables = tables or UserTables(users_prefix)
        self.users = self.tables.users
        self.user_groups = self.tables.user_groups
        self.groups = self.tables.groups

    @property
    def db(self) -> SQLDatabase:
        return resolve_database(self._database)

    async def ensure_table(self) -> None:
        """Create the key table when missing (the users table must exist)."""
        await self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (id text PRIMARY KEY, "
            f"user_id bigint NOT NULL REFERENCES {self.users} (id) ON DELETE CASCADE, "
            "name text NOT NULL DEFAULT '', key_hash text NOT NULL, display text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now(), last_used_at timestamptz, "
            "expires_at timestamptz, revoked_at timestamptz)"
        )
        await self.db.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_user ON {self.table} (user_id)"
        )

    async def generate(
        self, *, user_id: int, name: str = "", expires_in: timedelta | None = None
    ) -> GeneratedKey:
        """Create a key for ``user_id``; the raw key is in the result and nowhere else."""
        key_id = uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        raw_key = self.prefix + self.engine.sign(f"{key_id}.{secret}")
        display = f"{self.prefix}…{raw_key[-4:]}"
        expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
        row = await self.db.fetchrow(
            f"INSERT INTO {self.table} (id, user_id, name, key_hash, display, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, user_id, name, display, "
            "created_at, last_used_at, expires_at, revoked_at",
            key_id,
            user_id,
            name,
            _hash(secret),
            display,
            expires_at,
        )
        return GeneratedKey(raw_key=raw_key, key=_key(row))

    def parse(self, raw_key: str) -> tuple[str, str] | None:
        """The ``(key id, secret)`` of a validly signed key, else ``None``; no database."""
        if not raw_key.startswith(self.prefix):
            return None
        value = self.engine.unsign(raw_key[len(self.prefix) :])
        if value is None:
            return None
        key_id, dot, secret = value.partition(".")
        if not dot or not key_id or not secret:
            return None
        return key_id, secret

    async def verify(self, raw_key: str) -> tuple[APIKey, Principal] | None:
        """The key and its user's principal, or ``None`` (forged, revoked, expired...)."""
        parsed = self.parse(raw_key)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = await self.db.fetchrow(
            f"SELECT k.id, k.user_id, k.name, k.display, k.created_at, k.last_used_at, "
            "k.expires_at, k.revoked_at, k.key_hash, u.username, u.is_staff, u.is_superuser, "
            "u.is_active, array_remove(array_agg(g.name ORDER BY g.name), NULL) AS groups, "
            f"{self.tables.permissions_of('u.id')} AS permissions "
            f"FROM {self.table} k JOIN {self.users} u ON u.id = k.user_id "
            f"LEFT JOIN {self.user_groups} ug ON ug.user_id = u.id "
            f"LEFT JOIN {self.groups} g ON g.id = ug.group_id "
            "WHERE k.id = $1 GROUP BY k.id, u.id",
            key_id,
        )
        if row is None or not hmac.compare_digest(row["key_hash"], _hash(secret)):
            return None
        now = datetime.now(UTC)
        if row["revoked_at"] is not None or not row["is_active"]:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= now:
            return None
        last = row["last_used_at"]
        if last is None or (now - last).total_seconds() >= _LAST_USED_GRANULARITY:
            await self.db.execute(
                f"UPDATE {self.table} SET last_used_at = now() WHERE id = $1", key_id
            )
        principal = Principal(
            id=row["user_id"],
            username=row["username"],
            is_staff=row["is_staff"],
            is_superuser=row["is_superuser"],
            groups=row["groups"] or (),
            permissions=row["permissions"] or (),
        )
        return _key(row), principal

    async def revoke(self, key_id: str, *, user_id: int | None = None) -> bool:
        """Revoke a key (only one of ``user_id``'s when given); whether one was revoked."""
        status = await self.db.execute(
            f"UPDATE {self.table} SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL "
            "AND ($2::bigint IS NULL OR user_id = $2)",
            key_id,
            user_id,
        )
        return status.endswith(" 1")

    async def list_for_user(self, user_id: int) -> list[APIKey]:
        """The keys of ``user_id``, newest first."""
        rows = await self.db.fetch(
            f"SELECT id, user_id, name, display, created_at, last_used_at, expires_at, "
            f"revoked_at FROM {self.table} WHERE user_id = $1 ORDER BY created_at DESC",
            user_id,
        )
        return [_key(row) for row in rows]


class APIKeyAuth:
    """Authenticates ``Authorization: Bearer <key>`` and ``X-API-Key: <key>`` requests.

    Use with ``app.use(APIKeyAuth(store))`` after ``app.use(session_auth)``: a request
    with a key is authenticated by the key alone (the cookie is ignored), and a
    request with a bad key gets 401 rather than falling back to the cookie.
    """

    def __init__(self, store: APIKeyStore) -> None:
        self.store = store

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return ``app`` wrapped in the API-key middleware; ``app.use`` calls it."""
        from stellate.auth.middleware import AuthMiddleware

        return AuthMiddleware(app, api_keys=self.store)


def invalid_key_response() -> JSONResponse:
    """The 401 answer to a forged, revoked or expired key."""
    return JSONResponse(
        {"detail": "Invalid, revoked or expired API key: check the key or create a new one"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def presented_key(headers: list[tuple[bytes, bytes]], prefix: str) -> str | None:
    """The raw key of ``X-API-Key`` or ``Authorization: Bearer <prefix>...``, if any."""
    # A plain scan of the raw headers: this runs on every request, keyed or not.
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() == "bearer" and credentials.startswith(prefix):
                return credentials
    return None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: Any) -> APIKey:
    return APIKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        display=row["display"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
