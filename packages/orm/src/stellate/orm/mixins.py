"""Model mixins: timestamps, soft deletion, ownership and optimistic locking.

Each mixin is an abstract model; list it before ``Model`` (or on its own, as it
already is a model) and its fields join the table:

```python
class Document(TimestampMixin, SoftDeleteMixin, VersionedMixin, Model):
    class Meta:
        table = "documents"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
```

===================  =========================  ==========================================
Mixin                Fields                     Behaviour
===================  =========================  ==========================================
TimestampMixin       created_at, updated_at     set by ``save()`` and ``QuerySet.update()``
SoftDeleteMixin      deleted_at                 ``delete()`` stamps it; ``objects`` hides it
OwnershipMixin       owner_id                   ``Model.for_owner(user)`` scopes queries
VersionedMixin       version                    a stale ``save()`` raises ``StaleObjectError``
===================  =========================  ==========================================

Set-based writes send no signals. ``bulk_create()`` and ``bulk_update()`` write
the values as given (no timestamps, no version check); ``QuerySet.update()``
stamps ``updated_at`` and bumps ``version``; ``QuerySet.delete()`` of a
soft-delete model soft-deletes (``hard_delete()`` deletes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stellate.orm.exceptions import OrmError
from stellate.orm.expressions import F, Q
from stellate.orm.fields import Field
from stellate.orm.models import Model, _QuerySetDescriptor
from stellate.orm.queryset import QuerySet
from stellate.orm.signals import post_delete, pre_delete

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "OwnershipMixin",
    "SoftDeleteMixin",
    "SoftDeleteQuerySet",
    "StaleObjectError",
    "TimestampMixin",
    "VersionedMixin",
    "owner_id_of",
]

M = TypeVar("M", bound=Model)


class StaleObjectError(OrmError):
    """A ``VersionedMixin`` instance was saved from an outdated version; nothing was written.

    Attributes:
        model: The model's name.
        pk: The primary key of the row.
        expected_version: The version the instance was loaded with.
        current_version: The version in the database (``None`` when the row is gone).
    """

    def __init__(
        self, model: str, pk: Any, expected_version: Any, current_version: Any | None
    ) -> None:
        self.model = model
        self.pk = pk
        self.expected_version = expected_version
        self.current_version = current_version
        if current_version is None:
            detail = "but the row no longer exists (it was deleted)"
        else:
            detail = f"but the database has version `{current_version}`"
        super().__init__(
            f"`{model}` pk=`{pk!r}` was saved from version `{expected_version}`, {detail}: "
            "another write changed it after this instance was loaded. Nothing was written; "
            "reload it (`await obj.refresh_from_db()`), reapply the change and save again"
        )


def _now() -> datetime:
    return datetime.now(UTC)


class TimestampMixin(Model):
    """``created_at`` (set on the first save) and ``updated_at`` (set on every save).

    ``QuerySet.update()`` also sets ``updated_at`` unless it is given explicitly.
    Times are timezone-aware UTC, taken in Python so the instance holds them
    without reading the row back.
    """

    class Meta:
        abstract = True

    created_at: datetime | None = Field(default=None)
    updated_at: datetime | None = Field(default=None)

    def _prepare_save(self, creating: bool, update_fields: list[str] | None) -> list[str] | None:
        update_fields = super()._prepare_save(creating, update_fields)
        now = _now()
        data = self.__dict__
        if creating and data.get("created_at") is None:
            data["created_at"] = now
        data["updated_at"] = now
        if update_fields is not None and "updated_at" not in update_fields:
            update_fields = [*update_fields, "updated_at"]
        return update_fields

    @classmethod
    def _prepare_update(cls, values: dict[str, Any]) -> dict[str, Any]:
        values = super()._prepare_update(values)
        if "updated_at" not in values:
            values = {**values, "updated_at": _now()}
        return values


_NOT_DELETED = Q(deleted_at__isnull=True)
"""The default scope of soft-delete models; ``unscoped()`` removes exactly this object."""


class SoftDeleteQuerySet(QuerySet[M]):
    """The queryset of ``SoftDeleteMixin`` models: hides soft-deleted rows until ``unscoped()``."""

    __slots__ = ()

    def _chain(self) -> SoftDeleteQuerySet[M]:
        return SoftDeleteQuerySet(self.model, self._query.clone())

    def unscoped(self) -> SoftDeleteQuerySet[M]:
        """This queryset without the "not deleted" filter (other filters stay)."""
        qs = self._chain()
        qs._query.where = tuple(q for q in qs._query.where if q is not _NOT_DELETED)
        return qs

    async def delete(self) -> int:
        """Soft-delete the matching rows not deleted yet (one UPDATE); returns how many.

        Like every set-based write it sends no signals; ``updated_at`` and
        ``version`` move as in ``update()``.
        """
        return int(await self.filter(deleted_at__isnull=True).update(deleted_at=_now()))

    async def hard_delete(self) -> int:
        """DELETE the matching rows for real (no signals); returns how many."""
        return await QuerySet.delete(self)

    def deleted(self) -> SoftDeleteQuerySet[M]:
        """Only the soft-deleted rows."""
        qs = self.unscoped()
        qs._query.where = (*qs._query.where, Q(deleted_at__isnull=False))
        return qs


class _SoftDeleteObjects(_QuerySetDescriptor):
    """``Model.objects`` of soft-delete models: the rows that are not deleted."""

    def __get__(self, instance: object, owner: type[M]) -> SoftDeleteQuerySet[M]:
        if instance is not None:
            raise AttributeError(
                f"`objects` is reached through the class: `{owner.__name__}.objects`"
            )
        qs: SoftDeleteQuerySet[M] = SoftDeleteQuerySet(owner)
        qs._query.where = (*owner._meta.default_where, _NOT_DELETED)
        return qs


class _AllObjects:
    """``Model.all_objects``: every row, soft-deleted ones included."""

    def __get__(self, instance: object, owner: type[M]) -> SoftDeleteQuerySet[M]:
        if instance is not None:
            raise AttributeError(
                f"`all_objects` is reached through the class: `{owner.__name__}.all_objects`"
            )
        return SoftDeleteQuerySet(owner)


class SoftDeleteMixin(Model):
    """``delete()`` stamps ``deleted_at`` instead of deleting; ``objects`` hides such rows.

    ``Model.objects.unscoped()`` (or ``Model.all_objects``) includes them,
    ``Model.objects.deleted()`` gives only them, ``restore()`` clears the stamp
    and ``hard_delete()`` really deletes the row. ``delete()`` sends
    ``pre_delete``/``post_delete`` with ``soft=True``; ``hard_delete()`` with
    ``soft=False``. On querysets, ``delete()`` soft-deletes the matching rows and
    ``hard_delete()`` deletes them (both send no signals).
    """

    class Meta:
        abstract = True

    deleted_at: datetime | None = Field(default=None, index=True)

    objects: ClassVar[_SoftDeleteObjects] = _SoftDeleteObjects()
    all_objects: ClassVar[_AllObjects] = _AllObjects()

    @property
    def is_deleted(self) -> bool:
        """Whether this instance is soft-deleted."""
        return self.__dict__.get("deleted_at") is not None

    async def delete(self) -> None:
        """Soft-delete: set ``deleted_at`` to now in the row and on this instance.

        Raises:
            ValueError: The instance was never saved.
        """
        cls = type(self)
        self._require_pk("delete")
        if pre_delete.has_receivers(cls):
            await pre_delete.send(cls, instance=self, soft=True)
        await self._set_deleted_at(_now())
        if post_delete.has_receivers(cls):
            await post_delete.send(cls, instance=self, soft=True)

    async def restore(self) -> None:
        """Clear ``deleted_at``, so the row shows in ``objects`` again.

        Raises:
            ValueError: The instance was never saved.
        """
        self._require_pk("restore")
        await self._set_deleted_at(None)

    async def hard_delete(self) -> None:
        """DELETE the row for real (sends ``pre_delete``/``post_delete`` with ``soft=False``)."""
        await Model.delete(self)

    def _require_pk(self, action: str) -> None:
        if self.pk is None:
            raise ValueError(
                f"Cannot {action} an unsaved `{type(self).__name__}` (its primary key is None); "
                "save() it first"
            )

    async def _set_deleted_at(self, value: datetime | None) -> None:
        # Through QuerySet.update so the other mixins apply (updated_at, version),
        # and RETURNING so this instance holds what the row now holds.
        cls = type(self)
        rows = await cls.all_objects.filter(pk=self.pk).update(deleted_at=value, returning=[])
        data = self.__dict__
        if rows:
            data.update(rows[0])
        else:
            data["deleted_at"] = value


def owner_id_of(user: Any) -> int:
    """The owner id of ``user``: a principal / mapping with ``"id"``, a model, or an int.

    Raises:
        TypeError: ``user`` is none of those.
        ValueError: It has no id (a mapping without ``"id"``, an unsaved model).
    """
    if isinstance(user, bool):
        raise TypeError(f"Owner must be a user, a principal or an id, got `{user!r}`")
    if isinstance(user, int):
        return user
    if isinstance(user, Model):
        if user.pk is None:
            raise ValueError(
                f"Owner `{type(user).__name__}` is unsaved (its primary key is None); save it first"
            )
        return _check_id(user.pk, user)
    if isinstance(user, Mapping):
        if "id" not in user:
            keys = ", ".join(f"`{k}`" for k in user) or "none"
            raise ValueError(
                f"Owner mapping has no `id` key (keys: {keys}); pass the authenticated "
                "principal (`request.user`) or a mapping with the user's `id`"
            )
        return _check_id(user["id"], user)
    raise TypeError(
        f"Owner must be a principal (`request.user`), a mapping with `id`, a model instance "
        f"or an int id, got `{type(user).__name__}` `{user!r}`"
    )


def _check_id(value: Any, user: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Owner id must be an int, got `{value!r}` from `{user!r}`")
    return value


class OwnershipMixin(Model):
    """``owner_id`` (indexed) and ``Model.for_owner(user)``, the rows ``user`` owns."""

    class Meta:
        abstract = True

    owner_id: int = Field(index=True)

    @classmethod
    def for_owner(cls, user: Any) -> QuerySet[Self]:
        """The rows owned by ``user`` (``request.user``, a mapping with ``id``, a model or an id).

        Other mixins' scoping still applies (soft-deleted rows stay hidden).

        Raises:
            TypeError: ``user`` is not a user, principal, mapping or int.
            ValueError: ``user`` has no id.
        """
        return cls.objects.filter(owner_id=owner_id_of(user))

    def is_owned_by(self, user: Any) -> bool:
        """Whether ``user`` owns this instance."""
        return self.__dict__.get("owner_id") == owner_id_of(user)


class VersionedMixin(Model):
    """Optimistic locking: ``version`` starts at 1 and every save increments it.

    ``save()`` of a loaded instance writes only if the row still has the
    instance's version (checked in the UPDATE's WHERE clause, so two concurrent
    saves from one version cannot both win); otherwise it raises
    :class:`StaleObjectError` and writes nothing. ``QuerySet.update()`` bumps
    the version too, so instances loaded before it become stale.
    """

    class Meta:
        abstract = True

    version: int = Field(default=1, ge=1)

    _version_field: ClassVar[str | None] = "version"

    @classmethod
    def _prepare_update(cls, values: dict[str, Any]) -> dict[str, Any]:
        values = super()._prepare_update(values)
        if "version" not in values:
            values = {**values, "version": F("version") + 1}
        return values
