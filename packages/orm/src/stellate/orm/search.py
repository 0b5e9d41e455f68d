"""PostgreSQL full text search and trigram similarity as query expressions.

``SearchVector`` builds a ``tsvector`` from columns, ``SearchQuery`` a ``tsquery`` from
user text (always a parameter), ``SearchRank`` scores one against the other;
``SearchVectorField`` stores the vector in a generated column with a GIN index, the
fast path for searching large tables. ``TrigramSimilarity`` / ``__trigram_similar``
need the ``pg_trgm`` extension.

Example:
    ```python
    vector = SearchVector(["title", "body"], config="english")
    query = SearchQuery("python web framework", search_type="websearch")
    results = await Article.objects.annotate(
        rank=SearchRank(vector, query),
    ).order_by("-rank").limit(20).all()
    ```
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stellate.orm.expressions import Expression
from stellate.orm.fields import GeneratedField

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext

__all__ = [
    "CombinedSearchQuery",
    "SearchQuery",
    "SearchRank",
    "SearchVector",
    "SearchVectorField",
    "TrigramDistance",
    "TrigramSimilarity",
]

_CONFIG = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
_QUERY_FUNCTIONS = {
    "plain": "plainto_tsquery",
    "phrase": "phraseto_tsquery",
    "websearch": "websearch_to_tsquery",
    "raw": "to_tsquery",
}
_WEIGHTS = ("A", "B", "C", "D")


def regconfig_sql(config: str) -> str:
    """A text search configuration name as a ``regconfig`` literal.

    Configurations are part of the query's shape (an index on ``to_tsvector('english',
    ...)`` only matches that literal), so the name is checked instead of bound.

    Raises:
        ValueError: the name is not a plain (optionally schema-qualified) identifier.
    """
    if not _CONFIG.fullmatch(config):
        raise ValueError(
            f"Text search config `{config}` is not a configuration name; use one such as "
            "`english`, `simple` or `pg_catalog.german`"
        )
    return f"'{config}'::regconfig"


def _field_names(fields: tuple[str | Sequence[str], ...], owner: str) -> tuple[str, ...]:
    if len(fields) == 1 and not isinstance(fields[0], str):
        fields = tuple(fields[0])
    if not fields or not all(isinstance(name, str) for name in fields):
        raise ValueError(f'{owner} needs field names: `{owner}(["title", "body"])`')
    return tuple(str(name) for name in fields)


class SearchVector(Expression):
    """``to_tsvector`` over one or more text fields (NULLs count as empty text).

    Args:
        fields: Field names (``SearchVector("title", "body")`` or a list of them).
        config: A text search configuration (``english``); the server's
            ``default_text_search_config`` when omitted.
        weight: ``A``-``D``: label the lexemes for ``SearchRank`` weighting.
    """

    __slots__ = ("config", "fields", "weight")

    def __init__(
        self, *fields: str | Sequence[str], config: str | None = None, weight: str | None = None
    ) -> None:
        self.fields = _field_names(fields, "SearchVector")
        if config is not None:
            regconfig_sql(config)
        if weight is not None and weight not in _WEIGHTS:
            raise ValueError(f"SearchVector weight `{weight}` is not one of A, B, C, D")
        self.config = config
        self.weight = weight

    def shape(self) -> tuple[Any, ...]:
        return ("SearchVector", self.fields, self.config, self.weight)

    def compile(self, ctx: CompileContext) -> str:
        text = " || ' ' || ".join(
            f"COALESCE({ctx.column(name)[0]}::text, '')" for name in self.fields
        )
        prefix = f"{regconfig_sql(self.config)}, " if self.config else ""
        sql = f"to_tsvector({prefix}{text})"
        return f"setweight({sql}, '{self.weight}')" if self.weight else sql

    def __repr__(self) -> str:
        return f"SearchVector({list(self.fields)!r}, config={self.config!r})"


class _TsQuery(Expression):
    """Base of tsquery expressions: combine with ``&``, ``|`` and negate with ``~``."""

    is_tsquery = True

    def __and__(self, other: Any) -> CombinedSearchQuery:
        return CombinedSearchQuery(self, "&&", _tsquery(other))

    def __or__(self, other: Any) -> CombinedSearchQuery:
        return CombinedSearchQuery(self, "||", _tsquery(other))

    def __invert__(self) -> CombinedSearchQuery:
        return CombinedSearchQuery(None, "!!", self)


def _tsquery(value: Any) -> _TsQuery:
    if not isinstance(value, _TsQuery):
        raise TypeError(f"A SearchQuery combines with another SearchQuery, not `{value!r}`")
    return value


class CombinedSearchQuery(_TsQuery):
    """``a & b``, ``a | b`` or ``~a`` of search queries (``&&``, ``||``, ``!!``)."""

    __slots__ = ("lhs", "operator", "rhs")

    def __init__(self, lhs: _TsQuery | None, operator: str, rhs: _TsQuery) -> None:
        self.lhs = lhs
        self.operator = operator
        self.rhs = rhs

    def shape(self) -> tuple[Any, ...]:
        lhs = self.lhs.shape() if self.lhs is not None else None
        return ("CombinedSearchQuery", lhs, self.operator, self.rhs.shape())

    def flatten(self, out: list[Any]) -> None:
        if self.lhs is not None:
            self.lhs.flatten(out)
        self.rhs.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        if self.lhs is None:
            return f"({self.operator}{self.rhs.compile(ctx)})"
        return f"({self.lhs.compile(ctx)} {self.operator} {self.rhs.compile(ctx)})"

    def __repr__(self) -> str:
        return f"CombinedSearchQuery({self.lhs!r} {self.operator} {self.rhs!r})"


class SearchQuery(_TsQuery):
    """A ``tsquery`` from user text, bound as a parameter.

    ``&``, ``|`` and ``~`` combine queries: ``SearchQuery("python") & ~SearchQuery("snake")``.

    Args:
        value: The search text.
        config: A text search configuration; the server default when omitted.
        search_type: ``plain`` (all words), ``phrase`` (words in order), ``websearch``
            (quotes, ``or``, ``-word`` as in search engines) or ``raw`` (``to_tsquery``
            syntax: ``python & !java``; invalid syntax is a database error).
    """

    __slots__ = ("config", "search_type", "value")

    def __init__(
        self, value: str, *, config: str | None = None, search_type: str = "plain"
    ) -> None:
        if search_type not in _QUERY_FUNCTIONS:
            raise ValueError(
                f"Unknown search_type `{search_type}`; use one of "
                f"{', '.join(f'`{name}`' for name in _QUERY_FUNCTIONS)}"
            )
        if not isinstance(value, str):
            raise TypeError(f"SearchQuery takes the search text as a str, got `{value!r}`")
        if config is not None:
            regconfig_sql(config)
        self.value = value
        self.config = config
        self.search_type = search_type

    def shape(self) -> tuple[Any, ...]:
        return ("SearchQuery", self.config, self.search_type)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.value)

    def compile(self, ctx: CompileContext) -> str:
        prefix = f"{regconfig_sql(self.config)}, " if self.config else ""
        return f"{_QUERY_FUNCTIONS[self.search_type]}({prefix}{ctx.param(str)})"

    def __repr__(self) -> str:
        return f"SearchQuery({self.value!r}, search_type={self.search_type!r})"


class SearchRank(Expression):
    """``ts_rank(vector, query)``: how well a row matches (higher is better).

    Args:
        vector: A ``SearchVector``, or the name of a ``SearchVectorField``.
        query: A ``SearchQuery`` (a plain string is a ``plain`` query).
        normalization: ``ts_rank``'s normalization bit mask (e.g. 32: rank/(rank+1)).
    """

    __slots__ = ("normalization", "query", "vector")

    def __init__(
        self,
        vector: SearchVector | str,
        query: SearchQuery | CombinedSearchQuery | str,
        *,
        normalization: int | None = None,
    ) -> None:
        self.vector = vector
        self.query: _TsQuery = query if isinstance(query, _TsQuery) else SearchQuery(query)
        if normalization is not None and not isinstance(normalization, int):
            raise TypeError(f"SearchRank normalization is an int mask, got `{normalization!r}`")
        self.normalization = normalization

    def shape(self) -> tuple[Any, ...]:
        vector = self.vector if isinstance(self.vector, str) else self.vector.shape()
        return ("SearchRank", vector, self.query.shape(), self.normalization)

    def flatten(self, out: list[Any]) -> None:
        self.query.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        if isinstance(self.vector, str):
            column, field = ctx.column(self.vector)
            if field is None or field.db_type().upper() != "TSVECTOR":
                raise ValueError(
                    f"SearchRank(`{self.vector}`, ...) needs a SearchVectorField; for a "
                    f'text field pass `SearchVector("{self.vector}")`'
                )
            vector = column
        else:
            vector = self.vector.compile(ctx)
        query = self.query.compile(ctx)
        normalization = f", {int(self.normalization)}" if self.normalization is not None else ""
        return f"ts_rank({vector}, {query}{normalization})"

    def __repr__(self) -> str:
        return f"SearchRank({self.vector!r}, {self.query!r})"


class TrigramSimilarity(Expression):
    """``similarity(field, text)`` from ``pg_trgm``: 0 (nothing shared) to 1 (equal).

    Example:
        ``Article.objects.annotate(sim=TrigramSimilarity("title", "pythn")).order_by("-sim")``
    """

    __slots__ = ("field", "value")
    _function = "similarity"

    def __init__(self, field: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{type(self).__name__} compares with a str, got `{value!r}`")
        self.field = field
        self.value = value

    def shape(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.field)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.value)

    def compile(self, ctx: CompileContext) -> str:
        return f"{self._function}({ctx.column(self.field)[0]}::text, {ctx.param(str)}::text)"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field!r}, {self.value!r})"


class TrigramDistance(TrigramSimilarity):
    """``1 - similarity(field, text)`` (pg_trgm's ``<->``): lower is closer."""

    __slots__ = ()

    def compile(self, ctx: CompileContext) -> str:
        return f"({ctx.column(self.field)[0]}::text <-> {ctx.param(str)}::text)"


class SearchVectorField(GeneratedField):
    """A stored ``tsvector`` column generated from text fields, with a GIN index.

    Searching it (``search__search="..."`` or ``SearchRank("search", query)``) reads
    the index instead of parsing every row's text.

    Args:
        fields: The text fields it indexes.
        config: The text search configuration (fixed: the column is computed with it).
        weights: Optional ``A``-``D`` label per field, in order.

    Example:
        ``search: str | None = SearchVectorField(["title", "body"], config="english")``
    """

    def __init__(
        self,
        fields: Sequence[str],
        *,
        config: str = "simple",
        weights: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        names = _field_names((fields,), "SearchVectorField")
        if weights is not None and (
            len(weights) != len(names) or not all(w in _WEIGHTS for w in weights)
        ):
            raise ValueError(
                "SearchVectorField weights: one of A, B, C, D per field, e.g. "
                f"`weights=[{', '.join(repr(w) for w in _WEIGHTS[: len(names)])}]`"
            )
        regconfig_sql(config)
        options.setdefault("index", True)
        super().__init__(expression="", db_type="TSVECTOR", **options)
        self.search_fields = names
        self.search_config = config
        self.weights = tuple(weights) if weights is not None else None
        self.index_method = "gin"

    def generation_sql(self) -> str:
        meta = self.model._meta
        parts = []
        for index, name in enumerate(self.search_fields):
            column = meta.get_field(name).column.replace('"', '""')
            part = f"to_tsvector({regconfig_sql(self.search_config)}, "
            part += f"COALESCE(\"{column}\"::text, ''))"
            if self.weights is not None:
                part = f"setweight({part}, '{self.weights[index]}')"
            parts.append(part)
        return " || ".join(parts)
