"""Signal: async and plain receivers, sender filters, dedup, disconnect, weak refs, errors."""

from __future__ import annotations

import asyncio
import functools
import gc
from typing import Any

import pytest

from stellate.core.signals import Signal


class Book:
    pass


class Author:
    pass


async def test_decorator_connects_async_receiver_and_send_returns_results() -> None:
    saved = Signal("post_save")
    calls: list[tuple[object, dict[str, Any]]] = []

    @saved.connect
    async def on_save(sender: object, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        calls.append((sender, kwargs))
        return "async-result"

    @saved.connect
    def on_save_sync(sender: object, **kwargs: Any) -> int:
        return 42

    book = Book()
    results = await saved.send(Book, instance=book, created=True)
    assert calls == [(Book, {"instance": book, "created": True})]
    assert results == [(on_save, "async-result"), (on_save_sync, 42)]
    # The decorator hands back the function itself.
    assert await on_save(Book) == "async-result"


async def test_receivers_run_in_order_one_after_another() -> None:
    pre_save = Signal("pre_save")
    events: list[str] = []

    @pre_save.connect
    async def first(sender: object, instance: dict[str, Any], **kwargs: Any) -> None:
        events.append("first:start")
        await asyncio.sleep(0.01)
        instance["slug"] = instance["title"].lower()
        events.append("first:end")

    @pre_save.connect
    async def second(sender: object, instance: dict[str, Any], **kwargs: Any) -> None:
        events.append(f"second sees slug={instance.get('slug')}")

    instance = {"title": "Dune"}
    await pre_save.send(Book, instance=instance)
    assert events == ["first:start", "first:end", "second sees slug=dune"]


async def test_plain_receiver_returning_an_awaitable_is_awaited() -> None:
    signal = Signal("s")

    async def handler(sender: object, factor: int, **kwargs: Any) -> int:
        return factor * 2

    receiver = functools.partial(handler)
    signal.connect(receiver)
    assert await signal.send(None, factor=21) == [(receiver, 42)]


async def test_sender_filter() -> None:
    signal = Signal("post_delete")
    seen: list[str] = []

    @signal.connect(sender=Book)
    async def only_books(sender: object, **kwargs: Any) -> None:
        seen.append("book")

    @signal.connect()
    def everyone(sender: object, **kwargs: Any) -> None:
        seen.append("any")

    await signal.send(Author)
    assert seen == ["any"]
    await signal.send(Book)
    assert seen == ["any", "book", "any"]
    assert signal.has_receivers(Book)
    assert signal.receivers(Author) == [everyone]


async def test_connecting_twice_keeps_one_connection() -> None:
    signal = Signal("s")
    count = 0

    def receiver(sender: object, **kwargs: Any) -> None:
        nonlocal count
        count += 1

    signal.connect(receiver)
    signal.connect(receiver)
    await signal.send(None)
    assert count == 1
    # For another sender it is a different connection.
    signal.connect(receiver, sender=Book)
    await signal.send(Book)
    assert count == 3


async def test_dispatch_uid_deduplicates_distinct_functions() -> None:
    signal = Signal("s")
    calls: list[int] = []

    def make(n: int) -> Any:
        def receiver(sender: object, **kwargs: Any) -> None:
            calls.append(n)

        return receiver

    signal.connect(make(1), dispatch_uid="audit")
    signal.connect(make(2), dispatch_uid="audit")
    await signal.send(None)
    assert calls == [1]
    assert signal.disconnect(dispatch_uid="audit") is True
    await signal.send(None)
    assert calls == [1]


async def test_disconnect() -> None:
    signal = Signal("s")
    calls: list[str] = []

    async def receiver(sender: object, **kwargs: Any) -> None:
        calls.append("r")

    signal.connect(receiver)
    signal.connect(receiver, sender=Book)
    assert signal.disconnect(receiver) is True
    assert signal.disconnect(receiver) is False
    await signal.send(Author)
    assert calls == []
    await signal.send(Book)
    assert calls == ["r"]
    assert signal.disconnect(receiver, sender=Book) is True
    assert not signal.has_receivers(Book)
    with pytest.raises(TypeError, match=r"needs a receiver or dispatch_uid"):
        signal.disconnect()


class Listener:
    def __init__(self) -> None:
        self.calls = 0

    async def on_event(self, sender: object, **kwargs: Any) -> None:
        self.calls += 1


async def test_bound_methods_are_one_receiver_across_accesses() -> None:
    signal = Signal("s")
    listener = Listener()
    signal.connect(listener.on_event)
    signal.connect(listener.on_event)
    await signal.send(None)
    assert listener.calls == 1
    assert signal.disconnect(listener.on_event) is True
    assert not signal.has_receivers()


async def test_strong_references_keep_local_receivers_alive() -> None:
    signal = Signal("s")
    calls: list[str] = []

    def setup() -> None:
        @signal.connect
        def local(sender: object, **kwargs: Any) -> None:
            calls.append("local")

    setup()
    gc.collect()
    await signal.send(None)
    assert calls == ["local"]


async def test_weak_receivers_go_away_with_their_owner() -> None:
    signal = Signal("s")
    calls: list[str] = []

    def function(sender: object, **kwargs: Any) -> None:
        calls.append("function")

    listener = Listener()
    signal.connect(function, weak=True)
    signal.connect(listener.on_event, weak=True)
    await signal.send(None)
    assert calls == ["function"]
    assert listener.calls == 1

    del function, listener
    gc.collect()
    assert not signal.has_receivers()
    assert await signal.send(None) == []
    assert calls == ["function"]
    assert "0 receiver(s)" in repr(signal)


async def test_exception_stops_send_and_send_robust_continues() -> None:
    signal = Signal("s")
    calls: list[str] = []

    @signal.connect
    async def broken(sender: object, **kwargs: Any) -> None:
        raise RuntimeError("receiver failed")

    @signal.connect
    def after(sender: object, **kwargs: Any) -> str:
        calls.append("after")
        return "ok"

    with pytest.raises(RuntimeError, match="receiver failed"):
        await signal.send(None)
    assert calls == []

    results = await signal.send_robust(None)
    assert calls == ["after"]
    assert results[0][0] is broken
    assert isinstance(results[0][1], RuntimeError)
    assert results[1] == (after, "ok")


async def test_connect_during_send_takes_effect_on_the_next_send() -> None:
    signal = Signal("s")
    calls: list[str] = []

    def late(sender: object, **kwargs: Any) -> None:
        calls.append("late")

    @signal.connect
    def first(sender: object, **kwargs: Any) -> None:
        calls.append("first")
        signal.connect(late)

    await signal.send(None)
    assert calls == ["first"]
    await signal.send(None)
    assert calls == ["first", "first", "late"]


def test_receiver_without_kwargs_is_refused() -> None:
    signal = Signal("pre_save")

    def strict(sender: object, instance: object) -> None:
        return None

    with pytest.raises(TypeError, match=r"`.*strict` of signal `pre_save` must accept \*\*kwargs"):
        signal.connect(strict)


def test_non_callable_receiver_is_refused() -> None:
    signal = Signal("pre_save")
    with pytest.raises(
        TypeError, match=r"receivers must be callable, got `<.*Book object.*`: pass a function"
    ):
        signal.connect(Book())  # type: ignore[call-overload]


async def test_signals_are_independent() -> None:
    first, second = Signal("a"), Signal("b")
    seen: list[str] = []

    @first.connect
    def on_first(sender: object, **kwargs: Any) -> None:
        seen.append("a")

    assert await second.send(None) == []
    assert not second.has_receivers()
    await first.send(None)
    assert seen == ["a"]
