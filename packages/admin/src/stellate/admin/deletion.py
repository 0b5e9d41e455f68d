"""What deleting rows would do: the rows that go with them, and the rows that stop it.

The database enforces ``ON DELETE`` itself; this module only previews it for the
confirmation page, following reverse foreign keys (those with a ``related_name``)
a few levels deep with one query per relation and level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stellate.admin.options import label_of
from stellate.orm import OnDelete

if TYPE_CHECKING:
    from stellate.admin.options import ModelAdmin
    from stellate.orm import Model

__all__ = ["DeletionPlan", "collect_deletion"]

_MAX_DEPTH = 3
_SAMPLE = 10


@dataclass(slots=True)
class RelatedRows:
    """Rows of one model reached through one foreign key."""

    model: str
    relation: str
    count: int
    samples: list[str]


@dataclass(slots=True)
class DeletionPlan:
    cascades: list[RelatedRows] = field(default_factory=list)
    unlinked: list[RelatedRows] = field(default_factory=list)
    protected: list[RelatedRows] = field(default_factory=list)
    many_to_many: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.protected)


async def collect_deletion(admin: ModelAdmin, objects: list[Model]) -> DeletionPlan:
    """Preview deleting ``objects``: cascaded, unlinked (SET NULL) and protecting rows."""
    plan = DeletionPlan()
    if not objects:
        return plan
    model = admin.model
    plan.many_to_many = [label_of(name) for name in model._meta.many_to_many]
    await _walk(admin, model, [obj.pk for obj in objects], plan, depth=0)
    return plan


async def _walk(
    admin: ModelAdmin, model: type[Model], keys: list[Any], plan: DeletionPlan, depth: int
) -> None:
    for relation, (related, fk) in model._meta.reverse_relations.items():
        rows = (
            await related.objects.filter(**{f"{fk.name}__in": keys})
            .order_by(related._meta.pk.name)
            .limit(1000)
        )
        if not rows:
            continue
        entry = RelatedRows(
            model=related.__name__,
            relation=relation,
            count=len(rows),
            samples=[admin.site.label(row) for row in rows[:_SAMPLE]],
        )
        if fk.on_delete == OnDelete.CASCADE:
            plan.cascades.append(entry)
            if depth + 1 < _MAX_DEPTH:
                await _walk(admin, related, [row.pk for row in rows], plan, depth + 1)
        elif fk.on_delete == OnDelete.SET_NULL:
            plan.unlinked.append(entry)
        else:
            plan.protected.append(entry)
