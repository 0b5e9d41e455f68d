"""Model permissions: the codenames migrations create, and object-level decisions.

Every concrete model gets four permissions, as in Django: ``<label>.add_<model>``,
``<label>.change_<model>``, ``<label>.delete_<model>`` and ``<label>.view_<model>``,
where ``<model>`` is the class name in lower case and ``<label>`` the last part of
the model's module once ``models`` parts are dropped (``bookstore`` for
``examples.bookstore.models``, ``auth`` for ``stellate.auth.models``, ``catalogue``
for ``shop.catalogue``) — the admin's app label. The ``auth`` plugin writes them to
``stellate_permissions`` after ``stellate migrate`` (its ``post_migrate`` hook), so
they follow the models without a data migration; ``app.auth.sync_permissions(models)``
does the same on demand.

Object-level decisions (may *this* user change *this* book?) come from hooks,
asked in order before the model-level permission:

- hooks given to the ``auth`` plugin (``AuthPlugin(object_permission_hooks=[...])``)
  or to :class:`~stellate.auth.users.UserStore`;
- the object's own ``has_object_permission(user, codename)`` method, if it has one.

Each returns ``True`` (allow), ``False`` (deny) or ``None`` (no opinion); the first
answer that is not ``None`` decides, and without one the model-level permission
does. Hooks are plain functions, not coroutines: they decide from the principal and
the loaded object, which is what lets the REST permission class call them.

Example:
    ```python
    class Book(Model):
        ...
        def has_object_permission(self, user, codename):
            if codename == "bookstore.change_book" and self.owner_id == user["id"]:
                return True  # owners may edit their own books
            return None  # otherwise the model-level permission decides
    ```
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from stellate.auth._db import SQLDatabase

if TYPE_CHECKING:
    from stellate.orm import Model

__all__ = [
    "DEFAULT_ACTIONS",
    "ObjectPermissionHook",
    "decide_object_permission",
    "model_permissions",
    "permission_label",
    "sync_permissions",
]

#: The permissions every model gets.
DEFAULT_ACTIONS = ("add", "change", "delete", "view")

ObjectPermissionHook = Callable[[Any, str, Any], "bool | None"]
"""``(user, codename, obj) -> True | False | None``: allow, deny or no opinion."""


def permission_label(model: type[Model]) -> str:
    """The ``<label>`` of ``model``'s permission codenames (see the module documentation).

    The same rule as the admin's app label, so its per-model checks find these rows.
    """
    parts = [p for p in model.__module__.split(".") if p not in {"models", "__main__"}]
    return (parts[-1] if parts else "app").lower()


def model_permissions(model: type[Model]) -> list[tuple[str, str]]:
    """``(codename, name)`` of the default permissions of ``model``.

    Example:
        ``model_permissions(Book)`` → ``[("bookstore.add_book", "Can add book"), ...]``
    """
    label, name = permission_label(model), model.__name__.lower()
    return [(f"{label}.{action}_{name}", f"Can {action} {name}") for action in DEFAULT_ACTIONS]


async def sync_permissions(
    db: SQLDatabase, models: Iterable[type[Model]], *, table: str = "stellate_permissions"
) -> int:
    """Create (or rename) the default permissions of ``models`` in one statement.

    Existing rows keep their ids, so grants survive; permissions of models that no
    longer exist are kept too (deleting them would silently drop grants).

    Returns:
        How many rows were created or had their name changed.
    """
    pairs = [pair for model in models for pair in model_permissions(model)]
    if not pairs:
        return 0
    status = await db.execute(
        f"INSERT INTO {table} AS p (codename, name) "
        "SELECT * FROM unnest($1::text[], $2::text[]) "
        "ON CONFLICT (codename) DO UPDATE SET name = EXCLUDED.name "
        "WHERE p.name IS DISTINCT FROM EXCLUDED.name",
        [codename for codename, _ in pairs],
        [name for _, name in pairs],
    )
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def decide_object_permission(
    hooks: Sequence[ObjectPermissionHook], user: Any, codename: str, obj: Any
) -> bool | None:
    """The first object-level answer for ``user`` on ``obj`` that is not ``None``.

    Raises:
        TypeError: a hook returned an awaitable (hooks must be plain functions).
    """
    method = getattr(obj, "has_object_permission", None)
    answers: Iterator[bool | None] = (hook(user, codename, obj) for hook in hooks)
    if callable(method):
        answers = itertools.chain(answers, (method(user, codename) for _ in (0,)))
    for answer in answers:
        if answer is None:
            continue
        if not isinstance(answer, bool):
            close = getattr(answer, "close", None)
            if callable(close):
                close()  # a coroutine never awaited would warn at garbage collection
            raise TypeError(
                f"An object permission hook returned `{answer!r}` for `{codename}`: return "
                "True, False or None (hooks are plain functions, not coroutines)"
            )
        return answer
    return None
