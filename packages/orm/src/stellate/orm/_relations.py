"""Descriptors for loaded relations, and the foreign-key value that carries its instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.orm.exceptions import NotLoadedError

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.orm.models import Model


class ForwardRelation:
    """``book.author`` for the foreign key ``author_id``; set by ``select_related``."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.attr = field.relation_name

    def __get__(self, instance: Model | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.attr]
        except KeyError:
            pass
        value = instance.__dict__.get(self.field.name)
        if value is None and self.field.name in instance.__dict__:
            return None
        if isinstance(value, LoadedKey):
            return value.related
        model = type(instance).__name__
        raise NotLoadedError(
            f"`{model}.{self.attr}` is not loaded and attribute access never queries: use "
            f'`{model}.objects.select_related("{self.attr}")` or '
            f'`await obj.fetch("{self.attr}")`'
        )

    def __set__(self, instance: Model, value: Model | None) -> None:
        instance.__dict__[self.attr] = value
        instance.__dict__[self.field.name] = None if value is None else value.pk


class ReverseRelation:
    """``author.books`` for ``Book.author_id`` with ``related_name="books"``."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.attr = field.related_name or ""

    def __get__(self, instance: Model | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.attr]
        except KeyError:
            model = type(instance).__name__
            raise NotLoadedError(
                f"`{model}.{self.attr}` is not loaded and attribute access never queries: use "
                f'`{model}.objects.prefetch_related("{self.attr}")` or '
                f'`await obj.fetch("{self.attr}")`'
            ) from None

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__dict__[self.attr] = value


class LoadedKey:
    """Marker base of foreign-key values that also carry the related instance.

    ``select_related("author_id")`` stores such a value in ``book.author_id``: it still
    equals (and is an instance of the type of) the raw key, ``book.author_id == 7``,
    while ``book.author_id.name`` reads the loaded author.
    """

    related: Model
    raw: Any


def make_loaded_key(raw: Any, related: Model) -> Any:
    """Wrap the key ``raw`` so it also exposes ``related``'s attributes."""
    cls = _loaded_key_class(type(raw))
    key = cls(raw)
    key.related = related
    key.raw = raw
    return key


_KEY_CLASSES: dict[type, type] = {}


def _loaded_key_class(base: type) -> type:
    cached = _KEY_CLASSES.get(base)
    if cached is None:
        cached = _KEY_CLASSES[base] = _build_key_class(base)
    return cached


def _build_key_class(base: type) -> type:
    def __getattribute__(self: Any, name: str) -> Any:
        if name in ("related", "raw", "__class__", "__dict__"):
            return object.__getattribute__(self, name)
        related = object.__getattribute__(self, "__dict__").get("related")
        if related is not None and not name.startswith("__"):
            meta = type(related)._meta
            if (
                name in meta.fields
                or name in meta.relations
                or name in meta.reverse_relations
                or name == "pk"
                or hasattr(type(related), name)
            ):
                return getattr(related, name)
        return object.__getattribute__(self, name)

    def __reduce__(self: Any) -> Any:
        return (base, (self.raw,))

    return type(
        f"Loaded{base.__name__.capitalize()}",
        (base, LoadedKey),
        {"__getattribute__": __getattribute__, "__reduce__": __reduce__},
    )
