"""Conditions across a many-to-many relation, compiled to correlated ``EXISTS``.

``Book.objects.filter(tags__name="x")`` becomes ``EXISTS (SELECT 1 FROM books_tags AS j
JOIN tags ... WHERE j.book_id = books.id AND tags.name = $1)``: a book is never repeated
however many tags match, and ``exclude()``/``~Q`` negate the same test exactly, so no
``DISTINCT`` is needed. The conditions of one ``filter()`` call on the same relation
(its keywords and the ``Q`` objects ANDed in it) share one ``EXISTS``, so they must hold
for the same related row, as in Django; chained ``filter()`` calls each get their own.

Parameters are numbered leaf by leaf in the order ``q_flatten`` lists them, and only the
placement of the finished ``EXISTS`` is deferred, so a cached plan rebinds new values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from stellate.orm.exceptions import FieldError, unknown_name_error
from stellate.orm.expressions import Expression, Q, Subquery
from stellate.orm.lookups import LOOKUPS, build_lookup
from stellate.orm.models import Model, _model_classes, quote_name

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext
    from stellate.orm.many_to_many import ManyToManyField

_THROUGH = "through"


def find_many_to_many(model: type[Model], name: str) -> tuple[ManyToManyField, bool] | None:
    """The many-to-many ``name`` reaches from ``model``, and whether it is the reverse side.

    The forward side is a ``ManyToManyField`` of ``model`` (or a base it inherits from);
    the reverse side is the ``related_name`` of one that targets ``model``'s table.
    """
    meta = model._meta
    if name in meta.fields or name in meta.relations or name in meta.reverse_relations:
        return None
    for cls in model.__mro__:
        options = vars(cls).get("_meta")
        found = getattr(options, "many_to_many", {}).get(name)
        if found is not None:
            _check_related_name(found)
            return found, False
    for cls in _model_classes(Model):
        for m2m in vars(cls)["_meta"].many_to_many.values():
            if m2m.related_name != name or m2m.source is not cls:
                continue
            try:
                target_table = m2m.target._meta.table
            except FieldError:
                continue  # an unresolvable target elsewhere is that model's error
            if target_table == meta.table:
                return m2m, True
    return None


def _check_related_name(m2m: ManyToManyField) -> None:
    # A related_name the target already uses would silently lose to that name there.
    name, target = m2m.related_name, m2m.target
    meta = target._meta
    if name is not None and (
        name in meta.fields
        or name in meta.relations
        or name in meta.reverse_relations
        or name in meta.many_to_many
    ):
        raise FieldError(
            f"`{m2m.source.__name__}.{m2m.name}` has related_name `{name}`, which "
            f"`{target.__name__}` already uses; choose another related_name"
        )


def misuse_error(model: type[Model], name: str, key: str, position: int) -> FieldError | None:
    """The error for a many-to-many name where one column is needed (order_by, values,
    F, or a filter path that reaches the relation through a foreign key)."""
    found = find_many_to_many(model, name)
    if found is None:
        return None
    label = f"`{model.__name__}.{name}`"
    if position > 0:
        head = key.split("__")[position - 1]
        return FieldError(
            f"`{key}` reaches the many-to-many {label} through `{head}`: filters cross a "
            f"many-to-many only from its own model; write `{head}__in="
            f"{model.__name__}.objects.filter({'__'.join(key.split('__')[position:])}=...)`"
        )
    return FieldError(
        f"`{key}` crosses the many-to-many {label}, which has many rows per "
        f"`{model.__name__}`: order_by(), values() and F() cannot use it. Load the related "
        f'rows with `prefetch_related("{name}")`, or filter with `filter({key}=...)`'
    )


class _Group:
    """One ``EXISTS`` over a junction: its aliases and the SQL of its conditions."""

    __slots__ = (
        "index",
        "junction",
        "m2m",
        "name",
        "nested",
        "parts",
        "reverse",
        "target",
        "through",
    )

    def __init__(
        self, ctx: CompileContext, m2m: ManyToManyField, reverse: bool, name: str, index: int
    ) -> None:
        self.m2m = m2m
        self.reverse = reverse
        self.name = name
        self.index = index
        counter = ctx.counter
        counter.aliases += 1
        self.junction = f"j{counter.aliases}"
        self.through: CompileContext | None = None
        through = m2m.through_model
        if through is not None:
            self.through = type(ctx)(through, outer=ctx.outer, alias=self.junction, numbering=ctx)
        counter.aliases += 1
        related = m2m.source if reverse else m2m.target
        self.target: CompileContext = type(ctx)(
            related, outer=ctx.outer, alias=f"s{counter.aliases}", numbering=ctx
        )
        self.parts: list[str] = []
        # Conditions across a further many-to-many of the related model nest one level.
        self.nested = ManyToManyConditions(self.target, grouped=True)

    def add(self, rest: str, value: Any, key: str) -> None:
        head = rest.split("__", 1)[0]
        if head == _THROUGH:
            self.parts.append(self._through_leaf(rest, key, value))
            return
        if not rest or head in LOOKUPS:
            rest = f"pk__{rest}" if rest else "pk"
        else:
            self._check_target_name(head, key)
        pk = self.target.model._meta.pk
        parts = rest.split("__")
        if parts[0] in ("pk", pk.name) and (len(parts) == 1 or parts[1:] in (["in"], ["exact"])):
            # The related key is in the junction: `tags=tag` / `tags__in=[...]` need no
            # join to the related table.
            column = f"{quote_name(self.junction)}.{quote_name(self.inner_column)}"
            lookup = parts[1] if len(parts) == 2 else "exact"
            if lookup == "in" and isinstance(value, Subquery):
                value = value.queryset  # as compile_leaf reads it: IN (SELECT ...)
            self.parts.append(build_lookup(lookup, column, pk, value, self.target, rest))
            return
        if not self.nested.add(rest, value, self.parts):
            self.parts.append(self.target.compile_leaf(rest, value))

    def _through_leaf(self, rest: str, key: str, value: Any) -> str:
        label = f"`{self.m2m.source.__name__}.{self.m2m.name}`"
        if self.through is None:
            raise FieldError(
                f"`{key}`: {label} has no through model; its junction table "
                f"`{self.m2m.table}` holds only the two keys. Declare "
                "`ManyToManyField(..., through=JunctionModel)` to filter on extra columns"
            )
        _, _, column_key = rest.partition("__")
        if not column_key:
            raise FieldError(
                f"`{key}` names the through model of {label} but no field of it: write "
                f"`{key}__<field>` with one of "
                + ", ".join(f"`{n}`" for n in self.through.model._meta.fields)
            )
        return self.through.compile_leaf(column_key, value)

    def _check_target_name(self, head: str, key: str) -> None:
        related = self.target.model
        meta = related._meta
        if (
            head == "pk"
            or head in meta.fields
            or head in meta.relations
            or head in meta.reverse_relations
            or find_many_to_many(related, head) is not None
        ):
            return
        hint = ""
        through = self.m2m.through_model
        if through is not None and head in through._meta.fields:
            hint = (
                f"`{head}` is a column of the through model `{through.__name__}`: write "
                f"`{self.name}__{_THROUGH}__{key.split(self.name + '__', 1)[1]}`"
            )
        valid = [*meta.fields, *meta.relations, *meta.reverse_relations]
        raise unknown_name_error("field", head, related.__name__, valid, hint=hint)

    @property
    def inner_column(self) -> str:
        """The junction column holding the related model's key."""
        return self.m2m.source_column if self.reverse else self.m2m.target_column

    def sql(self, ctx: CompileContext) -> str:
        self.nested.finish(self.parts)
        m2m = self.m2m
        inner_column = self.inner_column
        outer_column = m2m.target_column if self.reverse else m2m.source_column
        junction = quote_name(self.junction)
        source = f"{quote_name(m2m.table)} AS {junction}"
        pk = quote_name(ctx.model._meta.pk.column)
        conditions = [f"{junction}.{quote_name(outer_column)} = {ctx.ref}.{pk}"]
        target = self.target
        if target.joins or any(target.ref in part for part in self.parts):
            # Written as FROM/JOIN (never a comma list): cache.py reads the tables a
            # query depends on from them.
            target_pk = quote_name(target.model._meta.pk.column)
            source = (
                f"{target.from_sql()} JOIN {source} ON "
                f"{junction}.{quote_name(inner_column)} = {target.ref}.{target_pk}"
            )
        if self.through is not None:
            source = " ".join([source, *(join.sql for join in self.through.joins.values())])
        conditions.extend(self.parts)
        return f"EXISTS (SELECT 1 FROM {source} WHERE {' AND '.join(conditions)})"


