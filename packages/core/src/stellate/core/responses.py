"""Responses, with JSON encoded by msgspec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.responses import Response as StarletteResponse

__all__ = ["JSONResponse", "Response", "encode_json", "to_response"]


def _encode_hook(value: Any) -> Any:
    # Objects that know their JSON form (ORM model instances, for instance) say so
    # through ``__json__``; everything msgspec supports natively never reaches here.
    to_json = getattr(value, "__json__", None)
    if to_json is not None:
        return to_json()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(
        f"Cannot encode a `{type(value).__qualname__}` as JSON: return a dict, list, "
        "msgspec Struct or an object with a `__json__()` method"
    )


_encoder = msgspec.json.Encoder(enc_hook=_encode_hook)


def encode_json(value: Any) -> bytes:
    """Encode ``value`` to JSON bytes with the app's encoder."""
    return _encoder.encode(value)


class Response(StarletteResponse):
    """An HTTP response.

    Accepts Starlette's argument names (``content``, ``status_code``, ``media_type``)
    and the shorter spellings of the reference guides (``body``, ``status``,
    ``content_type``)::

        Response(body=b"{}", content_type="application/json")
        Response.json({"id": 1}, status=201)
    """

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        body: Any = None,
        status: int | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(
            content if body is None else body,
            status_code if status is None else status,
            headers,
            media_type if content_type is None else content_type,
            background,
        )

    @classmethod
    def json(
        cls,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        """A JSON response of ``data`` (dicts, lists, Structs, model instances)."""
        return JSONResponse(data, status_code=status, headers=headers)


class JSONResponse(Response):
    """A response whose body is ``content`` encoded as JSON by msgspec."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def to_response(result: Any) -> StarletteResponse:
    """Turn what a handler returned into a response.

    Responses pass through; ``None`` is 204 No Content; ``str`` is text/plain;
    ``bytes`` is application/octet-stream; anything else is encoded as JSON.
    """
    if isinstance(result, StarletteResponse):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return Response(result, media_type="text/plain")
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    return _json_response(result)


def _json_response(data: Any) -> JSONResponse:
    # The hot path of every handler returning data: the same response JSONResponse(data)
    # builds (status 200, content-length, content-type), without Starlette's generic
    # header assembly, which checks for headers and media types that cannot be here.
    body = _encoder.encode(data)
    response = JSONResponse.__new__(JSONResponse)
    response.status_code = 200
    response.background = None
    response.body = body
    response.raw_headers = [
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"content-type", b"application/json"),
    ]
    return response
