"""``app.auth``: the parts the auth plugin wires together, in one object."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKeyStore
from stellate.auth.mail import Mailer
from stellate.auth.passwords import PasswordHasher
from stellate.auth.permissions import sync_permissions
from stellate.auth.principal import Principal
from stellate.auth.security import SecurityLog
from stellate.auth.sessions import SessionAuth
from stellate.auth.throttle import LoginThrottle
from stellate.auth.users import UserStore

if TYPE_CHECKING:
    from stellate.orm import Model

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

    @property
    def user_model(self) -> type[Model]:
        """The user model: the app's own (``STELLATE_AUTH_USER_MODEL``) or the built-in."""
        if self.users.user_model is not None:
            return self.users.user_model
        from stellate.auth.models import User

        return User

    async def load_principal(self, user_id: int) -> Principal | None:
        """The principal of an active user, with groups and permissions (one query)."""
        user = await self.users.get(user_id)
        return None if user is None or not user.is_active else user.principal()

    async def refresh_principal(self, user_id: int) -> int:
        """Store the user's current roles, groups and permissions in their sessions.

        Sessions pick them up at their next check (``recheck_interval``, or the next
        unsafe request). A user who is gone or inactive is logged out everywhere.
        The plugin calls this when ``users.grant`` or ``users.add_to_group`` changes
        a user; call it after changing roles in other ways (an ORM update).

        Returns:
            How many sessions were updated (or ended).
        """
        user = await self.users.get(user_id)
        if user is None or not user.is_active:
            return await self.sessions.logout_everywhere(user_id)
        return await self.sessions.refresh_principal(user.principal())

    async def sync_permissions(self, models: Iterable[type[Model]]) -> int:
        """Create the add/change/delete/view permissions of ``models`` (see
        :mod:`stellate.auth.permissions`); ``stellate migrate`` does it for the models
        in ``STELLATE_MODELS``. Returns how many rows were created or renamed."""
        return await sync_permissions(self.users.db, models, table=self.users.permissions)

    async def has_perm(self, user: Any, codename: str, obj: Any = None) -> bool:
        """``users.has_perm`` for ``request.user`` (``False`` for anonymous requests)."""
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            return False
        principal = user if isinstance(user, Principal) else Principal.from_data(user)
        return await self.users.has_perm(principal, codename, obj)
