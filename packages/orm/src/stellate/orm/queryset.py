"""``QuerySet``: lazy, immutable, chainable queries over one model."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from typing import Any, Generic, TypeVar

from stellate.orm import _execute, cache
from stellate.orm._context import Query, RawCondition, check_raw_sql, q_references
from stellate.orm._hydrate import hydrate
from stellate.orm.compiler import (
    CompiledQuery,
    clean_update_values,
    compile_delete,
    compile_select,
    compile_update,
)
from stellate.orm.exceptions import FieldError
from stellate.orm.expressions import (
    Aggregate,
    Expression,
    OrderBy,
    Q,
    UnboundOuterRefError,
    Value,
    typed_value,
)
from stellate.orm.models import Model, quote_name
from stellate.orm.views import check_writable

__all__ = ["Prefetch", "QuerySet"]

M = TypeVar("M", bound=Model)


class Prefetch:
    """``prefetch_related(Prefetch("books", queryset=..., to_attr="recent_books"))``."""

    def __init__(
        self, lookup: str, queryset: QuerySet[Any] | None = None, to_attr: str | None = None
    ) -> None:
        self.lookup = lookup
        self.queryset = queryset
        self.to_attr = to_attr

    def __repr__(self) -> str:
        return f"Prefetch({self.lookup!r}, to_attr={self.to_attr!r})"


class QuerySet(Generic[M]):
    """A lazy query; every method returns a new QuerySet or awaits a result.

    Example:
        ``books = await Book.objects.filter(title__icontains="py").order_by("-id").all()``
    """

    __slots__ = ("_query", "model")

    def __init__(self, model: type[M], query: Query | None = None) -> None:
        self.model = model
        self._query = query if query is not None else Query(model)

    def _chain(self) -> QuerySet[M]:
        return QuerySet(self.model, self._query.clone())

    def __repr__(self) -> str:
        try:
            sql = self.to_sql().sql
        except Exception as exc:  # repr() must not raise, even for an invalid query
            sql = f"(does not compile: {exc})"
        return f"<QuerySet {self.model.__name__}: {sql}>"

    # -- building ---------------------------------------------------------------------------

    def all(self) -> QuerySet[M]:
        """This queryset; ``await qs.all()`` gives every matching row as a list."""
        return self

    def filter(self, *conditions: Q | Expression, **lookups: Any) -> QuerySet[M]:
        """Rows matching every condition (``Q`` objects, expressions, ``field__lookup=``)."""
        if not conditions and not lookups:
            return self
        return self._add_condition(Q(*conditions, **lookups))

    def _add_condition(self, condition: Q) -> QuerySet[M]:
        qs = self._chain()
        query = qs._query
        if not query.annotations:  # the common case: nothing to route elsewhere
            query.where = (*query.where, condition)
            return qs
        windows = {n for n, e in query.annotations.items() if e.contains_window}
        aggregates = {n for n, e in query.annotations.items() if e.contains_aggregate}
        if windows and q_references(condition, windows):
            # Windows are computed after WHERE: filter around the query (window.py).
            query.window_where = (*query.window_where, condition)
        elif aggregates and q_references(condition, aggregates):
            # Conditions on aggregates are evaluated after grouping.
            query.having = (*query.having, condition)
        else:
            query.where = (*query.where, condition)
        return qs

    def exclude(self, *conditions: Q | Expression, **lookups: Any) -> QuerySet[M]:
        """Rows matching none of the conditions taken together."""
        return self._add_condition(~Q(*conditions, **lookups))

    def order_by(self, *fields: str | Expression) -> QuerySet[M]:
        """Order by fields (``"-created_at"`` descending, ``"author__name"``, ``"?"``) or
        expressions (``Lower("title")``, ``F("rating").desc(nulls_first=False)``)."""
        for item in fields:
            if not isinstance(item, str | Expression):
                raise TypeError(f"order_by() takes field names or expressions, got `{item!r}`")
        qs = self._chain()
        qs._query.order_by = tuple(fields)
        return qs

    def limit(self, count: int) -> QuerySet[M]:
        """At most ``count`` rows."""
        _check_count("limit", count)
        qs = self._chain()
        qs._query.limit = count
        return qs

    def offset(self, count: int) -> QuerySet[M]:
        """Skip ``count`` rows."""
        _check_count("offset", count)
        qs = self._chain()
        qs._query.offset = count
        return qs

    def __getitem__(self, item: slice) -> QuerySet[M]:
        """``qs[10:20]``: rows 10 to 19 of this queryset (slices of slices compose)."""
        if not isinstance(item, slice) or item.step is not None:
            raise TypeError("QuerySets support slices like `qs[10:20]` only; use `await qs.get()`")
        start = item.start or 0
        _check_count("slice start", start)
        if item.stop is not None:
            _check_count("slice length", item.stop - start)
        qs = self._chain()
        query = qs._query
        old_offset = query.offset or 0
        old_limit = query.limit
        if start:
            query.offset = old_offset + start
        stop = item.stop
        if old_limit is not None:
            stop = old_limit if stop is None else min(stop, old_limit)
        if stop is not None:
            query.limit = max(stop - start, 0)
        return qs

    def distinct(self) -> QuerySet[M]:
        """SELECT DISTINCT."""
        qs = self._chain()
        qs._query.distinct = True
        return qs

    def only(self, *fields: str) -> QuerySet[M]:
        """Load only these fields (and the primary key); others raise ``NotLoadedError``."""
        meta = self.model._meta
        for name in fields:
            if name not in meta.relations:
                meta.get_field(name)
        qs = self._chain()
        qs._query.only = tuple(fields)
        return qs

    def defer(self, *fields: str) -> QuerySet[M]:
        """Load every field except these; reading one raises ``NotLoadedError``."""
        for name in fields:
            self.model._meta.get_field(name)
        qs = self._chain()
        qs._query.defer = (*qs._query.defer, *fields)
        return qs

    def select_related(self, *relations: str) -> QuerySet[M]:
        """LEFT JOIN these foreign keys and load the related instances in the same query.

        ``select_related("author")`` sets ``book.author``; the spelling
        ``select_related("author_id")`` also makes ``book.author_id.name`` work while
        ``book.author_id == 7`` still holds. With no names, every non-null foreign key.
        """
        from stellate.orm.compiler import _related_paths

        if not relations:
            # No names: every non-null foreign key, one level deep (as Django does).
            relations = tuple(
                field.relation_name
                for field in self.model._meta.relations.values()
                if not field.nullable
            )
        _related_paths(self.model, relations)
        qs = self._chain()
        qs._query.select_related = (*qs._query.select_related, *relations)
        return qs

    def prefetch_related(self, *lookups: str | Prefetch) -> QuerySet[M]:
        """Load these relations in one extra query each, after the main query."""
        qs = self._chain()
        qs._query.prefetch = (*qs._query.prefetch, *lookups)
        return qs

    def annotate(self, **expressions: Expression) -> QuerySet[M]:
        """Add computed values (aggregates group by the row) as attributes / keys."""
        meta = self.model._meta
        for name, expr in expressions.items():
            if not isinstance(expr, Expression):
                raise TypeError(f"annotate(`{name}`=...) needs an expression, got `{expr!r}`")
            if name in meta.fields:
                raise FieldError(
                    f"Annotation `{name}` clashes with the field `{self.model.__name__}.{name}`"
                )
            if isinstance(expr, Value):
                # A bare parameter in the select list has no type to infer from.
                expressions[name] = typed_value(expr)
        qs = self._chain()
        qs._query.annotations = {**qs._query.annotations, **expressions}
        if qs._query.values_mode is not None:
            qs._query.group_by_values = True
        if qs._query.values_fields:
            # values(...).annotate(...): the new annotations join the returned keys.
            qs._query.values_fields = (*qs._query.values_fields, *expressions)
        return qs

    def values(self, *fields: str, **expressions: Expression) -> QuerySet[Any]:
        """Rows as dicts of these fields (all fields when none are named).

        Keywords name computed keys: ``values("id", task_name=F("name"))`` renames in
        SQL (``"name" AS "task_name"``), ``values(n=Lower("title"))`` computes.
        """
        qs = self._values(fields, "dict", expressions)
        return qs

    def values_list(
        self, *fields: str, flat: bool = False, **expressions: Expression
    ) -> QuerySet[Any]:
        """Rows as tuples, or single values with ``flat=True`` (one field); keywords
        add computed columns after the fields, as in ``values()``."""
        if flat and len(fields) + len(expressions) != 1:
            raise FieldError(
                "`values_list(flat=True)` needs exactly one field, "
                f"got {len(fields) + len(expressions)}"
            )
        return self._values(fields, "flat" if flat else "list", expressions)

    def _values(
        self, fields: Sequence[str], mode: str, expressions: dict[str, Expression] | None = None
    ) -> QuerySet[Any]:
        if expressions:
            for name in fields:
                if name in expressions:
                    raise FieldError(f"`{name}` is named twice in values(); keep one")
            with_exprs = self.annotate(**expressions)
            # values("author_id", n=Count("*")) groups by the named fields, as
            # values("author_id").annotate(n=Count("*")) does; plain renames do not group.
            with_exprs._query.group_by_values = self._query.group_by_values or any(
                e.contains_aggregate for e in expressions.values()
            )
            return with_exprs._values((*fields, *expressions), mode)
        qs = self._chain()
        qs._query.values_mode = mode
        qs._query.values_fields = tuple(fields)
        # Unknown names fail here, where they were written; the inner queryset of a
        # Subquery/Exists (an OuterRef) is checked when the outer query compiles.
        with contextlib.suppress(UnboundOuterRefError):
            qs.to_sql()
        return qs

    def select_for_update(
        self, *, skip_locked: bool = False, nowait: bool = False, of: Sequence[str] = ()
    ) -> QuerySet[M]:
        """Lock the selected rows (``FOR UPDATE``) until the transaction ends."""
        if skip_locked and nowait:
            raise ValueError("select_for_update: choose `skip_locked` or `nowait`, not both")
        qs = self._chain()
        qs._query.for_update = (skip_locked, nowait, tuple(of))
        return qs

    def join_related(self, **aliases: str | QuerySet[Any]) -> QuerySet[M]:
        """Join related rows in the same query and attach each under a name you choose,
        leaving every foreign key attribute as it is. For what ``select_related``
        cannot say:

        - ``join_related(writer="author_id")`` attaches the author as ``book.writer``
          while ``book.author_id`` stays the int; ``join_related(house="author__publisher")``
          attaches a row two foreign keys away directly on the root (``book.house``).
        - ``join_related(latest=Comment.objects.filter(book_id=OuterRef("id"))
          .order_by("-id"))`` joins rows with no foreign key, filtered and ordered as
          you like: ``LEFT JOIN LATERAL (... LIMIT 1)``, so each row gets the first
          match and is never repeated.

        With no matching row the attribute is ``None``. Many rows per parent need
        ``prefetch_related``.
        """
        from stellate.orm.compiler import _related_paths

        meta = self.model._meta
        taken = {*meta.fields, *meta.relations, *meta.reverse_relations, *self._query.annotations}
        for attr, path in aliases.items():
            relation = meta.relations.get(attr)
            # owner="owner_id" names the relation's own accessor: allowed, no clash.
            own_name = relation is not None and path in (attr, relation.name)
            if (attr in taken and not own_name) or attr in dict(self._query.join_aliases):
                raise FieldError(
                    f"join_related(`{attr}`=...) would hide `{self.model.__name__}.{attr}`; "
                    "choose another attribute name"
                )
            if isinstance(path, QuerySet):
                _check_joinable(attr, path)
            elif isinstance(path, str):
                _related_paths(self.model, (path,))
            else:
                raise TypeError(
                    f"join_related(`{attr}`=...) takes a foreign key path or a queryset, "
                    f"got `{path!r}`"
                )
        qs = self._chain()
        qs._query.join_aliases = (*qs._query.join_aliases, *aliases.items())
        return qs

    def with_cte(
        self, name: str, body_sql: str, *params: Any, recursive: bool = False
    ) -> QuerySet[M]:
        """Prepend ``WITH [RECURSIVE] name AS (body_sql)`` to the query.

        The body is raw SQL with one ``{idx}`` placeholder per value in ``params``
        (numbered into the query's parameters). Several calls accumulate in call
        order; any ``recursive=True`` makes the whole ``WITH RECURSIVE`` (PostgreSQL's
        rule). Refer to the CTE from ``where_raw()`` or a subquery.

        Values are always bound; identifiers (table and column names) in
        ``body_sql`` are the caller's job: never build them from user input.
        """
        if not isinstance(name, str) or not _CTE_NAME.fullmatch(name):
            raise FieldError(
                f"CTE name `{name}` must be a plain SQL identifier (letters, digits, `_`)"
            )
        if any(cte[0] == name for cte in self._query.ctes):
            raise FieldError(f"with_cte(): the CTE `{name}` is already defined on this queryset")
        check_raw_sql(f"with_cte(`{name}`)", body_sql, params)
        qs = self._chain()
        qs._query.ctes = (*qs._query.ctes, (name, body_sql, recursive, params))
        return qs

    def where_raw(self, sql: str, *params: Any) -> QuerySet[M]:
        """AND a raw SQL condition: ``where_raw("id IN (SELECT id FROM ancestors)")``.

        Values go in ``params``, one ``{idx}`` placeholder each, and are bound as
        parameters. The text itself is trusted: column and table names in it are the
        caller's job (unqualified names refer to the model's table unless a join
        makes them ambiguous), and user input must never be formatted into it.
        """
        return self._add_condition(Q(RawCondition(sql, params)))

    # -- SQL preview ---------------------------------------------------------------------

    def to_sql(
        self,
        kind: str = "select",
        *,
        update_values: dict[str, Any] | None = None,
        update_returning: list[str] | None = None,
    ) -> CompiledQuery:
        """The SQL this queryset runs, without touching the database.

        Args:
            kind: ``"select"``, ``"update"`` (with ``update_values``), ``"delete"``,
                ``"count"`` or ``"exists"``.
        """
        if kind in ("select", "count", "exists"):
            plan, params = compile_select(self._query, kind)
            return CompiledQuery(plan.sql, params, kind)
        if kind == "update":
            values = clean_update_values(
                self.model, self.model._prepare_update(dict(update_values or {}))
            )
            sql, params = compile_update(self._query, values, update_returning)
            return CompiledQuery(sql, params, kind)
        if kind == "delete":
            sql, params = compile_delete(self._query)
            return CompiledQuery(sql, params, kind)
        raise ValueError(
            f"Unknown to_sql kind `{kind}`; use `select`, `update`, `delete`, `count` or `exists`"
        )

    # -- reading -----------------------------------------------------------------------------

    async def _fetch(self) -> list[Any]:
        plan, params = compile_select(self._query)
        if self.model._meta.cache_ttl is not None and self._query.for_update is None:
            records = await cache.fetch(self.model, plan.sql, params, "fetch")
        else:
            records = await _execute.fetch(self.model, plan.sql, params)
        results = hydrate(plan, records)
        if self._query.prefetch and plan.mode == "model" and results:
            from stellate.orm._prefetch import prefetch

            await prefetch(self.model, results, self._query.prefetch)
        return results

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self._fetch().__await__()

    async def first(self) -> M | None:
        """The first row (by primary key unless ordered), or ``None``."""
        qs = self if self._query.order_by else self.order_by(self.model._meta.pk.name)
        rows = await qs.limit(1)._fetch()
        return rows[0] if rows else None

    async def last(self) -> M | None:
        """The last row (reversed ordering, by primary key unless ordered), or ``None``."""
        order = self._query.order_by or (self.model._meta.pk.name,)
        flipped = tuple(_flip(o) for o in order)
        rows = await self.order_by(*flipped).limit(1)._fetch()
        return rows[0] if rows else None

    async def get(self, *conditions: Q | Expression, **lookups: Any) -> M:
        """Exactly one row matching the conditions.

        Raises:
            Model.DoesNotExist: No row matched.
            Model.MultipleObjectsReturned: More than one row matched.
        """
        if not conditions and len(lookups) == 1 and self._query.is_plain():
            ((key, value),) = lookups.items()
            meta = self.model._meta
            # An STI root's rows may be any child class: those take the general path.
            if (key == "pk" or key == meta.pk.name) and not meta.sti_classes:
                return await self._get_by_pk(value)
        qs = self.filter(*conditions, **lookups)
        if qs._query.limit is None:
            qs = qs.limit(2)  # two rows tell "exactly one" from "more than one"
        rows = await qs._fetch()
        if not rows:
            described = _describe(conditions, lookups)
            raise self.model.DoesNotExist(f"No `{self.model.__name__}` matches {described}")
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(
                f"More than one `{self.model.__name__}` matches "
                f"{_describe(conditions, lookups)}; filter further or use `.first()`"
            )
        return rows[0]  # type: ignore[no-any-return]

    async def _get_by_pk(self, value: Any) -> M:
        # The most common read gets a path without building a query: the primary key
        # is unique, so one fetchrow answers it.
        model = self.model
        meta = model._meta
        sql = meta.sql_cache.get("get_by_pk")
        if sql is None:
            sql = meta.sql_cache["get_by_pk"] = (
                f"SELECT {meta.columns_sql} FROM {meta.qtable} "
                f"WHERE {quote_name(meta.pk.column)} = $1"
            )
        if isinstance(value, Model):
            value = value.pk
        record = await _execute.fetchrow(model, sql, (meta.pk.to_db_value(value),))
        if record is None:
            raise model.DoesNotExist(f"No `{model.__name__}` matches `{meta.pk.name}={value!r}`")
        obj = object.__new__(model)
        data = obj.__dict__
        data.update(zip(meta.field_names, record, strict=True))
        for name, convert in meta.from_db_converters:
            data[name] = convert(data[name])
        return obj

    async def count(self) -> int:
        """``SELECT COUNT(*)`` of the matching rows."""
        plan, params = compile_select(self._query, "count")
        if self.model._meta.cache_ttl is not None:
            return int(await cache.fetch(self.model, plan.sql, params, "fetchval"))
        return int(await _execute.fetchval(self.model, plan.sql, params))

    async def exists(self) -> bool:
        """Whether any row matches (``SELECT 1 ... LIMIT 1``)."""
        plan, params = compile_select(self._query, "exists")
        return await _execute.fetchrow(self.model, plan.sql, params) is not None

    async def aggregate(self, *args: Aggregate, **named: Expression) -> dict[str, Any]:
        """Aggregate over the matching rows: ``{"total": ..., "avg_pages": ...}``."""
        expressions: dict[str, Expression] = {}
        for arg in args:
            expressions[arg.default_alias] = arg
        expressions.update(named)
        if not expressions:
            raise TypeError("aggregate() needs at least one aggregate, e.g. `total=Count('*')`")
        query = self._query.clone()
        query.annotations = expressions
        query.order_by = ()
        plan, params = compile_select(query, "aggregate")
        row = await _execute.fetchrow(self.model, plan.sql, params)
        return dict(zip(plan.names, row, strict=True)) if row is not None else {}

    async def in_bulk(
        self, id_list: Iterable[Any] | None = None, *, field_name: str = "pk"
    ) -> dict[Any, M]:
        """Instances keyed by ``field_name`` (the primary key by default)."""
        meta = self.model._meta
        name = meta.pk.name if field_name == "pk" else meta.get_field(field_name).name
        qs = self if id_list is None else self.filter(**{f"{name}__in": list(id_list)})
        rows = await qs._fetch()
        return {row.__dict__[name]: row for row in rows}

    async def iterator(
        self, chunk_size: int = 1000, *, server_side: bool = False
    ) -> AsyncIterator[M]:
        """Yield rows fetched ``chunk_size`` at a time (keyset on the primary key when
        the queryset has no ordering, so every chunk is one indexed query).

        With ``server_side=True`` the rows come from one ``DECLARE CURSOR`` (see
        :class:`stellate.orm.postgres.ServerCursor`): one consistent snapshot, one
        ``FETCH`` per chunk, no prefetch_related.
        """
        _check_count("chunk_size", chunk_size)
        if server_side:
            from contextlib import aclosing

            from stellate.orm.postgres import ServerCursor

            cursor: ServerCursor[M] = ServerCursor(self.model, self._query, chunk_size)
            async with aclosing(cursor.rows()) as cursor_rows:
                async for row in cursor_rows:
                    yield row
            return
        query = self._query
        pk = self.model._meta.pk.name
        if not query.order_by and query.limit is None and query.offset is None:
            last: Any = None
            while True:
                qs = self.order_by(pk).limit(chunk_size)
                if last is not None:
                    qs = qs.filter(**{f"{pk}__gt": last})
                rows = await qs._fetch()
                for row in rows:
                    yield row
                if len(rows) < chunk_size:
                    return
                last = rows[-1].__dict__[pk]
        base_offset = query.offset or 0
        remaining = query.limit
        fetched = 0
        while True:
            size = chunk_size if remaining is None else min(chunk_size, remaining - fetched)
            if size <= 0:
                return
            chunk = QuerySet(self.model, query.clone())
            chunk._query.offset = base_offset + fetched
            chunk._query.limit = size
            rows = await chunk._fetch()
            for row in rows:
                yield row
            fetched += len(rows)
            if len(rows) < size:
                return

    def __aiter__(self) -> AsyncIterator[M]:
        return self.iterator()

    # -- writing -----------------------------------------------------------------------------

    async def create(self, **values: Any) -> M:
        """Validate, INSERT and return a new instance."""
        obj = self.model(**values)
        await obj.save()
        return obj

    async def get_or_create(
        self, defaults: dict[str, Any] | None = None, **lookups: Any
    ) -> tuple[M, bool]:
        """The row matching ``lookups``, or a new one from lookups + ``defaults``.

        Race-safe: the INSERT uses ``ON CONFLICT DO NOTHING`` (the lookups should be
        covered by a unique constraint), and a conflicting concurrent insert is read back.
        """
        try:
            return await self.get(**lookups), False
        except self.model.DoesNotExist:
            pass
        from stellate.orm import _persist

        values = {k: v for k, v in lookups.items() if "__" not in k}
        values.update(defaults or {})
        obj = self.model(**values)
        if await _persist.insert(obj, on_conflict_do_nothing=True):
            return obj, True
        return await self.get(**lookups), False

    async def update_or_create(
        self, defaults: dict[str, Any] | None = None, **lookups: Any
    ) -> tuple[M, bool]:
        """Update the row matching ``lookups`` with ``defaults``, or create it."""
        defaults = dict(defaults or {})
        if defaults:
            rows = await self.filter(**lookups).update(**defaults, returning=[])
            if rows:
                if len(rows) > 1:
                    raise self.model.MultipleObjectsReturned(
                        f"update_or_create matched {len(rows)} `{self.model.__name__}` rows"
                    )
                return self.model.from_row(rows[0]), False
        obj, created = await self.get_or_create(defaults=defaults, **lookups)
        if not created and defaults:
            for key, value in defaults.items():
                setattr(obj, key, value)
            await obj.save(update_fields=list(defaults))
        return obj, created

    async def update(self, *, returning: list[str] | None = None, **values: Any) -> Any:
        """UPDATE the matching rows; ``F()`` expressions update atomically.

        Sends no model signals (no instances are loaded). Mixins still apply:
        ``TimestampMixin`` sets ``updated_at`` and ``VersionedMixin`` bumps ``version``.

        Returns:
            The number of rows, or with ``returning=[...]`` a list of dicts of those
            columns (``returning=[]`` returns every column).
        """
        check_writable(self.model, "update")
        cleaned = clean_update_values(self.model, self.model._prepare_update(values))
        sql, params = compile_update(self._query, cleaned, returning)
        sql = cache.write_sql(self.model._meta, sql)
        if returning is None:
            return await _execute.execute(self.model, sql, params)
        records = await _execute.fetch(self.model, sql, params)
        meta = self.model._meta
        out = []
        for record in records:
            row = dict(record)
            for name, convert in meta.from_db_converters:
                if name in row:
                    row[name] = convert(row[name])
            out.append(row)
        return out

    async def delete(self) -> int:
        """DELETE the matching rows and return how many.

        Sends no model signals. The queryset of ``SoftDeleteMixin`` models
        overrides it to soft-delete (and adds ``hard_delete()``).
        """
        check_writable(self.model, "delete")
        sql, params = compile_delete(self._query)
        sql = cache.write_sql(self.model._meta, sql)
        return await _execute.execute(self.model, sql, params)

    async def bulk_create(
        self,
        objs: Iterable[M],
        *,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        unique_fields: Sequence[str] = (),
        update_fields: Sequence[str] = (),
        use_copy: bool = False,
    ) -> list[M]:
        """INSERT many instances in one round trip and set their primary keys.

        Sends no model signals and runs no mixin hooks (``TimestampMixin`` does not
        stamp the rows): it writes the instances' values as they are.

        Args:
            ignore_conflicts: Skip rows that violate a unique constraint.
            update_conflicts: Upsert: on a conflict over ``unique_fields`` update
                ``update_fields``.
            use_copy: Use COPY (fastest; primary keys are then not read back).
        """
        from stellate.orm import _bulk

        check_writable(self.model, "bulk_create")
        return await cache.bulk_write(
            self.model,
            _bulk.bulk_create(
                self.model,
                list(objs),
                ignore_conflicts=ignore_conflicts,
                update_conflicts=update_conflicts,
                unique_fields=list(unique_fields),
                update_fields=list(update_fields),
                use_copy=use_copy,
            ),
        )

    async def bulk_update(self, objs: Iterable[M], fields: Sequence[str]) -> int:
        """UPDATE ``fields`` of many instances in one statement; returns the row count."""
        from stellate.orm import _bulk

        check_writable(self.model, "bulk_update")
        return await cache.bulk_write(
            self.model, _bulk.bulk_update(self.model, list(objs), list(fields))
        )


_CTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _flip(item: str | Expression) -> str | Expression:
    if isinstance(item, OrderBy):
        return item.reversed()
    if isinstance(item, Expression):
        return item.desc()
    return item if item == "?" else item[1:] if item.startswith("-") else f"-{item}"


def _check_joinable(attr: str, queryset: QuerySet[Any]) -> None:
    query = queryset._query
    if query.values_mode is not None or query.only is not None or query.defer:
        raise FieldError(
            f"join_related(`{attr}`=...) joins whole `{query.model.__name__}` rows; drop "
            "values()/only()/defer() from its queryset"
        )
    if query.select_related or query.prefetch or query.join_aliases:
        raise FieldError(
            f"join_related(`{attr}`=...): the joined queryset cannot load relations of its "
            "own; join them on the outer queryset instead"
        )


def _check_count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got `{value!r}`")


def _describe(conditions: Sequence[Any], lookups: dict[str, Any]) -> str:
    parts = [repr(c) for c in conditions] + [f"{k}={v!r}" for k, v in lookups.items()]
    return f"`{', '.join(parts)}`" if parts else "the query"
