"""Who may do what in the admin: staff only, per-model permissions from RBAC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stellate.auth.principal import Principal

if TYPE_CHECKING:
    from stellate.admin.options import ModelAdmin
    from stellate.core import Request

__all__ = ["VERBS", "Access", "load_access"]

#: The four permissions of every registered model: ``<app>.<verb>_<model>``.
VERBS = ("view", "add", "change", "delete")


@dataclass(slots=True, frozen=True)
class Access:
    """The staff user of a request and the permission codenames they hold.

    ``permissions`` is ``None`` for superusers, who hold every permission. A user
    with ``change`` may also view (as in Django).
    """

    user: Principal
    permissions: frozenset[str] | None

    def can(self, admin: ModelAdmin, verb: str) -> bool:
        """Whether the user may ``verb`` (view, add, change, delete) ``admin``'s model."""
        held = self.permissions
        if held is None:
            return True
        if admin.permission(verb) in held:
            return True
        return verb == "view" and admin.permission("change") in held

    def holds(self, codename: str | None) -> bool:
        """Whether the user holds ``codename`` (``None``: nothing is needed)."""
        return codename is None or self.permissions is None or codename in self.permissions


async def load_access(request: Request) -> Access | None:
    """The :class:`Access` of a staff request, or ``None`` for anonymous and non-staff ones.

    Costs no query: the session's principal carries the codenames the user holds
    (stellate-auth refreshes them when grants change).
    """
    user: Any = request.scope.get("user")
    if not isinstance(user, dict) or not user.get("is_staff"):
        return None
    principal = user if isinstance(user, Principal) else Principal.from_data(user)
    if principal.is_superuser:
        return Access(principal, None)
    return Access(principal, frozenset(principal.permissions))
