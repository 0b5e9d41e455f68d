"""``app.auth``: the parts the auth plugin wires together, in one object."""

from __future__ import annotations

from dataclasses import dataclass

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKeyStore
from stellate.auth.mail import Mailer
from stellate.auth.passwords import PasswordHasher
from stellate.auth.security import SecurityLog
from stellate.auth.sessions import SessionAuth
from stellate.auth.throttle import LoginThrottle
from stellate.auth.users import UserStore

__all__ = ["Auth"]


@dataclass(slots=True)
class Auth:
    """What the ``auth`` plugin adds to the app as ``app.auth``.

    Attributes:
        sessions: the session middleware and login/logout API.
        users: users, groups and permissions.
        throttle: login lockouts.
        security_log: the audit log.
        passwords: the argon2id hasher (also ``users.hasher``).
        api_keys: API keys of users.
        tokens: password-reset and e-mail verification tokens.
        mailer: where the flows send mail (replace it with your transport).
    """

    sessions: SessionAuth
    users: UserStore
    throttle: LoginThrottle
    security_log: SecurityLog
    passwords: PasswordHasher
    api_keys: APIKeyStore
    tokens: AccountTokens
    mailer: Mailer

    async def ensure_tables(self) -> None:
        """Create every auth table that is missing."""
        await self.users.ensure_tables()
        await self.api_keys.ensure_table()
        await self.sessions.ensure_table()
        await self.throttle.ensure_table()
        await self.security_log.ensure_table()
