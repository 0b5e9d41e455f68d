"""``DataLoader``: batch and deduplicate async lookups by key.

Loads requested in the same event-loop tick are collected and handed to one
call of the batch function; the results are cached per loader instance, so
create one loader per request (a loader shared across requests would serve
stale data).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["BatchFunction", "DataLoader"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Loads keep joining the pending batch while each loop tick adds keys (tasks
# started by a gather run one tick later, their own gathers one more); the
# batch goes out after the first tick that adds none, or after this many.
_MAX_WAIT_TICKS = 64

BatchFunction = Callable[[list[K]], Awaitable[Sequence[V]]]
"""``async def batch(keys: list[K]) -> Sequence[V]``: one value per key, in key order."""


class DataLoader(Generic[K, V]):
    """Collect ``load(key)`` calls into batched calls of ``batch_fn``.

    Args:
        batch_fn: ``async def batch_fn(keys: list[K]) -> Sequence[V]``. It gets
            unique keys in first-requested order and must return one value per
            key in the same order (map missing keys to ``None``). A value that
            is an ``Exception`` instance fails only the load of its key.
        max_batch_size: Split larger batches into calls of at most this many
            keys (e.g. to stay under a query's parameter limit).

    Raises:
        TypeError: If ``batch_fn`` is not callable.
        ValueError: If ``max_batch_size`` is not a positive integer.

    Example:
        ```python
        async def batch_authors(keys: list[int]) -> list[Author | None]:
            authors = await Author.objects.filter(id__in=keys).all()
            by_id = {a.id: a for a in authors}
            return [by_id.get(k) for k in keys]


        loader = DataLoader(batch_fn=batch_authors)  # one per request
        first, second = await asyncio.gather(loader.load(1), loader.load(2))  # one call
        ```
    """

    __slots__ = ("_batch_fn", "_cache", "_max_batch_size", "_pending", "_tasks")

    def __init__(self, batch_fn: BatchFunction[K, V], *, max_batch_size: int | None = None) -> None:
        if not callable(batch_fn):
            raise TypeError(f"DataLoader `batch_fn` must be an async function, got `{batch_fn!r}`")
        if max_batch_size is not None and (
            isinstance(max_batch_size, bool)
            or not isinstance(max_batch_size, int)
            or max_batch_size < 1
        ):
            raise ValueError(
                f"DataLoader `max_batch_size` must be a positive int or None, got "
                f"`{max_batch_size!r}`"
            )
        self._batch_fn = batch_fn
        self._max_batch_size = max_batch_size
        # Futures, not values: a second load of a key still in flight joins the
        # first instead of being batched again.
        self._cache: dict[K, asyncio.Future[V]] = {}
        self._pending: list[tuple[K, asyncio.Future[V]]] = []
        # The event loop holds tasks weakly; keep running batches alive here.
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self, key: K) -> asyncio.Future[V]:
        """Request the value of one key; await the result.

        The key is queued when ``load`` is called (not when it is awaited).
        The batch goes out once a loop tick passes without new keys, so loads
        from the tasks of an ``asyncio.gather`` (and gathers nested in them)
        share one batch, while sequential ``await``s do not.

        Args:
            key: A hashable key.

        Returns:
            An awaitable for the value. Cancelling it does not cancel the
            batch other loads wait on.

        Raises:
            TypeError: If ``key`` is not hashable.
        """
        return asyncio.shield(self._future(key))

    def load_many(self, keys: Iterable[K]) -> asyncio.Future[list[V]]:
        """Request several keys at once; await a list of values in key order.

        All keys go into one batch (duplicates are fetched once).

        Raises:
            TypeError: If a key is not hashable.
        """
        futures = [self._future(key) for key in keys]
        return asyncio.gather(*(asyncio.shield(future) for future in futures))

    def prime(self, key: K, value: V) -> None:
        """Put a known value in the cache (no-op if the key is cached or loading).

        To replace a cached value, ``clear(key)`` first.
        """
        if self._hashable(key) not in self._cache:
            future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
            future.set_result(value)
            self._cache[key] = future

    def clear(self, key: K) -> None:
        """Forget the cached value of ``key``; the next load fetches it again."""
        self._cache.pop(self._hashable(key), None)

    def clear_all(self) -> None:
        """Forget every cached value."""
        self._cache.clear()

    def _hashable(self, key: K) -> K:
        try:
            hash(key)
        except TypeError:
            raise TypeError(
                f"DataLoader keys must be hashable, got `{key!r}` "
                f"(`{type(key).__name__}`): use an id, a tuple or a frozenset"
            ) from None
        return key

    def _future(self, key: K) -> asyncio.Future[V]:
        cached = self._cache.get(self._hashable(key))
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._cache[key] = future
        if not self._pending:
            loop.call_soon(self._dispatch_when_quiet, 0, 0)
        self._pending.append((key, future))
        return future

    def _dispatch_when_quiet(self, seen: int, ticks: int) -> None:
        if len(self._pending) != seen and ticks < _MAX_WAIT_TICKS:
            asyncio.get_running_loop().call_soon(
                self._dispatch_when_quiet, len(self._pending), ticks + 1
            )
            return
        pending, self._pending = self._pending, []
        size = self._max_batch_size or len(pending)
        for start in range(0, len(pending), size):
            task = asyncio.get_running_loop().create_task(
                self._run_batch(pending[start : start + size])
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        keys = [key for key, _ in batch]
        try:
            result: Any = self._batch_fn(keys)
            if inspect.isawaitable(result):
                result = await result
            values = self._check_values(keys, result)
        except asyncio.CancelledError:
            self._fail(batch, None)
            raise
        except Exception as exc:
            self._fail(batch, exc)
            return
        for (key, future), value in zip(batch, values, strict=True):
            if future.done():
                continue
            if isinstance(value, Exception):
                self._forget(key, future)
                future.set_exception(value)
            else:
                future.set_result(value)

    def _check_values(self, keys: list[K], values: Any) -> Sequence[Any]:
        name = getattr(self._batch_fn, "__qualname__", repr(self._batch_fn))
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise TypeError(
                f"DataLoader batch function `{name}` returned `{type(values).__name__}`; it "
                "must return a list with one value per key, in key order "
                "(e.g. `[by_id.get(k) for k in keys]`)"
            )
        if len(values) != len(keys):
            raise ValueError(
                f"DataLoader batch function `{name}` returned {len(values)} values for "
                f"{len(keys)} keys {keys!r}; it must return one value per key, in key order "
                "(map missing keys to None: `[by_id.get(k) for k in keys]`)"
            )
        return values

    def _fail(self, batch: list[tuple[K, asyncio.Future[V]]], exc: BaseException | None) -> None:
        # Failed keys leave the cache so that a later load retries them.
        for key, future in batch:
            self._forget(key, future)
            if future.done():
                continue
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)

    def _forget(self, key: K, future: asyncio.Future[V]) -> None:
        if self._cache.get(key) is future:
            del self._cache[key]
