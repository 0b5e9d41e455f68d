"""``ManyToManyField``: a junction table between two models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.orm import _execute
from stellate.orm.cache import junction_write_sql
from stellate.orm.exceptions import (
    FieldError,
    NotLoadedError,
    ValidationError,
    unknown_name_error,
)
from stellate.orm.models import Model, quote_name
from stellate.orm.schema import index_name

if TYPE_CHECKING:
    from stellate.orm.fields import Field

__all__ = ["ManyToManyField"]


class ManyToManyField:
    """A many-to-many relation stored in a junction table.

    ``tags: ClassVar = ManyToManyField("tags")`` on ``Article`` relates articles to the
    model whose table (or class name) is ``tags``, through the table ``articles_tags``
    with columns ``article_id`` and ``tag_id``. Load it with
    ``prefetch_related("tags")``; change it with ``await Article.tags.add(article, tag)``,
    ``remove(...)``, ``set(...)`` and ``clear(...)``.

    Filter across it as across a foreign key: ``Article.objects.filter(tags__name="x")``
    (a correlated ``EXISTS``: no row is repeated); with ``related_name="articles"`` the
    target filters back: ``Tag.objects.filter(articles__title="y")``.

    Args:
        to: The related model class, its class name, or its table name.
        through: The junction: a table name (``<table>_<target table>`` by default; it may
            be schema-qualified, ``"archive.article_tags"``), or a model with a foreign
            key to each side and extra columns (its own migrations create its table;
            ``add()`` then needs defaults for the extra columns). Filter on those columns
            with ``tags__through__<field>``.
        related_name: The name the target model filters back across this relation with.
    """

    def __init__(
        self,
        to: type[Model] | str,
        *,
        through: type[Model] | str | None = None,
        related_name: str | None = None,
    ) -> None:
        is_model = isinstance(through, type) and issubclass(through, Model)
        if through is not None and not isinstance(through, str) and not is_model:
            raise TypeError(
                f"ManyToManyField(through=...) takes a table name or a model class, "
                f"got `{through!r}`"
            )
        if related_name is not None and not related_name.isidentifier():
            raise TypeError(
                f"ManyToManyField(related_name=...) must be an identifier, got `{related_name!r}`"
            )
        self.to = to
        self.through = through
        self.related_name = related_name
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
    def through_model(self) -> type[Model] | None:
        """The junction model given as ``through=``, if any."""
        return None if self.through is None or isinstance(self.through, str) else self.through

    @property
    def table(self) -> str:
        through = self.through
        if through is None:
            return f"{self.source._meta.table}_{self.target._meta.table}"
        return through if isinstance(through, str) else through._meta.table

    @property
    def source_column(self) -> str:
        through = self.through_model
        if through is not None:
            return _through_key(self, through, self.source, 0).column
        return f"{self.source.__name__.lower()}_id"

    @property
    def target_column(self) -> str:
        through = self.through_model
        if through is not None:
            return _through_key(self, through, self.target, 1).column
        column = f"{self.target.__name__.lower()}_id"
        return column if column != self.source_column else f"to_{column}"

    @property
    def index_name(self) -> str:
        """The name of the index on the target column: never schema-qualified (an index
        lives in its table's schema; PostgreSQL refuses a qualified name)."""
        return index_name(self.table, [self.target_column], "idx")

    def create_table_sql(self) -> list[str]:
        """DDL of the junction table (run after both models' tables exist); none for a
        through model, whose own ``create_table_sql`` creates its table."""
        if self.through_model is not None:
            return []
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
            f"CREATE INDEX {quote_name(self.index_name)} ON {table} ({t_col})",
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

    async def add(
        self,
        instance: Model,
        *targets: Model | Any,
        through_defaults: dict[str, Any] | None = None,
    ) -> None:
        """Relate ``instance`` to ``targets`` (instances or keys); existing pairs are kept.

        With a through model, its other columns take ``through_defaults`` or their field
        defaults; a column with neither is an error naming it.
        """
        if not targets:
            return
        keys = [t.pk if hasattr(t, "_meta") else t for t in targets]
        through = self.through_model
        key_type = self.target._meta.pk.reference_type()
        table, s_col = quote_name(self.table), quote_name(self.source_column)
        t_col = quote_name(self.target_column)
        params: list[Any] = [instance.pk, keys]
        if through is None:
            if through_defaults:
                raise FieldError(
                    f"`{self.source.__name__}.{self.name}` has no through model, so "
                    "`through_defaults` has no columns to fill; drop it"
                )
            sql = (
                f"INSERT INTO {table} ({s_col}, {t_col}) SELECT $1, unnest($2::{key_type}[]) "
                "ON CONFLICT DO NOTHING"
            )
        else:
            extras = self._extra_values(through, through_defaults or {})
            params.extend(value for _column, _type, value in extras)
            columns = "".join(f", {quote_name(column)}" for column, _type, _value in extras)
            values = "".join(
                f", ${index}::{sql_type}" for index, (_c, sql_type, _v) in enumerate(extras, 3)
            )
            # A through model need not have a unique key on the pair: skip existing pairs.
            sql = (
                f"INSERT INTO {table} ({s_col}, {t_col}{columns}) SELECT $1, k{values} "
                f"FROM unnest($2::{key_type}[]) AS k WHERE NOT EXISTS (SELECT 1 FROM {table} "
                f"WHERE {s_col} = $1 AND {t_col} = k) ON CONFLICT DO NOTHING"
            )
        sql = junction_write_sql(self, sql)
        await _execute.execute(self.source, sql, params)
        instance.__dict__.pop(self.name, None)

    def _extra_values(
        self, through: type[Model], given: dict[str, Any]
    ) -> list[tuple[str, str, Any]]:
        keys = {
            _through_key(self, through, self.source, 0).name,
            _through_key(self, through, self.target, 1).name,
        }
        fields = [
            f
            for f in through._meta.field_list
            if f.name not in keys and not f.generated and not (f.primary_key and f.auto)
        ]
        names = {f.name for f in fields}
        for name in given:
            if name not in names:
                raise unknown_name_error(
                    "field", name, through.__name__, names, hint="Check `through_defaults`"
                )
        missing = [f.name for f in fields if f.required and f.name not in given]
        if missing:
            raise FieldError(
                f"`{through.__name__}` needs "
                + ", ".join(f"`{name}`" for name in missing)
                + f" for each row `{self.source.__name__}.{self.name}.add()` creates: pass "
                "`through_defaults={...}` or give the field a default"
            )
        values: list[tuple[str, str, Any]] = []
        problems: dict[str, list[str]] = {}
        for f in fields:
            if f.name in given:
                value, errors = f.clean(given[f.name])
                if errors:
                    problems[f.name] = errors
            elif f.has_default:
                value = f.get_default()
            else:
                continue  # nullable or a database default: the column fills itself
            values.append((f.column, f.db_type(), f.to_db_value(value)))
        if problems:
            raise ValidationError(problems, through.__name__)
        return values

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


def _through_key(
    m2m: ManyToManyField, through: type[Model], model: type[Model], side: int
) -> Field:
    keys = [f for f in through._meta.field_list if f.foreign_key is not None]
    matching = [f for f in keys if f.related_model._meta.table == model._meta.table]
    if m2m.source._meta.table == m2m.target._meta.table and len(matching) == 2:
        return matching[side]  # self-referential: declaration order, source first
    if len(matching) != 1:
        raise FieldError(
            f"`{m2m.source.__name__}.{m2m.name}` goes through `{through.__name__}`, which "
            f"needs exactly one foreign key to `{model.__name__}`; it has {len(matching)}"
            + "".join(f" `{f.name}`" for f in matching)
        )
    return matching[0]


def _same_scope(cls: type[Any], other: type[Any]) -> bool:
    return (
        cls.__module__ == other.__module__
        and cls.__qualname__.rsplit(".", 1)[0] == (other.__qualname__.rsplit(".", 1)[0])
    )
