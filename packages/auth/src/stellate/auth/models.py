"""ORM models of the auth tables: ``User``, ``Group``, ``Permission``.

They map the tables :class:`~stellate.auth.users.UserStore` creates (``stellate_users``,
``stellate_groups``, ``stellate_permissions`` and the junction tables), so application
code can query users with the ORM (``await User.objects.filter(is_staff=True).all()``)
while the login path keeps its single raw query. List ``stellate.auth.models`` in
``STELLATE_MODELS`` to manage these tables with migrations.

The password hash is a column like any other, but :meth:`User.to_dict` (and therefore
the JSON encoder, serializers and the admin, which use it) never includes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from stellate.auth.passwords import PasswordHasher
from stellate.auth.permissions import decide_object_permission
from stellate.auth.principal import Principal
from stellate.auth.users import UserTables
from stellate.orm import Field, ManyToManyField, Model, get_db

__all__ = ["Group", "Permission", "User"]

#: Fields no serialised form of a user ever contains.
HIDDEN_USER_FIELDS = frozenset({"password"})


class Permission(Model):
    """A permission codename such as ``books.change_book``."""

    class Meta:
        table = "stellate_permissions"

    id: int = Field(primary_key=True, auto=True)
    codename: str = Field(unique=True, regex=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
    name: str = Field(default="")


class Group(Model):
    """A named set of users sharing permissions."""

    class Meta:
        table = "stellate_groups"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1)
    permissions: ClassVar[Any] = ManyToManyField(Permission, through="stellate_group_permissions")


class User(Model):
    """An account. Create accounts with ``app.auth.users.create_user`` (validated, hashed)."""

    class Meta:
        table = "stellate_users"

    id: int = Field(primary_key=True, auto=True)
    username: str = Field(min_length=1)
    email: str = Field(default="")
    email_verified: bool = Field(default=False)
    password: str = Field(default="!")  # an argon2id hash; "!" means no usable password
    is_active: bool = Field(default=True)
    is_staff: bool = Field(default=False)
    is_superuser: bool = Field(default=False)
    last_login: datetime | None = Field(default=None)
    date_joined: datetime = Field(db_default="now()")
    groups: ClassVar[Any] = ManyToManyField(Group, through="stellate_user_groups")
    user_permissions: ClassVar[Any] = ManyToManyField(
        Permission, through="stellate_user_permissions"
    )

    def to_dict(self) -> dict[str, Any]:
        """The loaded fields, without the password hash."""
        data = super().to_dict()
        for hidden in HIDDEN_USER_FIELDS:
            data.pop(hidden, None)
        return data

    def __repr__(self) -> str:
        return f"<User {self.pk} {self.__dict__.get('username')!r}>"

    @property
    def has_usable_password(self) -> bool:
        return str(self.__dict__.get("password", "")).startswith("$argon2")

    async def check_password(self, password: str, hasher: PasswordHasher | None = None) -> bool:
        """Whether ``password`` is this user's (argon2id, off the event loop)."""
        return await (hasher or PasswordHasher()).verify_async(password, self.password)

    async def has_perm(self, codename: str, obj: Any = None) -> bool:
        """Whether this user holds ``codename`` directly or through a group.

        Active superusers hold every permission; inactive users hold none. With
        ``obj``, its ``has_object_permission(user, codename)`` method (if any) decides
        first (see :mod:`stellate.auth.permissions`).
        """
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        if obj is not None:
            decided = decide_object_permission((), self.principal(), codename, obj)
            if decided is not None:
                return decided
        tables = _tables(type(self))
        found = await get_db(self._meta.database).fetchval(
            f"SELECT {tables.permissions_of('$1')} @> ARRAY[$2::text]", self.pk, codename
        )
        return bool(found)

    async def get_all_permissions(self) -> set[str]:
        """The codenames this user holds directly or through its groups (one query)."""
        if not self.is_active:
            return set()
        tables = _tables(type(self))
        found = await get_db(self._meta.database).fetchval(
            f"SELECT {tables.permissions_of('$1::bigint')}", self.pk
        )
        return set(found or ())

    def principal(
        self, groups: list[str] | None = None, permissions: list[str] | None = None
    ) -> Principal:
        """What ``request.user`` holds for this user (pass groups and codenames if loaded)."""
        return Principal(
            id=self.pk,
            username=self.username,
            is_staff=self.is_staff,
            is_superuser=self.is_superuser,
            groups=groups or (),
            permissions=permissions or (),
        )


def _tables(model: type[User]) -> UserTables:
    table = model._meta.table
    return UserTables() if table == User._meta.table else UserTables(users=table)
