"""PostgreSQL-specific features in one import: search, trigram, vectors, server cursors.

``from stellate.orm.postgres import SearchVector, SearchQuery, SearchRank,
TrigramSimilarity`` mirrors the reference guides; the classes live in
:mod:`stellate.orm.search` and :mod:`stellate.orm.vector`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg

from stellate.orm.compiler import compile_select
from stellate.orm.database import get_db
from stellate.orm.exceptions import OrmError
from stellate.orm.search import (
    CombinedSearchQuery,
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorField,
    TrigramDistance,
    TrigramSimilarity,
)
from stellate.orm.transactions import Transaction
from stellate.orm.vector import CosineDistance, InnerProduct, L2Distance, VectorField

if TYPE_CHECKING:
    from stellate.orm._context import Query
    from stellate.orm.database import Database
    from stellate.orm.models import Model

__all__ = [
    "CombinedSearchQuery",
    "CosineDistance",
    "ExtensionMissingError",
    "InnerProduct",
    "L2Distance",
    "SearchQuery",
    "SearchRank",
    "SearchVector",
    "SearchVectorField",
    "ServerCursor",
    "TrigramDistance",
    "TrigramSimilarity",
    "VectorField",
    "extension_error",
]

M = TypeVar("M")

# What each extension's missing function/operator/type looks like in PostgreSQL's error.
_EXTENSION_SIGNS = {
    "pg_trgm": ("similarity(", "text % ", "text <-> ", "gin_trgm_ops", "gist_trgm_ops"),
    "vector": ('type "vector"', "vector <=>", "vector <->", "vector <#>", "vector_cosine_ops"),
}
_INSTALL_HINTS = {
    "pg_trgm": (
        "it ships with PostgreSQL's contrib package (the embedded PostgreSQL has no "
        "contrib, so trigram search needs a server PostgreSQL)"
    ),
    "vector": (
        "install pgvector on the server (e.g. `apt-get install postgresql-16-pgvector`) "
        "or use the embedded PostgreSQL, which ships it"
    ),
}
_cursor_numbers = itertools.count(1)


class ExtensionMissingError(OrmError):
    """A query or schema needs a PostgreSQL extension the database does not have."""


def extension_error(exc: Exception, model_name: str) -> ExtensionMissingError | None:
    """An error naming the extension and the fix, when ``exc`` comes from a missing one.

    Used by the query runner on ``undefined function/operator/object`` errors.
    """
    if not isinstance(
        exc,
        asyncpg.UndefinedFunctionError
        | asyncpg.UndefinedObjectError
        | asyncpg.FeatureNotSupportedError,
    ):
        return None
    message = str(exc)
    for extension, signs in _EXTENSION_SIGNS.items():
        if any(sign in message for sign in signs):
            return ExtensionMissingError(
                f"{message} (a `{model_name}` query): the PostgreSQL extension `{extension}` "
                f"is not enabled in this database. Enable it with `CREATE EXTENSION IF NOT "
                f"EXISTS {extension}` (migrations do this for models that use it); "
                f"{_INSTALL_HINTS[extension]}"
            )
    return None


class ServerCursor(Generic[M]):
    """Rows of a queryset read through a PostgreSQL ``DECLARE ... CURSOR``.

    The server keeps the result; each ``FETCH`` brings ``chunk_size`` rows, so an
    export of millions of rows holds one chunk in memory. A cursor lives in a
    transaction: the current one when there is one, else its own (committed when the
    rows run out or the cursor is closed). Use it through
    ``qs.iterator(server_side=True, chunk_size=...)``. Leaving that loop early ends
    its own transaction when the loop's iterator is collected; inside the caller's
    transaction the cursor then lives until that transaction ends. Wrap the loop's
    iterator in ``contextlib.aclosing`` to close the cursor at once.
    """

    def __init__(self, model: type[Model], query: Query, chunk_size: int) -> None:
        self.model = model
        self.query = query
        self.chunk_size = chunk_size
        self.name = f"stellate_cursor_{next(_cursor_numbers)}"
        self._db: Database = get_db(model._meta.database)
        self._own: Transaction | None = None
        self._outer: Transaction | None = None
        self._task: asyncio.Task[Any] | None = None
        self._open = False

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        own = self._own
        if own is None:
            return await getattr(self._db, method)(sql, *args)
        # Our own transaction is not made current for the caller's other queries (they
        # keep their connections); it is current only while its own statements run.
        tx_var = self._db._state.tx_var
        token = tx_var.set(own)
        try:
            return await getattr(self._db, method)(sql, *args)
        finally:
            tx_var.reset(token)

    def _translated(self, exc: Exception) -> Exception:
        from stellate.orm import _execute

        error = extension_error(exc, self.model.__name__)
        if error is not None:
            return error
        if isinstance(exc, _execute._TRANSLATED):
            return _execute._translate(exc, self.model, self._plan.sql)
        return exc

    async def open(self) -> None:
        """DECLARE the cursor (starting a transaction when none is open)."""
        if self.query.prefetch:
            raise ValueError(
                "iterator(server_side=True) does not run prefetch_related(); drop it and "
                "load the related rows per chunk, or iterate without server_side"
            )
        plan, params = compile_select(self.query)
        self._plan = plan
        self._outer = self._db.current_transaction
        self._task = asyncio.current_task()
        if self._outer is None:
            self._own = Transaction(self._db)
            await self._own.start(bind=False)
        try:
            await self._run(
                "execute", f"DECLARE {self.name} NO SCROLL CURSOR FOR {plan.sql}", *params
            )
        except Exception as exc:
            await self._finish(commit=False)
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        self._open = True

    async def fetch_chunk(self) -> list[Any]:
        """The next ``chunk_size`` rows as results (``[]`` at the end)."""
        from stellate.orm._hydrate import hydrate

        if not self._open:
            return []
        try:
            records = await self._run("fetch", f"FETCH {self.chunk_size} FROM {self.name}")
        except Exception as exc:
            # A row that fails to compute (division by zero ...) fails its FETCH; the
            # transaction is aborted, so the cursor goes with it.
            self._open = False
            await self._finish(commit=False)
            error = self._translated(exc)
            if error is exc:
                raise
            raise error from exc
        if len(records) < self.chunk_size:
            await self.close()
        return hydrate(self._plan, records) if records else []

    async def close(self) -> None:
        """CLOSE the cursor and end its own transaction (idempotent)."""
        if not self._open:
            return
        self._open = False
        outer = self._outer
        try:
            # In the caller's transaction, only the task that opened the cursor closes it:
            # a loop left with `break` is finalised by another task, whose CLOSE could
            # collide with the caller's next query on the same connection. Such a cursor
            # ends with the transaction instead.
            if outer is None or (outer.state == "open" and asyncio.current_task() is self._task):
                await self._run("execute", f"CLOSE {self.name}")
        finally:
            await self._finish(commit=True)

    async def _finish(self, *, commit: bool) -> None:
        own, self._own = self._own, None
        if own is not None and own.state == "open":
            await own.finish(commit=commit)

    async def rows(self) -> AsyncGenerator[M, None]:
        """Every row, chunk by chunk; the cursor is closed however the loop ends."""
        await self.open()
        try:
            while True:
                chunk = await self.fetch_chunk()
                for row in chunk:
                    yield row
                if not self._open:
                    return
        finally:
            if self._open:
                await self.close()
