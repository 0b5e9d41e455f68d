"""Request body limits: a size cap (413) and a deadline for receiving the body (408).

:class:`BodyLimitMiddleware` is pure ASGI and sits just inside the server-error
middleware of every :class:`~stellate.core.App`, configured by
``STELLATE_MAX_BODY_SIZE`` and ``STELLATE_BODY_TIMEOUT`` (see
:class:`~stellate.core.CoreSettings`). A declared ``Content-Length`` over the cap is
answered at once, before the app runs and before the client uploads anything; a
chunked or under-declared body is counted as the app reads it, and the read that
crosses the cap raises an ``HTTPException(413)``, rendered by the app's handlers
(problem details under stellate-rest) like any other HTTP error. A client that
trickles its body is cut off the same way with a 408 once the deadline passes, so
it holds one connection for a bounded time and never the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from stellate.core.exceptions import HTTPException
from stellate.core.responses import encode_json

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "BodyTimeoutError", "BodyTooLargeError"]


class BodyTooLargeError(HTTPException):
    """413: the request body is larger than ``STELLATE_MAX_BODY_SIZE``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request body is larger than the limit of {limit} bytes: send less, or "
            "raise STELLATE_MAX_BODY_SIZE",
        )


class BodyTimeoutError(HTTPException):
    """408: the request body did not arrive within ``STELLATE_BODY_TIMEOUT``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"The request body did not arrive within {seconds:g}s: send it faster, or "
            "raise STELLATE_BODY_TIMEOUT",
        )


class BodyLimitMiddleware:
    """Caps the size of HTTP request bodies and the time taken to receive them.

    Args:
        app: the ASGI app to wrap.
        max_size: largest body in bytes (``0``: no limit).
        timeout: seconds allowed to receive the whole body, counted from the app's
            first read (``0``: no limit).
    """

    __slots__ = ("app", "max_size", "timeout")

    def __init__(self, app: ASGIApp, *, max_size: int, timeout: float) -> None:
        self.app = app
        self.max_size = max_size
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_size = self.max_size
        if max_size:
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > max_size:
                        await _reject(send, BodyTooLargeError(max_size))
                        return
                    break
        await self.app(scope, _LimitedReceive(receive, max_size, self.timeout), send)


class _LimitedReceive:
    """The ``receive`` callable handed to the app: counts body bytes, enforces the deadline."""

    __slots__ = ("complete", "deadline", "max_size", "receive", "received", "timeout")

    def __init__(self, receive: Receive, max_size: int, timeout: float) -> None:
        self.receive = receive
        self.max_size = max_size
        self.timeout = timeout
        self.received = 0
        self.deadline: float | None = None
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:
            # After the body, receive() only waits for the disconnect (a streaming
            # response listens for it as long as it streams): no deadline applies.
            return await self.receive()
        if not self.timeout:
            message = await self.receive()
        else:
            if self.deadline is None:
                self.deadline = time.monotonic() + self.timeout
            remaining = self.deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    message = await self.receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout) from None
        if message["type"] == "http.request":
            self.complete = not message.get("more_body", False)
            if self.max_size:
                self.received += len(message.get("body", b""))
                if self.received > self.max_size:
                    raise BodyTooLargeError(self.max_size)
        return message


async def _reject(send: Send, error: HTTPException) -> None:
    body = encode_json({"detail": error.detail})
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
