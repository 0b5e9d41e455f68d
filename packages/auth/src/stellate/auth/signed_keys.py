"""``SignedAPIKeyMixin``: database-backed API keys on your own ORM model.

Declare a model with the mixin and a ``TokenConfig``, as the guide shows::

    class APIKey(SignedAPIKeyMixin):
        class Meta:
            table = "api_keys"

        class TokenConfig:
            keys = [SigningKey(secret="apikey-2026-q2", version=1)]
            key_display_prefix = "sk_myapp_"

        id: int = Field(primary_key=True, auto=True)
        user_id: int = Field()
        name: str = Field(default="")

    result = await APIKey.generate(user_id=user.id, name="Production Key")
    result.raw_key            # show it once; only a hash is stored
    api_key = await APIKey.verify(raw_key)   # HMAC first, then one lookup by key id

Verification checks the prefix and the HMAC signature before any query (a forged key
costs nothing but a hash computation), then loads the row by its ``key_id``, compares
the SHA-256 of the secret part in constant time, and refuses revoked or expired keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from stellate.core.signing import SigningKey, TokenEngine
from stellate.orm import Field, Model

__all__ = ["GeneratedAPIKey", "SignedAPIKeyMixin"]

K = TypeVar("K", bound="SignedAPIKeyMixin")

_LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class GeneratedAPIKey(Generic[K]):
    """What :meth:`SignedAPIKeyMixin.generate` returns: the raw key (once) and the row."""

    raw_key: str
    key: K

    def __repr__(self) -> str:
        # The raw key is a credential: keep it out of logs and tracebacks.
        return f"GeneratedAPIKey(key={self.key!r}, raw_key='{self.key.key_display}')"


class SignedAPIKeyMixin(Model):
    """Adds signed, hashed, revocable API keys to a model (see the module docs)."""

    class Meta:
        abstract = True

    key_id: str = Field(unique=True, default="")
    key_hash: str = Field(default="")
    key_display: str = Field(default="")
    last_used_at: datetime | None = Field(default=None)
    expires_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)

    TokenConfig: ClassVar[type]

    @classmethod
    def _token_settings(cls) -> tuple[TokenEngine, str]:
        cached = cls.__dict__.get("_stellate_token_settings")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        config = getattr(cls, "TokenConfig", None)
        keys = list(getattr(config, "keys", None) or ())
        prefix = getattr(config, "key_display_prefix", None)
        if config is None or not keys or not isinstance(prefix, str) or not prefix:
            raise TypeError(
                f"`{cls.__name__}` needs a TokenConfig: `class TokenConfig: keys = "
                '[SigningKey(secret=..., version=1)]; key_display_prefix = "sk_myapp_"`'
            )
        if not all(isinstance(key, SigningKey) for key in keys):
            raise TypeError(f"`{cls.__name__}.TokenConfig.keys` must hold SigningKey objects")
        if "." in prefix:
            raise TypeError(
                f"`{cls.__name__}.TokenConfig.key_display_prefix` `{prefix}` must not contain dots"
            )
        settings = (TokenEngine(keys, purpose=f"api-key:{cls._meta.table}"), prefix)
        type.__setattr__(cls, "_stellate_token_settings", settings)
        return settings

    @classmethod
    def parse_key(cls, raw_key: str) -> tuple[str, str] | None:
        """The ``(key_id, secret)`` of a validly signed key, else ``None`` (no query)."""
        engine, prefix = cls._token_settings()
        if not isinstance(raw_key, str) or not raw_key.startswith(prefix):
            return None
        value = engine.unsign(raw_key[len(prefix) :])
        if value is None:
            return None
        key_id, dot, secret = value.partition(".")
        if not dot or not key_id or not secret:
            return None
        return key_id, secret

    @classmethod
    async def generate(
        cls: type[K], *, expires_in: timedelta | None = None, **fields: Any
    ) -> GeneratedAPIKey[K]:
        """Create and save a key; ``fields`` are the model's own (``user_id=``, ``name=``)."""
        engine, prefix = cls._token_settings()
        key_id = uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        raw_key = prefix + engine.sign(f"{key_id}.{secret}")
        key = cls(
            **fields,
            key_id=key_id,
            key_hash=_digest(secret),
            key_display=f"{prefix}...{raw_key[-4:]}",
            expires_at=None if expires_in is None else datetime.now(UTC) + expires_in,
        )
        await key.save()
        return GeneratedAPIKey(raw_key=raw_key, key=key)

    @classmethod
    async def verify(cls: type[K], raw_key: str) -> K | None:
        """The active key ``raw_key`` belongs to, or ``None`` (forged, revoked, expired)."""
        parsed = cls.parse_key(raw_key)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = await cls.objects.filter(key_id=key_id).first()
        if key is None or not hmac.compare_digest(key.key_hash, _digest(secret)):
            return None
        now = datetime.now(UTC)
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            return None
        if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_GRANULARITY:
            await cls.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key

    async def revoke(self) -> None:
        """Revoke this key; it never verifies again."""
        now = datetime.now(UTC)
        await type(self).objects.filter(pk=self.pk).update(revoked_at=now)
        self.revoked_at = now

    @property
    def is_active(self) -> bool:
        """Not revoked and not expired."""
        now = datetime.now(UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_dict(self) -> dict[str, Any]:
        """The loaded fields, without the key hash."""
        data = super().to_dict()
        data.pop("key_hash", None)
        return data


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
