"""The hello example: core only, a few routes and a health check.

Serve it from the repository root with::

    uv run uvicorn examples.hello.app:app          # or: uv run stellate run examples.hello.app:app

Installed plugins change nothing here unless STELLATE_PLUGINS names them
(``STELLATE_PLUGINS=hello`` adds the example plugin's ``/hello`` route).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from stellate.core import App, HTTPException, Request

app = App()
app.mount_health()


class Message(msgspec.Struct, forbid_unknown_fields=True):
    """The body ``POST /echo`` accepts."""

    text: str
    repeat: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


@app.get("/")
async def index(request: Request) -> dict[str, str]:
    return {"message": "Hello, world!"}


@app.get("/greet/{name}")
async def greet(request: Request, name: str) -> dict[str, str]:
    shout = request.query("shout", "false") == "true"
    greeting = f"Hello, {name}!"
    return {"message": greeting.upper() if shout else greeting}


@app.get("/squares/{number:int}")
async def square(request: Request, number: int) -> dict[str, int]:
    if number > 1_000_000:
        raise HTTPException(400, f"`number` must be at most 1000000, got {number}")
    return {"number": number, "square": number * number}


@app.post("/echo")
async def echo(request: Request) -> Message:
    # Decoding validates: malformed JSON is a 400, a wrong field a 422 naming it.
    message = await request.json(Message)
    return Message(text=message.text * message.repeat, repeat=message.repeat)
