"""Signals: decoupled notifications with async (or plain) receivers.

A ``Signal`` is an object users create (usually at module level, e.g.
``order_paid = Signal("order_paid")``); there is no registry of signals.
Receivers are called in the order they were connected, one after the other,
because receivers of "before" signals such as ``pre_save`` change the
object they receive and the next receiver must see that change.

References are strong by default. Weak references (Django's default) drop a
receiver as soon as nothing else holds it, which silently disconnects
closures and functions defined inside ``setup()`` or a test; here a receiver
stays until ``disconnect`` is called. Pass ``weak=True`` to ``connect`` for
receivers owned by an object that may go away (bound methods are then held
with ``weakref.WeakMethod``).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, overload

__all__ = ["Receiver", "Signal"]

Receiver = Callable[..., Any]
"""A receiver: ``(sender, **kwargs)``, returning a value or an awaitable."""

R = TypeVar("R", bound=Receiver)

_ANY_SENDER = object()


def _receiver_id(receiver: Receiver) -> Hashable:
    # A bound method is a new object on every attribute access, so identify it
    # by its instance and function instead.
    self = getattr(receiver, "__self__", None)
    func = getattr(receiver, "__func__", None)
    if self is not None and func is not None:
        return (id(self), id(func))
    return id(receiver)


def _describe(receiver: Receiver) -> str:
    return getattr(receiver, "__qualname__", None) or repr(receiver)


class _Connection:
    __slots__ = ("key", "ref", "sender", "strong")

    def __init__(
        self,
        key: Hashable,
        receiver: Receiver,
        sender: object,
        weak: bool,
        on_dead: Callable[[Any], None],
    ) -> None:
        self.key = key
        self.sender = sender
        self.strong: Receiver | None
        self.ref: Callable[[], Receiver | None] | None
        if not weak:
            self.strong, self.ref = receiver, None
        elif inspect.ismethod(receiver):
            self.strong, self.ref = None, weakref.WeakMethod(receiver, on_dead)
        else:
            self.strong, self.ref = None, weakref.ref(receiver, on_dead)

    def receiver(self) -> Receiver | None:
        if self.ref is None:
            return self.strong
        return self.ref()


class Signal:
    """A named event that receivers subscribe to.

    Args:
        name: Shown in reprs and error messages.

    Example:
        ```python
        order_paid = Signal("order_paid")


        @order_paid.connect
        async def send_receipt(sender, order, **kwargs):
            await mail_receipt(order)


        await order_paid.send(Order, order=order)
        ```
    """

    __slots__ = ("_connections", "name")

    def __init__(self, name: str = "signal") -> None:
        self.name = name
        self._connections: list[_Connection] = []

    def __repr__(self) -> str:
        return f"<Signal {self.name!r} with {len(self._connections)} receiver(s)>"

    @overload
    def connect(
        self,
        receiver: None = None,
        /,
        *,
        sender: object = ...,
        weak: bool = ...,
        dispatch_uid: Hashable | None = ...,
    ) -> Callable[[R], R]: ...

    @overload
    def connect(
        self,
        receiver: R,
        /,
        *,
        sender: object = ...,
        weak: bool = ...,
        dispatch_uid: Hashable | None = ...,
    ) -> R: ...

    def connect(
        self,
        receiver: R | None = None,
        /,
        *,
        sender: object = _ANY_SENDER,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
    ) -> R | Callable[[R], R]:
        """Connect a receiver; usable as ``@signal.connect`` or ``@signal.connect(sender=X)``.

        Connecting the same receiver (or ``dispatch_uid``) for the same sender
        twice keeps one connection, so re-running setup code does not double
        every notification.

        Args:
            receiver: A callable ``(sender, **kwargs)``; ``async def`` or plain.
            sender: Only receive sends from this sender (compared by identity).
            weak: Hold the receiver by weak reference (see the module docs).
            dispatch_uid: An identifier to deduplicate by instead of the receiver.

        Returns:
            The receiver (or, without one, a decorator that connects and returns it).

        Raises:
            TypeError: If the receiver is not callable or takes no ``**kwargs``.
        """
        if receiver is None:

            def decorator(func: R) -> R:
                self._connect(func, sender, weak, dispatch_uid)
                return func

            return decorator
        self._connect(receiver, sender, weak, dispatch_uid)
        return receiver

    def _connect(
        self, receiver: Receiver, sender: object, weak: bool, dispatch_uid: Hashable | None
    ) -> None:
        if not callable(receiver):
            raise TypeError(
                f"Signal `{self.name}` receivers must be callable, got `{receiver!r}`: "
                "pass a function taking `(sender, **kwargs)`"
            )
        _check_accepts_kwargs(self.name, receiver)
        key = dispatch_uid if dispatch_uid is not None else _receiver_id(receiver)
        for connection in self._connections:
            if connection.key == key and connection.sender is sender:
                return

        def on_dead(_: Any) -> None:
            self._connections = [c for c in self._connections if c.receiver() is not None]

        self._connections.append(_Connection(key, receiver, sender, weak, on_dead))

    def disconnect(
        self,
        receiver: Receiver | None = None,
        *,
        sender: object = _ANY_SENDER,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Disconnect a receiver (or ``dispatch_uid``) connected for ``sender``.

        Args:
            receiver: The receiver given to ``connect``.
            sender: The sender it was connected for (omit if it was omitted).
            dispatch_uid: The ``dispatch_uid`` it was connected with, instead
                of the receiver.

        Returns:
            Whether a connection was removed.

        Raises:
            TypeError: If neither ``receiver`` nor ``dispatch_uid`` is given.
        """
        if dispatch_uid is not None:
            key = dispatch_uid
        elif receiver is not None:
            key = _receiver_id(receiver)
        else:
            raise TypeError(f"Signal `{self.name}`.disconnect() needs a receiver or dispatch_uid")
        before = len(self._connections)
        self._connections = [
            c for c in self._connections if not (c.key == key and c.sender is sender)
        ]
        return len(self._connections) != before

    def has_receivers(self, sender: object = _ANY_SENDER) -> bool:
        """Tell whether a send from ``sender`` would reach any receiver.

        Callers use it to skip building expensive arguments when nobody listens.
        """
        return any(
            c.receiver() is not None and (c.sender is _ANY_SENDER or c.sender is sender)
            for c in self._connections
        )

    def receivers(self, sender: object = _ANY_SENDER) -> list[Receiver]:
        """The live receivers a send from ``sender`` reaches, in call order."""
        live: list[Receiver] = []
        for connection in self._connections:
            if connection.sender is not _ANY_SENDER and connection.sender is not sender:
                continue
            receiver = connection.receiver()
            if receiver is not None:
                live.append(receiver)
        return live

    async def send(self, sender: object, /, **kwargs: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver with ``(sender, **kwargs)``, awaiting async ones in turn.

        The first exception a receiver raises stops the send and propagates
        (the remaining receivers are not called); use ``send_robust`` to call
        them all regardless.

        Args:
            sender: Who sends (for model signals, the model class).
            **kwargs: The signal's arguments.

        Returns:
            ``(receiver, result)`` pairs in call order.
        """
        # A snapshot: receivers may connect or disconnect while we await.
        results: list[tuple[Receiver, Any]] = []
        for receiver in self.receivers(sender):
            result = receiver(sender, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            results.append((receiver, result))
        return results

    async def send_robust(
        self, sender: object, /, **kwargs: Any
    ) -> list[tuple[Receiver, Any | Exception]]:
        """Like ``send``, but call every receiver even when some raise.

        Returns:
            ``(receiver, result_or_exception)`` pairs in call order.
        """
        results: list[tuple[Receiver, Any | Exception]] = []
        for receiver in self.receivers(sender):
            try:
                result = receiver(sender, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                results.append((receiver, exc))
            else:
                results.append((receiver, result))
        return results


def _check_accepts_kwargs(signal: str, receiver: Receiver) -> None:
    try:
        parameters = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing to check
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        raise TypeError(
            f"Receiver `{_describe(receiver)}` of signal `{signal}` must accept **kwargs: "
            f"write `def {getattr(receiver, '__name__', 'receiver')}(sender, ..., **kwargs)` "
            "so that new signal arguments do not break it"
        )
