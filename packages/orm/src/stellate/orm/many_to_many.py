"""``ManyToManyField``: a junction table between two models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.orm import _execute
from stellate.orm.cache import junction_write_sql
from stellate.orm.exceptions import FieldError, NotLoadedError
from stellate.orm.models import quote_name

if TYPE_CHECKING:
    from stellate.orm.models import Model

__all__ = ["ManyToManyField"]


class ManyToManyField:
    """A many-to-many relation stored in a junction table.

    ``tags: ClassVar = ManyToManyField("tags")`` on ``Article`` relates articles to the
    model whose table (or class name) is ``tags``, through the table ``articles_tags``
    with columns ``article_id`` and ``tag_id``. Load it with
    ``prefetch_related("tags")``; change it with ``await Article.tags.add(article, tag)``,
    ``remove(...)``, ``set(...)`` and ``clear(...)``.

    Args:
        to: The related model class, its class name, or its table name.
        through: The junction table name (``<table>_<target table>`` by default).
    """

    def __init__(self, to: type[Model] | str, *, through: str | None = None) -> None:
        self.to = to
        self.through = through
        self.name = ""
        self.model: type[Model] | None = None
        self._target: type[Model] | None = None

    def contribute(self, model: type[Model], name: str) -> None:
        self.name = name
        self.model = model

    def __get__(self, instance: Model | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            model = type(instance).__name__
            raise NotLoadedError(
                f"`{model}.{self.name}` is not loaded and attribute access never queries: "
                f'use `{model}.objects.prefetch_related("{self.name}")` or '
                f'`await obj.fetch("{self.name}")`'
            ) from None

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__dict__[self.name] = value

    # -- metadata -------------------------------------------------------------------------

    @property
    def source(self) -> type[Model]:
        if self.model is None:  # pragma: no cover - always bound by the metaclass
            raise FieldError("ManyToManyField is not bound to a model")
        return self.model

    @property
    def target(self) -> type[Model]:
        if self._target is None:
            if isinstance(self.to, str):
                from stellate.orm.models import Model, _model_classes

                matches = [
                    cls
                    for cls in _model_classes(Model)
                    if (cls.__name__ == self.to or cls._meta.table == self.to)
                    and not cls._meta.abstract
                    and not cls._meta.proxy
                ]
                scoped = [c for c in matches if _same_scope(c, self.source)]
                found = scoped or matches
                if len(found) != 1:
                    problem = "is not defined" if not found else "is ambiguous"
                    raise FieldError(
                        f"`{self.source.__name__}.{self.name}` relates to `{self.to}`, which "
                        f"{problem}; pass the model class to ManyToManyField"
                    )
                self._target = found[-1]
            else:
                self._target = self.to
        return self._target

    @property
    def table(self) -> str:
        return self.through or f"{self.source._meta.table}_{self.target._meta.table}"

    @property
    def source_column(self) -> str:
        return f"{self.source.__name__.lower()}_id"

    @property
    def target_column(self) -> str:
        column = f"{self.target.__name__.lower()}_id"
        return column if column != self.source_column else f"to_{column}"

    def create_table_sql(self) -> list[str]:
        """DDL of the junction table (run after both models' tables exist)."""
        source, target = self.source._meta, self.target._meta
        s_col, t_col = quote_name(self.source_column), quote_name(self.target_column)
        table = quote_name(self.table)
        return [
            f"CREATE TABLE {table} (\n"
            f"    {s_col} {source.pk.reference_type()} NOT NULL REFERENCES {source.qtable} "
            f"({quote_name(source.pk.column)}) ON DELETE CASCADE,\n"
            f"    {t_col} {target.pk.reference_type()} NOT NULL REFERENCES {target.qtable} "
            f"({quote_name(target.pk.column)}) ON DELETE CASCADE,\n"
            f"    PRIMARY KEY ({s_col}, {t_col})\n)",
            f"CREATE INDEX {quote_name(self.table + '_' + self.target_column + '_idx')} "
            f"ON {table} ({t_col})",
        ]

    # -- loading and changing ------------------------------------------------------------

    async def load(self, instances: list[Any], attr: str | None = None) -> None:
        """Attach the related instances of every instance (one query)."""
        target = self.target
        tmeta = target._meta
        pk_name = self.source._meta.pk.name
        keys = list({obj.__dict__[pk_name] for obj in instances})
        sql_key = ("m2m_load", self.table, self.source_column)
        sql = tmeta.sql_cache.get(sql_key)
        if sql is None:
            pk = f"t.{quote_name(tmeta.pk.column)}"
            columns = ", ".join(f"t.{quote_name(f.column)}" for f in tmeta.field_list)
            source = f"j.{quote_name(self.source_column)}"
            # One row per related instance with the keys of the parents holding it:
            # the rows to decode and the instances to build are the distinct targets
            # (40 tags for 200 posts x 4 tags), not every pair.
            sql = tmeta.sql_cache[sql_key] = (
                f"SELECT array_agg({source}), {columns} FROM {tmeta.qtable} AS t "
                f"JOIN {quote_name(self.table)} AS j ON j.{quote_name(self.target_column)} = "
                f"{pk} WHERE {source} = ANY($1) GROUP BY {pk} ORDER BY {pk}"
            )
        records = await _execute.fetch(self.source, sql, [keys])
        groups: dict[Any, list[Any]] = {key: [] for key in keys}
        names = tmeta.field_names
        converters = tmeta.from_db_converters
        new = object.__new__
        # Each related instance is shared by the parents that hold it (as select_related
        # shares a joined row); each parent has its own list, in target key order.
        # bench/orm/prefetch_m2m.py measures this loop.
        for record in records:
            obj = new(target)
            data = obj.__dict__
            data.update(zip(names, record[1:], strict=True))
            for name, convert in converters:
                data[name] = convert(data[name])
            for parent in record[0]:
                groups[parent].append(obj)
        name = attr or self.name
        for instance in instances:
            data = instance.__dict__
            data[name] = groups[data[pk_name]]

    async def add(self, instance: Model, *targets: Model | Any) -> None:
        """Relate ``instance`` to ``targets`` (instances or keys); existing pairs are kept."""
        if not targets:
            return
        keys = [t.pk if hasattr(t, "_meta") else t for t in targets]
        sql = (
            f"INSERT INTO {quote_name(self.table)} ({quote_name(self.source_column)}, "
            f"{quote_name(self.target_column)}) SELECT $1, unnest($2::"
            f"{self.target._meta.pk.reference_type()}[]) ON CONFLICT DO NOTHING"
        )
        sql = junction_write_sql(self, sql)
        await _execute.execute(self.source, sql, [instance.pk, keys])
        instance.__dict__.pop(self.name, None)

    async def remove(self, instance: Model, *targets: Model | Any) -> None:
        """Unrelate ``instance`` from ``targets``."""
        keys = [t.pk if hasattr(t, "_meta") else t for t in targets]
        sql = (
            f"DELETE FROM {quote_name(self.table)} WHERE {quote_name(self.source_column)} = $1 "
            f"AND {quote_name(self.target_column)} = ANY($2)"
        )
        sql = junction_write_sql(self, sql)
        await _execute.execute(self.source, sql, [instance.pk, keys])
        instance.__dict__.pop(self.name, None)

    async def clear(self, instance: Model) -> None:
        """Remove every relation of ``instance``."""
        sql = f"DELETE FROM {quote_name(self.table)} WHERE {quote_name(self.source_column)} = $1"
        sql = junction_write_sql(self, sql)
        await _execute.execute(self.source, sql, [instance.pk])
        instance.__dict__.pop(self.name, None)

    async def set(self, instance: Model, targets: list[Any]) -> None:
        """Make ``targets`` exactly the related instances of ``instance``."""
        await self.clear(instance)
        await self.add(instance, *targets)


def _same_scope(cls: type[Any], other: type[Any]) -> bool:
    return (
        cls.__module__ == other.__module__
        and cls.__qualname__.rsplit(".", 1)[0] == (other.__qualname__.rsplit(".", 1)[0])
    )
