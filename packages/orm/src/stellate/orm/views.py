"""Materialized views: read-only models over ``Meta.materialized_view = "<SELECT ...>"``.

```python
class AuthorStats(Model):
    class Meta:
        table = "author_stats"
        materialized_view = (
            "SELECT a.id, a.name, count(b.id) AS books FROM authors a "
            "LEFT JOIN books b ON b.author_id = a.id GROUP BY a.id, a.name"
        )

    id: int = Field(primary_key=True)
    name: str = Field()
    books: int = Field()


await AuthorStats.refresh(concurrently=True)
```

Migrations (and ``create_tables`` in tests) run ``CREATE MATERIALIZED VIEW`` with
the SQL, then a unique index on the primary key: ``REFRESH ... CONCURRENTLY``
needs one, and it keeps readers unblocked while the view is rebuilt. The fields
name the view's columns (in any order) so rows load as instances; they must
match the SELECT's output names. ``save()``, ``delete()``, ``update()`` and the
bulk writes raise :class:`ReadOnlyModelError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from stellate.orm import _execute, cache
from stellate.orm.exceptions import OrmError

if TYPE_CHECKING:
    from stellate.orm.models import Model

__all__ = ["ReadOnlyModelError", "check_writable", "create_view_sql", "refresh"]


class ReadOnlyModelError(OrmError):
    """A write was attempted on a read-only model (a materialized view)."""


def check_writable(model: type[Model], action: str) -> None:
    """Raise :class:`ReadOnlyModelError` when ``model`` is a materialized view.

    Raises:
        ReadOnlyModelError: Naming the model, the write and what to do instead.
    """
    if model._meta.materialized_view is not None:
        name = model.__name__
        raise ReadOnlyModelError(
            f"`{name}` is a materialized view and is read-only: `{action}()` cannot write "
            f"to it. Change the tables its SQL reads, then `await {name}.refresh()`"
        )


def view_unique_index_name(model: type[Model]) -> str:
    """The name of the unique index migrations create on a view's primary key."""
    from stellate.orm.schema import index_name

    meta = model._meta
    return index_name(meta.table, [meta.pk.column], "uniq")


def create_view_sql(model: type[Model]) -> list[str]:
    """CREATE MATERIALIZED VIEW and its indexes (unique on the primary key first).

    The same statements migrations run (both come from the view's migration state).
    """
    from stellate.orm.migrations._sql import create_table
    from stellate.orm.migrations.models_state import view_state

    return create_table(view_state(model))


async def refresh(model: type[Model], *, concurrently: bool = False) -> None:
    """``REFRESH MATERIALIZED VIEW [CONCURRENTLY]`` of ``model``.

    Raises:
        TypeError: ``model`` is not a materialized view.
        OrmError: PostgreSQL refused a concurrent refresh (no unique index, or the
            view was never populated), with the fix.
    """
    meta = model._meta
    if meta.materialized_view is None:
        raise TypeError(
            f"`{model.__name__}` is a table, not a materialized view: only models with "
            "`Meta.materialized_view` can be refreshed"
        )
    mode = "CONCURRENTLY " if concurrently else ""
    sql = f"REFRESH MATERIALIZED VIEW {mode}{meta.qtable}"
    try:
        await cache.bulk_write(model, _execute.execute(model, sql, []))
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise OrmError(
            f"Cannot refresh `{model.__name__}` concurrently: {exc}. A concurrent refresh "
            f"needs a populated view with a unique index on plain columns; migrations "
            f"create `{view_unique_index_name(model)}` on `{meta.pk.column}` (run "
            f"`stellate migrate`), or refresh once without `concurrently=True`"
        ) from exc
