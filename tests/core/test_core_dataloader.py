"""DataLoader: batching per tick, order, dedup, cache, priming, errors and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from stellate.core.dataloader import DataLoader

AUTHORS = {1: "Le Guin", 2: "Herbert", 3: "Butler", 4: "Banks", 5: "Jemisin"}


class AuthorSource:
    """A batch function over a dict that records every call it gets."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay

    async def __call__(self, keys: list[int]) -> Sequence[str | None]:
        self.calls.append(list(keys))
        if self.delay:
            await asyncio.sleep(self.delay)
        return [AUTHORS.get(key) for key in keys]


async def test_concurrent_loads_share_one_batch() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    first, second = await asyncio.gather(loader.load(1), loader.load(2))
    assert (first, second) == ("Le Guin", "Herbert")
    assert source.calls == [[1, 2]]


async def test_sequential_awaits_are_separate_batches_and_cached() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    assert await loader.load(1) == "Le Guin"
    assert await loader.load(2) == "Herbert"
    assert await loader.load(1) == "Le Guin"
    assert source.calls == [[1], [2]]


async def test_load_many_keeps_order_and_fetches_duplicates_once() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    assert await loader.load_many([3, 1, 3, 9, 2]) == [
        "Butler",
        "Le Guin",
        "Butler",
        None,
        "Herbert",
    ]
    assert source.calls == [[3, 1, 9, 2]]
    assert await loader.load_many([]) == []


async def test_loads_queue_when_called_not_when_awaited() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    pending = [loader.load(key) for key in (5, 4)]
    assert await pending[1] == "Banks"
    assert await pending[0] == "Jemisin"
    assert source.calls == [[5, 4]]


async def test_nested_gathers_and_in_flight_keys_join_the_batch() -> None:
    source = AuthorSource(delay=0.01)
    loader = DataLoader(source)

    async def page() -> list[str | None]:
        return await loader.load_many([1, 2])

    many, three, one_again = await asyncio.gather(page(), loader.load(3), loader.load(1))
    assert many == ["Le Guin", "Herbert"]
    assert (three, one_again) == ("Butler", "Le Guin")
    assert source.calls == [[3, 1, 2]]
    # While a batch is in flight, a new load of one of its keys waits for it.
    first = loader.load(4)
    await asyncio.sleep(0.003)  # the batch for 4 is now running (it takes 0.01 s)
    assert source.calls == [[3, 1, 2], [4]]
    second = loader.load(4)
    assert list(await asyncio.gather(first, second)) == ["Banks", "Banks"]
    assert source.calls == [[3, 1, 2], [4]]


async def test_gathers_nested_three_deep_share_one_batch() -> None:
    source = AuthorSource()
    loader = DataLoader(source)

    async def leaf(key: int) -> str | None:
        return await loader.load(key)

    async def branch(keys: list[int]) -> list[str | None]:
        return list(await asyncio.gather(*(leaf(k) for k in keys)))

    async def root() -> list[list[str | None]]:
        return list(await asyncio.gather(branch([1, 2]), branch([3]), branch([4, 5])))

    assert await root() == [["Le Guin", "Herbert"], ["Butler"], ["Banks", "Jemisin"]]
    assert source.calls == [[1, 2, 3, 4, 5]]


async def test_enriching_fifty_rows_takes_one_call_per_loader() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    rows = [{"id": n, "author_id": n % 5 + 1} for n in range(50)]
    names = await loader.load_many([row["author_id"] for row in rows])
    assert len(names) == 50
    assert names[:6] == ["Le Guin", "Herbert", "Butler", "Banks", "Jemisin", "Le Guin"]
    assert source.calls == [[1, 2, 3, 4, 5]]


async def test_max_batch_size_splits_batches() -> None:
    source = AuthorSource()
    loader = DataLoader(source, max_batch_size=2)
    assert await loader.load_many([1, 2, 3, 4, 5]) == [AUTHORS[k] for k in range(1, 6)]
    assert source.calls == [[1, 2], [3, 4], [5]]


