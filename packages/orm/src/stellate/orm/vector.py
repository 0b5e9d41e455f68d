"""pgvector: ``VectorField`` columns and distance expressions.

Needs the ``vector`` extension (shipped with the embedded PostgreSQL; on a server,
install pgvector and let migrations run ``CREATE EXTENSION vector``).

Example:
    ```python
    class Document(Model):
        class Meta:
            table = "documents"

        id: int = Field(primary_key=True, auto=True)
        embedding: list[float] = VectorField(dimensions=3, index_type="hnsw")

    nearest = await Document.objects.annotate(
        distance=CosineDistance("embedding", [0.1, 0.2, 0.3])
    ).order_by("distance").limit(5).all()
    ```
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stellate.orm.exceptions import FieldError
from stellate.orm.expressions import Expression
from stellate.orm.fields import Field

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext

__all__ = ["CosineDistance", "InnerProduct", "L2Distance", "VectorField", "vector_literal"]

_INDEX_TYPES = ("hnsw", "ivfflat")
_OPS = ("vector_cosine_ops", "vector_l2_ops", "vector_ip_ops")


def vector_literal(values: Sequence[float], *, dimensions: int | None, where: str) -> str:
    """``[1.0,2.0]``: pgvector's text form of ``values``, checked first.

    Raises:
        FieldError: not a sequence of finite numbers, or of the wrong length.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise FieldError(f"{where} takes a list of floats, got `{values!r}`")
    if dimensions is not None and len(values) != dimensions:
        raise FieldError(
            f"{where} has {dimensions} dimensions; got a vector of {len(values)} values"
        )
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise FieldError(f"{where} takes numbers only, got `{values!r}`") from None
    if any(isinstance(v, bool) for v in values) or not all(map(math.isfinite, numbers)):
        raise FieldError(f"{where} takes finite numbers only (no NaN, infinity or bools)")
    return "[" + ",".join(repr(v) for v in numbers) + "]"


class VectorField(Field):
    """A pgvector ``vector(dimensions)`` column holding ``list[float]``.

    Args:
        dimensions: The vector length (1536 for OpenAI ada-002).
        index_type: ``hnsw`` or ``ivfflat`` to create an approximate nearest-neighbour
            index; ``None`` for none.
        index_ops: The index operator class: ``vector_cosine_ops`` (default),
            ``vector_l2_ops`` or ``vector_ip_ops``; order by the matching distance
            for the index to be used.
        **options: The options of :class:`Field`.
    """

    db_extension = "vector"

    def __init__(
        self,
        *,
        dimensions: int,
        index_type: str | None = None,
        index_ops: str = "vector_cosine_ops",
        **options: Any,
    ) -> None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise ValueError(
                f"VectorField(dimensions=...) takes a positive int, got {dimensions!r}"
            )
        if index_type is not None and index_type not in _INDEX_TYPES:
            raise ValueError(
                f"VectorField index_type `{index_type}` is unknown; use `hnsw`, `ivfflat` or None"
            )
        if index_ops not in _OPS:
            raise ValueError(
                f"VectorField index_ops `{index_ops}` is unknown; use one of {', '.join(_OPS)}"
            )
        if index_type is not None:
            options["index"] = True
        super().__init__(**options)
        self.dimensions = dimensions
        self.index_type = index_type
        self.index_ops = index_ops
        if index_type is not None:
            self.index_method = index_type
            self.index_opclass = index_ops

    def contribute(self, model: Any, name: str, annotation: Any) -> None:
        super().contribute(model, name, annotation)
        self._fast_types = frozenset()  # every value is checked (length, finite numbers)
        self.needs_from_db = True
        self.needs_to_db = True

    def db_type(self) -> str:
        return self._db_column_type or f"vector({self.dimensions})"

    def placeholder(self, index: int) -> str:
        # Sent as text and cast, so no vector codec has to be registered on connections.
        return f"${index}::text::vector"

    def clean(self, value: Any) -> tuple[Any, list[str]]:
        if value is None:
            return super().clean(value)
        try:
            vector_literal(value, dimensions=self.dimensions, where="it")
        except FieldError as exc:
            return value, [str(exc)]
        return [float(v) for v in value], []

    def to_db_value(self, value: Any) -> Any:
        if value is None:
            return None
        where = f"`{self.model.__name__}.{self.name}`"
        return vector_literal(value, dimensions=self.dimensions, where=where)

    def from_db_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return [float(v) for v in json.loads(value)]
        return value


class _Distance(Expression):
    operator = ""

    __slots__ = ("field", "vector")

    def __init__(self, field: str, vector: Sequence[float]) -> None:
        self.field = field
        self.vector = vector

    def shape(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.field)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.vector)

    def compile(self, ctx: CompileContext) -> str:
        column, field = ctx.column(self.field)
        dimensions = field.dimensions if isinstance(field, VectorField) else None
        where = f"`{type(self).__name__}({self.field!r}, ...)`"
        vector = ctx.param(lambda v: vector_literal(v, dimensions=dimensions, where=where))
        return f"({column} {self.operator} {vector}::text::vector)"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field!r}, ...)"


class CosineDistance(_Distance):
    """pgvector's ``<=>``: 1 - cosine similarity (0 = same direction)."""

    __slots__ = ()
    operator = "<=>"


class L2Distance(_Distance):
    """pgvector's ``<->``: Euclidean distance."""

    __slots__ = ()
    operator = "<->"


class InnerProduct(_Distance):
    """pgvector's ``<#>``: the *negative* inner product, so ascending order puts the
    most similar first (as the ``vector_ip_ops`` index expects)."""

    __slots__ = ()
    operator = "<#>"