class ManyToManyConditions:
    """The many-to-many leaves of one ``Q`` node, grouped per relation when ANDed."""

    __slots__ = ("ctx", "grouped", "groups")

    def __init__(self, ctx: CompileContext, *, grouped: bool) -> None:
        self.ctx = ctx
        self.grouped = grouped
        self.groups: list[_Group] = []

    def children(self, q: Q) -> list[Q | Expression | tuple[str, Any]]:
        """The children of ``q`` to compile: in an AND node, a plain AND ``Q`` child that
        crosses a many-to-many is spliced in (``Q(tags__a=1) & Q(tags__b=2)`` then means
        one related row, as the same keywords in one ``filter()`` call do). AND is
        associative and the leaf order (the parameter order) is kept; nodes that cross
        no many-to-many are left as written, so their SQL text does not change."""
        if not self.grouped:
            return q.children
        spliced: list[Q | Expression | tuple[str, Any]] = []
        for child in q.children:
            if _plain_and(child) and self._crosses(child):
                spliced.extend(self.children(child))
            else:
                spliced.append(child)
        return spliced

    def _crosses(self, q: Q) -> bool:
        ctx = self.ctx
        return any(
            (name := child[0].partition("__")[0]) not in ctx.annotations
            and find_many_to_many(ctx.model, name) is not None
            if isinstance(child, tuple)
            else _plain_and(child) and self._crosses(child)
            for child in q.children
        )

    def add(self, key: str, value: Any, parts: list[str]) -> bool:
        """Compile ``key=value`` if it crosses a many-to-many; False if it does not."""
        name, _, rest = key.partition("__")
        ctx = self.ctx
        if name in ctx.annotations:
            return False
        found = find_many_to_many(ctx.model, name)
        if found is None:
            return False
        m2m, reverse = found
        if rest == "isnull" or (rest in ("", "exact") and value is None):
            # "Has no related row at all" is not a condition on a related row.
            parts.append(self._presence(m2m, reverse, key, value if rest == "isnull" else True))
            return True
        group = None
        if self.grouped:
            group = next((g for g in self.groups if g.name == name), None)
        if group is None:
            group = _Group(ctx, m2m, reverse, name, len(parts))
            parts.append("")  # replaced by finish(), once every condition is compiled
            self.groups.append(group)
        group.add(rest, value, key)
        return True

    def _presence(self, m2m: ManyToManyField, reverse: bool, key: str, value: Any) -> str:
        if not isinstance(value, bool):
            raise FieldError(f"`{key}` takes True or False, got `{value!r}`")
        ctx = self.ctx
        column = m2m.target_column if reverse else m2m.source_column
        pk = quote_name(ctx.model._meta.pk.column)
        sql = (
            f"EXISTS (SELECT 1 FROM {quote_name(m2m.table)} WHERE "
            f"{quote_name(m2m.table)}.{quote_name(column)} = {ctx.ref}.{pk})"
        )
        return f"NOT {sql}" if value else sql

    def finish(self, parts: list[str]) -> None:
        for group in self.groups:
            parts[group.index] = group.sql(self.ctx)


def _plain_and(child: object) -> TypeGuard[Q]:
    return isinstance(child, Q) and not child.negated and child.connector == Q.AND
