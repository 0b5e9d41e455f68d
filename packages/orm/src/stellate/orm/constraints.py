"""Table-level indexes and constraints declared in ``Meta.indexes`` / ``Meta.constraints``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stellate.orm.expressions import Q

__all__ = ["CheckConstraint", "Index", "UniqueConstraint"]


_METHODS = ("btree", "hash", "gin", "gist", "brin", "spgist", "hnsw", "ivfflat")
# Index methods of extensions: migrations create the extension before the index.
_METHOD_EXTENSIONS = {"hnsw": "vector", "ivfflat": "vector"}
_OPCLASS_EXTENSIONS = {"gin_trgm_ops": "pg_trgm", "gist_trgm_ops": "pg_trgm"}


class Index:
    """A (B-tree by default) index: ``Index("author_id", "-created_at", name=...)``.

    Args:
        fields: Field names; a leading ``-`` sorts that column descending. A single
            sequence (``Index(["a", "b"])``) is accepted too.
        name: Index name (derived from the table and fields when omitted).
        unique: CREATE UNIQUE INDEX.
        condition: A ``Q`` (or raw SQL) making it a partial index.
        include: Fields stored in the index without being keys (a covering index,
            for index-only scans).
        method: ``btree``, ``hash``, ``gin``, ``gist``, ``brin``, ``spgist``, or
            pgvector's ``hnsw`` / ``ivfflat``.
        opclass: An operator class for every key column (``gin_trgm_ops``,
            ``vector_cosine_ops``).

    Example:
        ``Index("author_id", condition=Q(published=True), include=["title"])``
    """

    def __init__(
        self,
        *fields: str | Sequence[str],
        name: str | None = None,
        unique: bool = False,
        condition: Q | str | None = None,
        include: Sequence[str] = (),
        method: str = "btree",
        opclass: str | None = None,
    ) -> None:
        if len(fields) == 1 and not isinstance(fields[0], str):
            fields = tuple(fields[0])
        if not fields or not all(isinstance(f, str) for f in fields):
            raise ValueError('Index() needs field names: `Index("a", "b")` or `Index(["a"])`')
        if method not in _METHODS:
            raise ValueError(f"Unknown index method `{method}`; use one of {', '.join(_METHODS)}")
        if isinstance(include, str):
            raise ValueError(f"Index(include=...) takes a list of field names, got `{include!r}`")
        self.fields: tuple[str, ...] = tuple(str(f) for f in fields)
        self.name = name
        self.unique = unique
        self.condition = condition
        self.include = tuple(include)
        self.method = method
        self.opclass = opclass
        self.db_extension = _METHOD_EXTENSIONS.get(method) or _OPCLASS_EXTENSIONS.get(opclass or "")

    def __repr__(self) -> str:
        return f"Index({', '.join(map(repr, self.fields))}, name={self.name!r})"


class UniqueConstraint:
    """A unique constraint; with ``condition`` a unique partial index.

    Example:
        ``UniqueConstraint(fields=["slug"], name="uniq_live_slug", condition=Q(deleted=False))``
    """

    def __init__(
        self, *, fields: Sequence[str], name: str, condition: Q | str | None = None
    ) -> None:
        if not fields:
            raise ValueError(f"UniqueConstraint `{name}` needs at least one field")
        self.fields = tuple(fields)
        self.name = name
        self.condition = condition

    def __repr__(self) -> str:
        return f"UniqueConstraint(fields={list(self.fields)!r}, name={self.name!r})"


class CheckConstraint:
    """A CHECK constraint: ``CheckConstraint(check=Q(price__gte=0), name="price_positive")``.

    ``check`` may also be raw SQL (``"price >= 0"``), written by the model author.
    """

    def __init__(self, *, check: Q | str, name: str) -> None:
        self.check = check
        self.name = name

    def __repr__(self) -> str:
        return f"CheckConstraint(name={self.name!r})"


def sql_literal(value: Any) -> str:
    """An SQL literal for DDL (which cannot take parameters)."""
    import datetime
    import decimal
    import enum
    import uuid

    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | decimal.Decimal):
        return repr(value) if not isinstance(value, decimal.Decimal) else str(value)
    if isinstance(value, str | uuid.UUID | datetime.date | datetime.time):
        return "'" + str(value).replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(sql_literal(v) for v in value) + "]"
    raise TypeError(f"Cannot write `{value!r}` as an SQL literal in a constraint; use raw SQL")
