"""The authenticated principal that ``request.user`` holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

__all__ = ["Principal"]


class Principal(dict[str, Any]):
    """Who is making the request: ``id``, ``username``, ``is_staff``, ``is_superuser``,
    ``groups`` and ``permissions`` (codenames held directly or through a group).

    It *is* a ``dict`` (so ``isinstance(request.user, dict)``, ``user["id"]`` and
    ``user.get("is_staff")`` work as the guides show) but a read-only one: a handler
    cannot promote a user by writing ``user["is_staff"] = True``. Attribute access
    (``user.id``) reads the same values.

    Example:
        ```python
        user = request.user
        if user is None:
            raise HTTPException(401, "Authentication required")
        if not user.get("is_staff"):
            raise HTTPException(403, "Staff access required")
        ```
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        id: int,
        username: str,
        is_staff: bool = False,
        is_superuser: bool = False,
        groups: Iterable[str] = (),
        permissions: Iterable[str] = (),
    ) -> None:
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError(f"Principal `id` must be an int, got `{id!r}`")
        super().__init__(
            id=id,
            username=str(username),
            is_staff=bool(is_staff),
            is_superuser=bool(is_superuser),
            groups=sorted({str(group) for group in groups}),
            # Superusers hold every permission: listing them would only grow the cookie.
            permissions=[] if is_superuser else sorted({str(p) for p in permissions}),
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Principal:
        """Build a principal from its stored form (a session payload or record)."""
        return cls(
            id=data["id"],
            username=data["username"],
            is_staff=data.get("is_staff", False),
            is_superuser=data.get("is_superuser", False),
            groups=data.get("groups", ()),
            permissions=data.get("permissions", ()),
        )

    @classmethod
    def from_user(
        cls, user: Any, *, groups: Iterable[str] = (), permissions: Iterable[str] = ()
    ) -> Principal:
        """Build a principal from a user model instance or any object with the attributes."""
        if isinstance(user, Mapping):
            return cls.from_data({"groups": groups, "permissions": permissions, **user})
        return cls(
            id=user.id,
            username=user.username,
            is_staff=getattr(user, "is_staff", False),
            is_superuser=getattr(user, "is_superuser", False),
            groups=groups,
            permissions=permissions,
        )

    @property
    def id(self) -> int:
        return int(self["id"])

    @property
    def username(self) -> str:
        return str(self["username"])

    @property
    def is_staff(self) -> bool:
        return bool(self["is_staff"])

    @property
    def is_superuser(self) -> bool:
        return bool(self["is_superuser"])

    @property
    def groups(self) -> list[str]:
        return list(self["groups"])

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def permissions(self) -> list[str]:
        return list(self["permissions"])

    def has_perm(self, codename: str) -> bool:
        """Whether the principal holds ``codename`` (superusers hold every one); no query.

        The codenames were read at login (or when the session was last refreshed, see
        ``Auth.refresh_principal``); ``await app.auth.users.has_perm(user, codename,
        obj)`` asks the database and the object-level hooks.
        """
        return bool(self["is_superuser"]) or codename in self["permissions"]

    def in_group(self, name: str) -> bool:
        """Whether the principal belongs to group ``name``."""
        return name in self["groups"]

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "request.user is read-only: change the user in the database, then call "
            "`auth.refresh_principal(user_id)` so sessions pick it up"
        )

    __setitem__ = _read_only
    __delitem__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only
    __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (Principal.from_data, (dict(self),))