async def test_wrong_length_fails_every_waiter_with_a_clear_error() -> None:
    async def short_batch(keys: list[int]) -> list[str]:
        return ["only one"]

    loader = DataLoader(short_batch)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    for result in results:
        assert isinstance(result, ValueError)
        assert "`test_wrong_length_fails_every_waiter_with_a_clear_error.<locals>.short_batch`" in (
            str(result)
        )
        assert "returned 1 values for 2 keys [1, 2]" in str(result)
        assert "one value per key, in key order" in str(result)


async def test_mapping_result_is_refused() -> None:
    async def by_id(keys: list[int]) -> dict[int, str]:
        return {k: str(k) for k in keys}

    loader: DataLoader[int, str] = DataLoader(by_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"returned `dict`; it must return a list"):
        await loader.load(1)


async def test_batch_exception_reaches_every_waiter_and_keys_are_retried() -> None:
    attempts: list[list[int]] = []

    async def flaky(keys: list[int]) -> list[str]:
        attempts.append(keys)
        if len(attempts) == 1:
            raise ConnectionError("database went away")
        return [f"v{k}" for k in keys]

    loader = DataLoader(flaky)
    results = await asyncio.gather(
        loader.load(1), loader.load(2), loader.load(1), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert len(results) == 3
    # Failures are not cached: the next load asks again.
    assert await loader.load_many([1, 2]) == ["v1", "v2"]
    assert attempts == [[1, 2], [1, 2]]


async def test_exception_value_fails_only_its_key() -> None:
    async def partial(keys: list[int]) -> list[str | Exception]:
        return [LookupError(f"no author {k}") if k == 2 else f"v{k}" for k in keys]

    loader = DataLoader(partial)
    one, two = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert one == "v1"
    assert isinstance(two, LookupError)
    assert str(two) == "no author 2"


async def test_prime_and_clear() -> None:
    source = AuthorSource()
    loader = DataLoader(source)
    loader.prime(1, "primed")
    assert await loader.load(1) == "primed"
    assert source.calls == []
    loader.prime(1, "ignored: already cached")
    assert await loader.load(1) == "primed"
    loader.clear(1)
    assert await loader.load(1) == "Le Guin"
    loader.clear(1)
    loader.prime(1, "replaced")
    assert await loader.load(1) == "replaced"
    await loader.load(2)
    loader.clear_all()
    assert await loader.load_many([1, 2]) == ["Le Guin", "Herbert"]
    assert source.calls == [[1], [2], [1, 2]]
    loader.clear(99)  # clearing an unknown key is fine


async def test_cancelling_one_waiter_leaves_the_others() -> None:
    source = AuthorSource(delay=0.05)
    loader = DataLoader(source)
    impatient = asyncio.ensure_future(loader.load(1))
    patient = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == "Le Guin"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await loader.load(1) == "Le Guin"
    assert source.calls == [[1]]


async def test_plain_batch_function_is_accepted() -> None:
    def upper(keys: list[str]) -> list[str]:
        return [k.upper() for k in keys]

    loader: DataLoader[str, str] = DataLoader(upper)  # type: ignore[arg-type]
    assert await loader.load_many(["a", "b"]) == ["A", "B"]


async def test_unhashable_key_is_refused() -> None:
    loader = DataLoader(AuthorSource())
    with pytest.raises(TypeError, match=r"keys must be hashable, got `\[1\]` \(`list`\)"):
        loader.load([1])  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_bad_max_batch_size_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match=r"`max_batch_size` must be a positive int"):
        DataLoader(AuthorSource(), max_batch_size=size)  # type: ignore[arg-type]


def test_batch_fn_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"`batch_fn` must be an async function"):
        DataLoader("authors")  # type: ignore[arg-type]
