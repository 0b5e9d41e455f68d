"""stellate-plugin-hello: an example third-party Stellate plugin.

Enabled with ``App(plugins=["hello"])`` or ``STELLATE_PLUGINS=hello``, it adds:

- ``GET /hello``: a greeting, and whether the startup hook ran;
- a response header ``X-Hello`` on every HTTP response (pure-ASGI middleware);
- a startup hook that marks the plugin as started;
- a CLI command: ``stellate --app myapp:app hello [NAME]``;
- an app extension ``app.hello`` holding its state.

Its settings are read from ``STELLATE_HELLO_*`` variables (``STELLATE_HELLO_GREETING``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import click
import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stellate.core import Plugin, Request

if TYPE_CHECKING:
    from stellate.core import App

__all__ = ["HelloHeaderMiddleware", "HelloPlugin", "HelloSettings", "HelloState"]


class HelloSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the hello plugin, from ``STELLATE_HELLO_GREETING`` and ``..._HEADER``."""

    greeting: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "Hello"
    header: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "world"


class HelloState:
    """What the plugin keeps for one app (``app.hello``)."""

    __slots__ = ("greeting", "started")

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.started = False

    def greet(self, name: str) -> str:
        """The greeting for ``name``."""
        return f"{self.greeting}, {name}!"


class HelloHeaderMiddleware:
    """Pure-ASGI middleware adding ``X-Hello: <value>`` to every HTTP response."""

    def __init__(self, app: ASGIApp, value: str) -> None:
        self.app = app
        self.header = (b"x-hello", value.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class HelloPlugin(Plugin):
    """Adds ``/hello``, the ``X-Hello`` header, a startup hook and ``stellate hello``."""

    name = "hello"
    settings = HelloSettings
    extensions = ("hello",)

    def setup(self, app: App) -> None:
        config: HelloSettings = self.config
        # All state lives on this one app: two apps in a process never share it.
        state = HelloState(config.greeting)
        app.add_extension("hello", state)
        app.use(HelloHeaderMiddleware, value=config.header)

        @app.on_startup
        def mark_started() -> None:
            state.started = True

        @app.get("/hello", name="hello")
        async def hello(request: Request) -> dict[str, object]:
            name = request.query("name", "world") or "world"
            return {"message": state.greet(name), "started": state.started}

        @click.command("hello")
        @click.argument("name", default="world")
        def hello_command(name: str) -> None:
            """Print the app's greeting for NAME.

            \b
            Example:
              stellate --app myapp:app hello Ada
            """
            click.echo(state.greet(name))

        app.add_command(hello_command)
