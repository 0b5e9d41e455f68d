"""Signed, expiring tokens for password resets and e-mail verification (no table).

Both are :meth:`TokenEngine.encode_data` tokens with their own purpose, so one kind
is worthless as the other (or as a session cookie):

- a password-reset token carries the user id and a fingerprint of the stored password
  hash; resetting changes the hash, so the token works once, and it expires after
  ``reset_ttl`` seconds;
- an e-mail verification token carries the user id and the address, so it proves
  that address only (changing the address voids it).
"""

from __future__ import annotations

import hmac
from typing import Any

from stellate.auth.users import UserRecord
from stellate.core.signing import TokenEngine

__all__ = ["AccountTokens"]


class AccountTokens:
    """Makes and checks password-reset and e-mail verification tokens.

    Args:
        token_engine: the app's engine (purposes ``password-reset`` and ``verify-email``
            are derived from it).
        reset_ttl: seconds a password-reset token stays valid.
        verify_ttl: seconds an e-mail verification token stays valid.
    """

    def __init__(
        self, token_engine: TokenEngine, *, reset_ttl: float = 3600, verify_ttl: float = 3 * 86400
    ) -> None:
        self.reset_engine = token_engine.with_purpose("password-reset")
        self.verify_engine = token_engine.with_purpose("verify-email")
        self.reset_ttl = reset_ttl
        self.verify_ttl = verify_ttl

    def password_reset_token(self, user: UserRecord) -> str:
        """A token that lets its holder set ``user``'s password once."""
        return self.reset_engine.encode_data(
            {"u": user.id, "p": user.password_fingerprint}, ttl=self.reset_ttl
        )

    def password_reset_user_id(self, token: str) -> int | None:
        """The user id in a validly signed, unexpired reset token (not yet matched)."""
        return _user_id(self.reset_engine.decode_data(token))

    def password_reset_matches(self, token: str, user: UserRecord) -> bool:
        """Whether ``token`` is a valid reset token for ``user``'s current password."""
        data = self.reset_engine.decode_data(token)
        if _user_id(data) != user.id or not isinstance(data.get("p"), str):
            return False
        return hmac.compare_digest(data["p"].encode(), user.password_fingerprint.encode())

    def email_verification_token(self, user: UserRecord) -> str:
        """A token proving that whoever holds it receives mail at ``user.email``."""
        return self.verify_engine.encode_data(
            {"u": user.id, "e": user.email.lower()}, ttl=self.verify_ttl
        )

    def email_verification_matches(self, token: str, user: UserRecord) -> bool:
        """Whether ``token`` verifies ``user``'s current address."""
        data = self.verify_engine.decode_data(token)
        if _user_id(data) != user.id or not isinstance(data.get("e"), str):
            return False
        return hmac.compare_digest(data["e"].encode(), user.email.lower().encode())

    def email_verification_user_id(self, token: str) -> int | None:
        """The user id in a validly signed, unexpired verification token."""
        return _user_id(self.verify_engine.decode_data(token))


def _user_id(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    value = data.get("u")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
