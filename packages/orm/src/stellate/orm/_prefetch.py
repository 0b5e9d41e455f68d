"""``prefetch_related``: one extra query per relation, results attached in Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stellate.orm._relations import LoadedKey
from stellate.orm.exceptions import unknown_name_error

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.orm.models import Model
    from stellate.orm.queryset import QuerySet


def _raw(value: Any) -> Any:
    return value.raw if isinstance(value, LoadedKey) else value


async def prefetch(model: type[Model], instances: list[Any], lookups: Sequence[Any]) -> None:
    from stellate.orm.queryset import Prefetch

    for item in lookups:
        lookup = item if isinstance(item, Prefetch) else Prefetch(item)
        first, _, rest = lookup.lookup.partition("__")
        if rest:
            related_model, attr = await _prefetch_one(model, instances, first, None, None)
            children: list[Any] = []
            for obj in instances:
                value = obj.__dict__.get(attr)
                if isinstance(value, list):
                    children.extend(value)
                elif value is not None:
                    children.append(value)
            if children:
                nested = Prefetch(rest, lookup.queryset, lookup.to_attr)
                await prefetch(related_model, children, [nested])
        else:
            await _prefetch_one(model, instances, first, lookup.queryset, lookup.to_attr)


async def _prefetch_one(
    model: type[Model],
    instances: list[Any],
    name: str,
    queryset: QuerySet[Any] | None,
    to_attr: str | None,
) -> tuple[type[Model], str]:
    meta = model._meta
    if name in meta.many_to_many:
        m2m = meta.many_to_many[name]
        await m2m.load(instances, to_attr)
        return m2m.target, to_attr or name
    if name in meta.reverse_relations:
        source, fk = meta.reverse_relations[name]
        attr = to_attr or name
        keys = list({obj.pk for obj in instances})
        qs = queryset if queryset is not None else source.objects.order_by(source._meta.pk.name)
        rows = await qs.filter(**{f"{fk.name}__in": keys})
        groups: dict[Any, list[Any]] = {}
        for row in rows:
            groups.setdefault(_raw(row.__dict__[fk.name]), []).append(row)
        for obj in instances:
            group = groups.get(obj.pk, [])
            # The reverse side of a unique foreign key (one-to-one) is one instance.
            obj.__dict__[attr] = (group[0] if group else None) if fk.unique else group
        return source, attr
    field: Field | None = meta.relations.get(name)
    if field is None and name in meta.fields and meta.fields[name].is_relation:
        field = meta.fields[name]
    if field is None:
        valid = [*meta.relations, *meta.reverse_relations, *meta.many_to_many]
        raise unknown_name_error(
            "relation",
            name,
            model.__name__,
            valid,
            hint="prefetch_related() follows foreign keys and related_name reverse relations",
        )
    target = field.related_model
    attr = to_attr or field.relation_name
    keys = list({_raw(obj.__dict__.get(field.name)) for obj in instances} - {None})
    by_pk: dict[Any, Any] = {}
    if keys:
        qs = queryset if queryset is not None else target.objects
        for row in await qs.filter(pk__in=keys):
            by_pk[row.pk] = row
    for obj in instances:
        obj.__dict__[attr] = by_pk.get(_raw(obj.__dict__.get(field.name)))
    return target, attr
