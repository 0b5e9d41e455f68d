"""Users, groups and permissions in PostgreSQL, through raw parameterised SQL.

The login path needs one query (the user with its group names, aggregated in SQL)
and every statement here is a single round trip. Password hashes are read only
where a password is verified and never leave this module in a user object's JSON
form or ``repr``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stellate.auth._db import SQLDatabase, resolve_database
from stellate.auth.passwords import PasswordHasher
from stellate.auth.permissions import ObjectPermissionHook, decide_object_permission
from stellate.auth.principal import Principal
from stellate.auth.validators import PasswordValidator, validate_password

if TYPE_CHECKING:
    from stellate.orm import Model

__all__ = ["UserExistsError", "UserRecord", "UserStore", "UserTables"]


class UserExistsError(ValueError):
    """A user with this username already exists."""


class UserRecord:
    """A user row with its group names (the password hash stays private)."""

    __slots__ = (
        "_password",
        "date_joined",
        "email",
        "email_verified",
        "groups",
        "id",
        "is_active",
        "is_staff",
        "is_superuser",
        "last_login",
        "permissions",
        "username",
    )

    def __init__(self, row: Any) -> None:
        self.id: int = row["id"]
        self.username: str = row["username"]
        self.email: str = row["email"]
        self.email_verified: bool = row["email_verified"]
        self.is_active: bool = row["is_active"]
        self.is_staff: bool = row["is_staff"]
        self.is_superuser: bool = row["is_superuser"]
        self.last_login: datetime | None = row["last_login"]
        self.date_joined: datetime = row["date_joined"]
        self.groups: list[str] = sorted(row["groups"] or [])
        self.permissions: list[str] = sorted(row["permissions"] or [])
        self._password: str = row["password"]

    @property
    def password_fingerprint(self) -> str:
        """A digest of the stored hash: changes whenever the password does.

        Password-reset tokens carry it, which makes them single-use: once the reset
        sets a new password, the token no longer matches.
        """
        return hashlib.sha256(self._password.encode()).hexdigest()[:32]

    @property
    def has_usable_password(self) -> bool:
        return self._password.startswith("$argon2")

    def principal(self) -> Principal:
        """What ``request.user`` holds for this user."""
        return Principal(
            id=self.id,
            username=self.username,
            is_staff=self.is_staff,
            is_superuser=self.is_superuser,
            groups=self.groups,
            permissions=self.permissions,
        )

    def __json__(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "email_verified": self.email_verified,
            "is_active": self.is_active,
            "is_staff": self.is_staff,
            "is_superuser": self.is_superuser,
            "last_login": self.last_login,
            "date_joined": self.date_joined,
            "groups": self.groups,
            "permissions": self.permissions,
        }

    def __repr__(self) -> str:
        return f"<UserRecord {self.id} {self.username!r}>"


class UserTables:
    """The table names of users, groups, permissions and the links between them.

    With the built-in user model they are ``stellate_users``, ``stellate_groups``,
    ``stellate_user_groups``, ``stellate_permissions``, ``stellate_group_permissions``
    and ``stellate_user_permissions``. A swapped user model with table ``members``
    keeps the shared groups and permissions and links to them through ``members_groups``
    and ``members_permissions``.
    """

    __slots__ = (
        "group_permissions",
        "groups",
        "permissions",
        "user_groups",
        "user_permissions",
        "users",
    )

    def __init__(self, prefix: str = "stellate_", *, users: str | None = None) -> None:
        for label, value in (("prefix", prefix), ("users", users or "x")):
            if not value.replace("_", "").isalnum():
                raise ValueError(f"User table `{label}` `{value}` must be a plain SQL identifier")
        self.users = users or f"{prefix}users"
        self.groups = f"{prefix}groups"
        self.permissions = f"{prefix}permissions"
        self.group_permissions = f"{prefix}group_permissions"
        if users is None:
            self.user_groups = f"{prefix}user_groups"
            self.user_permissions = f"{prefix}user_permissions"
        else:
            self.user_groups = f"{users}_groups"
            self.user_permissions = f"{users}_permissions"

    def permissions_of(self, user_id_sql: str) -> str:
        """SQL of the codenames a user holds directly or through a group, as an array."""
        return (
            f"ARRAY(SELECT p.codename FROM {self.permissions} p JOIN {self.user_permissions} "
            f"up ON up.permission_id = p.id WHERE up.user_id = {user_id_sql} UNION "
            f"SELECT p.codename FROM {self.permissions} p JOIN {self.group_permissions} gp "
            f"ON gp.permission_id = p.id JOIN {self.user_groups} ug "
            f"ON ug.group_id = gp.group_id WHERE ug.user_id = {user_id_sql})"
        )


#: Columns of the built-in user table; a swapped model's other fields are "extra".
BASE_USER_COLUMNS = frozenset(
    {
        "id",
        "username",
        "email",
        "email_verified",
        "password",
        "is_active",
        "is_staff",
        "is_superuser",
        "last_login",
        "date_joined",
    }
)


class UserStore:
    """Creates, finds and authenticates users; manages groups and permissions.

    Args:
        database: a ``stellate.orm.Database`` or its alias.
        hasher: the password hasher (argon2id, off the event loop).
        validators: password validators for new passwords (``None``: the defaults).
        prefix: prefix of the table names (``stellate_users``, ``stellate_groups``...).
        user_model: the app's own user model (a subclass of
            ``stellate.auth.models.User`` with its own table and extra fields); its
            table holds the users, and :func:`~stellate.auth.guards.load_user` returns
            its instances. ``None``: the built-in table.
        object_permission_hooks: object-level decisions asked by :meth:`has_perm`
            (see :mod:`stellate.auth.permissions`).
        on_user_changed: awaited with a user id after its groups or permissions change
            (the auth plugin refreshes that user's sessions).
    """

    def __init__(
        self,
        database: SQLDatabase | str = "default",
        *,
        hasher: PasswordHasher | None = None,
        validators: list[PasswordValidator] | None = None,
        prefix: str = "stellate_",
        user_model: type[Model] | None = None,
        object_permission_hooks: Sequence[ObjectPermissionHook] = (),
        on_user_changed: Callable[[int], Awaitable[object]] | None = None,
    ) -> None:
        self._database = database
        self.hasher = hasher or PasswordHasher()
        self.validators = validators
        self.user_model = user_model
        self.extra_fields: tuple[str, ...] = ()
        if user_model is not None:
            missing = sorted(BASE_USER_COLUMNS - set(user_model._meta.fields))
            if missing:
                raise TypeError(
                    f"User model `{user_model.__qualname__}` lacks "
                    + ", ".join(f"`{name}`" for name in missing)
                    + ": subclass stellate.auth.models.User and give it its own Meta.table"
                )
            self.extra_fields = tuple(
                name for name in user_model._meta.fields if name not in BASE_USER_COLUMNS
            )
        self.tables = UserTables(
            prefix,
            users=None if user_model is None else user_model._meta.table,
        )
        self.users = self.tables.users
        self.groups = self.tables.groups
        self.user_groups = self.tables.user_groups
        self.permissions = self.tables.permissions
        self.group_permissions = self.tables.group_permissions
        self.user_permissions = self.tables.user_permissions
        self.object_permission_hooks = tuple(object_permission_hooks)
        self.on_user_changed = on_user_changed
        # A hash to verify against when the username does not exist, so a miss costs
        # as long as a wrong password and response times do not reveal usernames.
        self._dummy_hash: str | None = None

    @property
    def db(self) -> SQLDatabase:
        return resolve_database(self._database)

    async def ensure_tables(self) -> None:
        """Create the user, group and permission tables when missing.

        A swapped user model's table comes from its migrations; when it is missing
        (no migrations yet) it is created from the model.
        """
        model = self.user_model
        if model is not None and not await self.db.fetchval(
            "SELECT to_regclass($1) IS NOT NULL", self.users
        ):
            from stellate.orm.schema import create_table_sql

            for sql in create_table_sql(model):
                await self.db.execute(sql)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.users} (id bigserial PRIMARY KEY, "
            "username text NOT NULL, email text NOT NULL DEFAULT '', password text NOT NULL, "
            "is_active boolean NOT NULL DEFAULT true, is_staff boolean NOT NULL DEFAULT false, "
            "is_superuser boolean NOT NULL DEFAULT false, last_login timestamptz, "
            "date_joined timestamptz NOT NULL DEFAULT now())",
            f"ALTER TABLE {self.users} ADD COLUMN IF NOT EXISTS "
            "email_verified boolean NOT NULL DEFAULT false",
            f"CREATE INDEX IF NOT EXISTS {self.users}_email_ci ON {self.users} (lower(email))",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.users}_username_ci "
            f"ON {self.users} (lower(username))",
            f"CREATE TABLE IF NOT EXISTS {self.groups} (id bigserial PRIMARY KEY, "
            "name text NOT NULL UNIQUE)",
            f"CREATE TABLE IF NOT EXISTS {self.user_groups} ("
            f"user_id bigint NOT NULL REFERENCES {self.users} (id) ON DELETE CASCADE, "
            f"group_id bigint NOT NULL REFERENCES {self.groups} (id) ON DELETE CASCADE, "
            "PRIMARY KEY (user_id, group_id))",
            f"CREATE TABLE IF NOT EXISTS {self.permissions} (id bigserial PRIMARY KEY, "
            "codename text NOT NULL UNIQUE, name text NOT NULL DEFAULT '')",
            f"CREATE TABLE IF NOT EXISTS {self.group_permissions} ("
            f"group_id bigint NOT NULL REFERENCES {self.groups} (id) ON DELETE CASCADE, "
            f"permission_id bigint NOT NULL REFERENCES {self.permissions} (id) "
            "ON DELETE CASCADE, PRIMARY KEY (group_id, permission_id))",
            f"CREATE TABLE IF NOT EXISTS {self.user_permissions} ("
            f"user_id bigint NOT NULL REFERENCES {self.users} (id) ON DELETE CASCADE, "
            f"permission_id bigint NOT NULL REFERENCES {self.permissions} (id) "
            "ON DELETE CASCADE, PRIMARY KEY (user_id, permission_id))",
        ]
        for sql in statements:
            await self.db.execute(sql)

    def _select(self, where: str) -> str:
        return (
            f"SELECT u.id, u.username, u.email, u.email_verified, u.password, u.is_active, "
            "u.is_staff, "
            "u.is_superuser, u.last_login, u.date_joined, "
            "array_remove(array_agg(g.name ORDER BY g.name), NULL) AS groups, "
            f"{self.tables.permissions_of('u.id')} AS permissions "
            f"FROM {self.users} u LEFT JOIN {self.user_groups} ug ON ug.user_id = u.id "
            f"LEFT JOIN {self.groups} g ON g.id = ug.group_id WHERE {where} GROUP BY u.id"
        )

    async def get(self, user_id: int) -> UserRecord | None:
        """The user with ``user_id`` and its groups, or ``None``."""
        row = await self.db.fetchrow(self._select("u.id = $1"), user_id)
        return None if row is None else UserRecord(row)

    async def get_by_username(self, username: str) -> UserRecord | None:
        """The user named ``username`` (case-insensitive) and its groups, or ``None``."""
        if "\x00" in username:
            return None  # PostgreSQL text cannot hold NUL, so no account has this name.
        row = await self.db.fetchrow(
            self._select("lower(u.username) = lower($1)"), username.strip()
        )
        return None if row is None else UserRecord(row)

    async def get_by_email(self, email: str) -> UserRecord | None:
        """The oldest active user with ``email`` (case-insensitive), or ``None``."""
        email = email.strip()
        if not email or "\x00" in email:
            return None
        row = await self.db.fetchrow(
            self._select("lower(u.email) = lower($1) AND u.is_active") + " ORDER BY u.id LIMIT 1",
            email,
        )
        return None if row is None else UserRecord(row)

    async def mark_email_verified(self, user: UserRecord) -> None:
        """Record that ``user`` proved they receive mail at their address."""
        await self.db.execute(
            f"UPDATE {self.users} SET email_verified = true WHERE id = $1", user.id
        )
        user.email_verified = True

    def check_password(self, password: str, *, username: str = "", email: str = "") -> None:
        """Run the password validators.

        Raises:
            PasswordValidationError: listing every problem, each with what to do.
        """
        validate_password(
            password,
            user_attributes={"username": username, "email": email},
            validators=self.validators,
        )

    async def create_user(
        self,
        username: str,
        password: str | None,
        *,
        email: str = "",
        is_staff: bool = False,
        is_superuser: bool = False,
        is_active: bool = True,
        groups: Iterable[str] = (),
        validate: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> UserRecord:
        """Create a user; ``password=None`` makes an account that cannot log in.

        Args:
            extra: values of a swapped user model's own fields (``{"nickname": ...}``).

        Raises:
            PasswordValidationError: the password fails a validator (``validate=True``).
            UserExistsError: the username is taken (case-insensitively).
            ValueError: the username is empty, or ``extra`` names an unknown field.
        """
        username = username.strip()
        if not username:
            raise ValueError("A username is required: pass a non-empty `username`")
        columns, values = self._extra_columns(extra or {})
        if password is not None and validate:
            self.check_password(password, username=username, email=email)
        encoded = "!" if password is None else await self.hasher.hash_async(password)
        placeholders = "".join(f", ${index}" for index in range(7, 7 + len(values)))
        user_id = await self.db.fetchval(
            f"INSERT INTO {self.users} (username, email, password, is_active, is_staff, "
            f"is_superuser, email_verified{''.join(', ' + c for c in columns)}) "
            f"VALUES ($1, $2, $3, $4, $5, $6, false{placeholders}) "
            "ON CONFLICT ((lower(username))) DO NOTHING RETURNING id",
            username,
            email,
            encoded,
            is_active,
            is_staff,
            is_superuser,
            *values,
        )
        if user_id is None:
            raise UserExistsError(f"A user named `{username}` already exists: choose another name")
        for group in groups:
            await self.add_to_group(user_id, group)
        user = await self.get(user_id)
        assert user is not None  # just inserted
        return user

    def _extra_columns(self, extra: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        """Quoted columns and database values of a swapped model's extra fields."""
        model = self.user_model
        unknown = [name for name in extra if name not in self.extra_fields]
        if unknown:
            known = ", ".join(f"`{name}`" for name in self.extra_fields) or "none"
            raise ValueError(
                "Unknown user field(s) "
                + ", ".join(f"`{name}`" for name in unknown)
                + f": the user model's own fields are {known}"
            )
        if model is None:
            return [], []
        values = dict(extra)
        missing = []
        for name in self.extra_fields:
            field = model._meta.get_field(name)
            if name in values:
                continue
            if field.has_default:
                # The ORM's defaults live in Python, not in the column: apply them here.
                values[name] = field.get_default()
            elif field.required:
                missing.append(name)
        if missing:
            raise ValueError(
                "The user model requires "
                + ", ".join(f"`{name}`" for name in missing)
                + ": pass them in `extra=` (createsuperuser: `--field NAME=VALUE`)"
            )
        fields = [model._meta.get_field(name) for name in values]
        return (
            [f'"{field.column}"' for field in fields],
            [field.to_db_value(values[field.name]) for field in fields],
        )

    async def authenticate(self, username: str, password: str) -> tuple[UserRecord | None, bool]:
        """Check a username and password.

        Returns:
            ``(user, rehashed)``: the active user whose password matches (else ``None``),
            and whether its stored hash was upgraded to the current parameters.
        """
        user = await self.get_by_username(username)
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hasher.hash_async("stellate-timing-equaliser")
            await self.hasher.verify_async(password, self._dummy_hash)
            return None, False
        ok, upgraded = await self.hasher.verify_and_upgrade(password, user._password)
        if not ok or not user.is_active:
            return None, False
        if upgraded is not None:
            await self.db.execute(
                f"UPDATE {self.users} SET password = $2 WHERE id = $1", user.id, upgraded
            )
            user._password = upgraded
        return user, upgraded is not None

    async def verify_password(self, user: UserRecord, password: str) -> bool:
        """Whether ``password`` is ``user``'s current password (off the event loop)."""
        return await self.hasher.verify_async(password, user._password)

    async def set_password(
        self, user: UserRecord, password: str | None, *, validate: bool = True
    ) -> None:
        """Store a new password for ``user`` (``None``: unusable, the account cannot log in).

        Raises:
            PasswordValidationError: the password fails a validator.
        """
        if password is not None and validate:
            self.check_password(password, username=user.username, email=user.email)
        encoded = "!" if password is None else await self.hasher.hash_async(password)
        await self.db.execute(
            f"UPDATE {self.users} SET password = $2 WHERE id = $1", user.id, encoded
        )
        user._password = encoded

    async def record_login(self, user: UserRecord) -> None:
        """Set ``last_login`` to now."""
        await self.db.execute(f"UPDATE {self.users} SET last_login = now() WHERE id = $1", user.id)

    async def add_to_group(self, user_id: int, group: str) -> None:
        """Put the user in ``group``, creating the group when missing."""
        await self.db.execute(
            f"WITH g AS (INSERT INTO {self.groups} (name) VALUES ($2) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id) "
            f"INSERT INTO {self.user_groups} (user_id, group_id) SELECT $1, id FROM g "
            "ON CONFLICT DO NOTHING",
            user_id,
            group,
        )
        await self._changed(user_id=user_id)

    async def grant(
        self, codename: str, *, group: str | None = None, user_id: int | None = None
    ) -> None:
        """Give permission ``codename`` (``"books.change_book"``) to a group or a user."""
        if (group is None) == (user_id is None):
            raise ValueError("grant() takes exactly one of `group=` or `user_id=`")
        _check_codename(codename)
        if group is not None:
            await self.db.execute(
                f"WITH p AS (INSERT INTO {self.permissions} (codename) VALUES ($1) "
                "ON CONFLICT (codename) DO UPDATE SET codename = EXCLUDED.codename RETURNING id), "
                f"g AS (INSERT INTO {self.groups} (name) VALUES ($2) "
                "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id) "
                f"INSERT INTO {self.group_permissions} (group_id, permission_id) "
                "SELECT g.id, p.id FROM g, p ON CONFLICT DO NOTHING",
                codename,
                group,
            )
        else:
            await self.db.execute(
                f"WITH p AS (INSERT INTO {self.permissions} (codename) VALUES ($1) "
                "ON CONFLICT (codename) DO UPDATE SET codename = EXCLUDED.codename RETURNING id) "
                f"INSERT INTO {self.user_permissions} (user_id, permission_id) "
                "SELECT $2, p.id FROM p ON CONFLICT DO NOTHING",
                codename,
                user_id,
            )
        await self._changed(user_id=user_id, group=group)

    async def get_permissions(self, user_id: int) -> set[str]:
        """Codenames the user holds directly or through its groups (one query)."""
        rows = await self.db.fetch(
            f"SELECT p.codename FROM {self.permissions} p JOIN {self.user_permissions} up "
            "ON up.permission_id = p.id WHERE up.user_id = $1 UNION "
            f"SELECT p.codename FROM {self.permissions} p JOIN {self.group_permissions} gp "
            f"ON gp.permission_id = p.id JOIN {self.user_groups} ug ON ug.group_id = gp.group_id "
            "WHERE ug.user_id = $1",
            user_id,
        )
        return {row["codename"] for row in rows}

    async def has_perm(self, user: Principal | UserRecord, codename: str, obj: Any = None) -> bool:
        """Whether ``user`` holds ``codename``, on ``obj`` when given.

        Active superusers hold every permission. With ``obj``, the object-level hooks
        (see :mod:`stellate.auth.permissions`) are asked first; without an answer from
        them the model-level permission decides (one query).
        """
        _check_codename(codename)
        if user.is_superuser:
            return True
        if obj is not None:
            decided = decide_object_permission(self.object_permission_hooks, user, codename, obj)
            if decided is not None:
                return decided
        found = await self.db.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self.permissions} p "
            f"LEFT JOIN {self.user_permissions} up ON up.permission_id = p.id AND up.user_id = $1 "
            f"LEFT JOIN {self.group_permissions} gp ON gp.permission_id = p.id "
            f"LEFT JOIN {self.user_groups} ug ON ug.group_id = gp.group_id AND ug.user_id = $1 "
            "WHERE p.codename = $2 AND (up.user_id IS NOT NULL OR ug.user_id IS NOT NULL))",
            user.id,
            codename,
        )
        return bool(found)

    async def _changed(self, *, user_id: int | None = None, group: str | None = None) -> None:
        hook = self.on_user_changed
        if hook is None:
            return
        if user_id is not None:
            await hook(user_id)
            return
        rows = await self.db.fetch(
            f"SELECT ug.user_id FROM {self.user_groups} ug JOIN {self.groups} g "
            "ON g.id = ug.group_id WHERE g.name = $1",
            group,
        )
        for row in rows:
            await hook(row["user_id"])


def _check_codename(codename: str) -> None:
    app, dot, action = codename.partition(".")
    if not dot or not app or not action:
        raise ValueError(
            f"Permission `{codename}` must look like `<app>.<action>_<model>`, "
            "e.g. `books.change_book`"
        )
