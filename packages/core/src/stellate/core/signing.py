"""Signed tokens with key rotation: ``SigningKey`` and ``TokenEngine``.

A ``TokenEngine`` signs strings (``sign``/``unsign``) and JSON data with a
time to live (``encode_data``/``decode_data``) on top of itsdangerous'
``TimestampSigner`` and ``URLSafeTimedSerializer``. Its rules:

- The first key signs, every listed key verifies (rotation: prepend the new
  key, drop the old one once its tokens have expired).
- Every token starts with the version of the key that signed it, so
  verification goes straight to that key instead of trying each one. The
  version is covered by the signature (it is part of the signed message for
  ``sign`` and of the key-derivation salt for ``encode_data``), so editing it
  only selects a key whose signature does not match.
- Every token carries a fresh random salt (a nonce inside the signed
  message), so signing one value twice gives two unrelated tokens.
- A ``purpose`` (itsdangerous calls it the salt) derives a separate key per
  use, so a token made for sessions is worthless as a CSRF or e-mail token.
- Signatures are HMAC-SHA256 and compared with ``hmac.compare_digest``
  (inside itsdangerous), so a forged token learns nothing from timing.

Tokens are signed, not encrypted: anyone holding one can read its value and
data. Do not put secrets in them.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

__all__ = ["SigningKey", "TokenEngine"]

Clock = Callable[[], float]

# A token signed by a server whose clock runs ahead of ours looks "issued in the
# future". Tolerating a little of that keeps tokens valid across machines; more
# than this means a broken clock, and such tokens are refused.
_CLOCK_SKEW_SECONDS = 60.0
_NONCE_BYTES = 9  # 12 URL-safe characters, no padding


class SigningKey:
    """One secret with the version number that tokens signed by it carry.

    Args:
        secret: The secret (a long random string; see ``secrets.token_urlsafe(32)``).
        version: A non-negative integer unique among the keys of one engine.

    Raises:
        TypeError: If ``secret`` is not ``str``/``bytes`` or ``version`` not an ``int``.
        ValueError: If ``secret`` is empty or ``version`` is negative.
    """

    __slots__ = ("_secret", "_version")

    def __init__(self, secret: str | bytes, version: int) -> None:
        if not isinstance(secret, str | bytes):
            raise TypeError(
                f"SigningKey `secret` must be str or bytes, got `{type(secret).__name__}`"
            )
        if not secret.strip():
            raise ValueError(
                f"SigningKey(version={version!r}) has an empty `secret`: set it to a long "
                "random string, e.g. the output of `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`"
            )
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"SigningKey `version` must be an int, got `{version!r}`")
        if version < 0:
            raise ValueError(f"SigningKey `version` must be >= 0, got `{version}`")
        self._secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self._version = version

    @property
    def secret(self) -> bytes:
        """The secret as bytes."""
        return self._secret

    @property
    def version(self) -> int:
        """The version written into every token this key signs."""
        return self._version

    def __repr__(self) -> str:
        # Never show the secret: reprs end up in logs and error pages.
        return f"SigningKey(secret='***', version={self._version})"


class _ClockTimestampSigner(TimestampSigner):
    """A ``TimestampSigner`` whose clock is the engine's (so tests can move time)."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class _MsgspecJSON:
    """The ``dumps``/``loads`` pair itsdangerous calls, backed by msgspec."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()

    def dumps(self, obj: Any) -> bytes:
        return self._encoder.encode(obj)

    def loads(self, payload: bytes) -> Any:
        return self._decoder.decode(payload)


class _DataEnvelope(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    nonce: str
    expires: float | None  # seconds since the epoch, from the engine's clock
    data: Any


class TokenEngine:
    """Signs and verifies tokens with a rotating list of keys.

    Args:
        keys: The keys, newest first. The first signs; all verify.
        purpose: What the tokens are for (``"session"``, ``"csrf"``, ...). Tokens
            only verify on an engine with the same purpose.
        clock: Seconds since the epoch, ``time.time`` by default. Tests pass a
            controllable clock to check expiry without sleeping.

    Raises:
        ValueError: If ``keys`` is empty, holds two keys with one version, or
            ``purpose`` is empty.
        TypeError: If an entry of ``keys`` is not a ``SigningKey``.

    Example:
        ```python
        engine = TokenEngine(keys=[SigningKey(secret="app-key", version=1)])
        token = engine.encode_data({"user_id": 42, "action": "verify_email"}, ttl=3600)
        engine.decode_data(token)  # {"user_id": 42, "action": "verify_email"}
        ```
    """

    __slots__ = ("_by_version", "_clock", "_data_serializers", "_keys", "_purpose", "_signers")

    def __init__(
        self,
        keys: Iterable[SigningKey],
        *,
        purpose: str = "default",
        clock: Clock = time.time,
    ) -> None:
        key_list = list(keys)
        if not key_list:
            raise ValueError(
                "TokenEngine needs at least one key: "
                "`TokenEngine(keys=[SigningKey(secret=..., version=1)])`"
            )
        by_version: dict[int, SigningKey] = {}
        for position, key in enumerate(key_list):
            if not isinstance(key, SigningKey):
                raise TypeError(
                    f"TokenEngine `keys[{position}]` must be a SigningKey, "
                    f"got `{type(key).__name__}`"
                )
            if key.version in by_version:
                raise ValueError(
                    f"TokenEngine `keys` holds two keys with version `{key.version}`: "
                    "give every key its own version (tokens name the key by version)"
                )
            by_version[key.version] = key
        if not isinstance(purpose, str) or not purpose:
            raise ValueError(f"TokenEngine `purpose` must be a non-empty string, got `{purpose!r}`")
        self._keys = tuple(key_list)
        self._by_version = by_version
        self._purpose = purpose
        self._clock = clock
        # Built once per key; their derived HMAC keys are what signing costs.
        self._signers: dict[int, _ClockTimestampSigner] = {}
        self._data_serializers: dict[int, URLSafeTimedSerializer] = {}

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """The keys, newest (signing) key first."""
        return self._keys

    @property
    def purpose(self) -> str:
        """The purpose every token of this engine is bound to."""
        return self._purpose

    def with_purpose(self, purpose: str) -> TokenEngine:
        """Return an engine with the same keys and clock for another purpose.

        Args:
            purpose: The new purpose, e.g. ``"csrf"``.

        Returns:
            A new ``TokenEngine``; tokens of one do not verify on the other.
        """
        return TokenEngine(self._keys, purpose=purpose, clock=self._clock)

    def __repr__(self) -> str:
        versions = ", ".join(str(key.version) for key in self._keys)
        return f"TokenEngine(versions=[{versions}], purpose={self._purpose!r})"

    # -- plain signed strings -------------------------------------------------

    def sign(self, value: str) -> str:
        """Sign ``value`` with the newest key.

        The token is ``<version>.<nonce>.<value>.<timestamp>.<signature>``;
        ``value`` is readable in it, and the token is URL- and cookie-safe when
        ``value`` is.

        Args:
            value: The string to sign, e.g. a session id.

        Returns:
            The token.

        Raises:
            TypeError: If ``value`` is not a string.
        """
        if not isinstance(value, str):
            raise TypeError(
                f"TokenEngine.sign() takes a str, got `{type(value).__name__}`; "
                "use encode_data() for other data"
            )
        key = self._keys[0]
        nonce = secrets.token_urlsafe(_NONCE_BYTES)
        message = f"{key.version}.{nonce}.{value}"
        return self._signer(key).sign(message).decode()

    def unsign(self, token: str | bytes, *, max_age: float | timedelta | None = None) -> str | None:
        """Verify a token from ``sign`` and return its value.

        Args:
            token: The token.
            max_age: Refuse tokens signed longer ago than this many seconds,
                counted in whole seconds like itsdangerous' ``max_age``.

        Returns:
            The signed value, or ``None`` when the token is malformed, tampered
            with, signed by a key not in ``keys``, made for another purpose,
            or older than ``max_age``. The reasons are not told apart on
            purpose: callers treat all of them as "no valid token".

        Raises:
            ValueError: If ``max_age`` is not positive.
        """
        limit = None if max_age is None else _seconds("max_age", max_age)
        text = _as_text(token)
        if text is None:
            return None
        key = self._key_for(text)
        if key is None:
            return None
        try:
            message, signed_at = self._signer(key).unsign(text, return_timestamp=True)
        except BadData:
            return None
        if self._from_the_future(signed_at):
            return None
        # Whole seconds, as itsdangerous counts them (its timestamps are integers).
        if limit is not None and int(self._clock()) - int(signed_at.timestamp()) > limit:
            return None
        # The message is `<version>.<nonce>.<value>`: drop the first two fields.
        parts = message.decode().split(".", 2)
        if len(parts) != 3:
            return None
        return parts[2]

    # -- JSON data with a time to live ----------------------------------------

    def encode_data(self, data: Any, *, ttl: float | timedelta | None) -> str:
        """Sign JSON-compatible data that expires after ``ttl``.

        Args:
            data: Anything msgspec encodes to JSON (dicts, lists, strings,
                numbers, booleans, None, Structs, datetimes...).
            ttl: Seconds (or a ``timedelta``) the token stays valid; ``None``
                for a token that never expires. Required so that "forever" is
                always a visible choice.

        Returns:
            A URL-safe token ``<version>.<payload>.<timestamp>.<signature>``.

        Raises:
            TypeError: If ``data`` cannot be encoded as JSON.
            ValueError: If ``ttl`` is not positive.
        """
        expires = None if ttl is None else self._clock() + _seconds("ttl", ttl)
        key = self._keys[0]
        envelope = _DataEnvelope(secrets.token_urlsafe(_NONCE_BYTES), expires, data)
        try:
            signed = self._serializer(key).dumps(envelope)
        except (TypeError, msgspec.EncodeError) as exc:
            raise TypeError(
                f"TokenEngine.encode_data() cannot encode `{type(data).__name__}` "
                f"as JSON ({exc}): pass dicts, lists, str, int, float, bool, None or "
                "msgspec Structs"
            ) from None
        return f"{key.version}.{_as_text(signed)}"

    def decode_data(self, token: str | bytes) -> Any:
        """Verify a token from ``encode_data`` and return its data.

        Args:
            token: The token.

        Returns:
            The decoded data (JSON types: dict, list, str, int, float, bool,
            None), or ``None`` when the token is malformed, tampered with,
            expired, signed by a key not in ``keys`` or made for another
            purpose.
        """
        text = _as_text(token)
        if text is None:
            return None
        key = self._key_for(text)
        if key is None:
            return None
        body = text.split(".", 1)[1]
        try:
            raw, signed_at = self._serializer(key).loads(body, return_timestamp=True)
            envelope = msgspec.convert(raw, _DataEnvelope)
        except (BadData, msgspec.ValidationError):
            return None
        if self._from_the_future(signed_at):
            return None
        if envelope.expires is not None and self._clock() >= envelope.expires:
            return None
        return envelope.data

    # -- internals ------------------------------------------------------------

    def _key_for(self, token: str) -> SigningKey | None:
        version, sep, _ = token.partition(".")
        # isdigit() keeps `int()` away from signs, spaces and underscores.
        if not sep or not version.isdigit() or len(version) > 18:
            return None
        return self._by_version.get(int(version))

    def _from_the_future(self, signed_at: datetime) -> bool:
        # Not itsdangerous' `max_age` check: it refuses every token stamped even
        # one second ahead of the local clock, which breaks verification on a
        # second server whose clock is a fraction of a second behind the first.
        return signed_at.timestamp() - self._clock() > _CLOCK_SKEW_SECONDS

    def _signer(self, key: SigningKey) -> _ClockTimestampSigner:
        signer = self._signers.get(key.version)
        if signer is None:
            signer = _ClockTimestampSigner(
                key.secret,
                salt=f"stellate.signing.sign:{self._purpose}",
                key_derivation="hmac",
                digest_method=hashlib.sha256,
                clock=self._clock,
            )
            self._signers[key.version] = signer
        return signer

    def _serializer(self, key: SigningKey) -> URLSafeTimedSerializer:
        serializer = self._data_serializers.get(key.version)
        if serializer is None:
            serializer = URLSafeTimedSerializer(
                key.secret,
                # The version is in the salt because it sits outside the signed
                # payload: a token relabelled with another version derives
                # another HMAC key and fails verification.
                salt=f"stellate.signing.data:{self._purpose}:v{key.version}",
                serializer=_MsgspecJSON(),
                signer=_ClockTimestampSigner,
                signer_kwargs={
                    "key_derivation": "hmac",
                    "digest_method": hashlib.sha256,
                    "clock": self._clock,
                },
                fallback_signers=[],
            )
            self._data_serializers[key.version] = serializer
        return serializer


def _seconds(name: str, value: float | timedelta) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"`{name}` must be seconds (int or float) or a timedelta, got `{value!r}`")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"`{name}` must be a positive number of seconds, got `{value!r}`; "
            f"pass `{name}=None` for no limit"
        )
    return seconds


def _as_text(token: str | bytes) -> str | None:
    if isinstance(token, bytes):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(token, str):
        return token
    return None
