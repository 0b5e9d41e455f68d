"""The request object handlers receive."""

from __future__ import annotations

from typing import Any, TypeVar, overload

import msgspec
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest

from stellate.core.exceptions import HTTPException

__all__ = ["Request", "UploadedFile"]

T = TypeVar("T")


class UploadedFile(msgspec.Struct, frozen=True):
    """A file from a multipart form, read into memory."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


class Request(StarletteRequest):
    """Starlette's request plus the helpers of the reference API."""

    __slots__ = ()

    def query(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        return self.query_params.get(name, default)

    @overload
    async def json(self) -> Any: ...

    @overload
    async def json(self, type: type[T]) -> T: ...

    async def json(self, type: Any = Any) -> Any:
        """Decode the body as JSON with msgspec.

        Args:
            type: optional type to decode into and validate against (a msgspec
                Struct, ``list[int]``…).

        Raises:
            HTTPException: 400 when the body is not JSON, 422 when it does not
                match ``type`` (the detail names the field and why).
        """
        body = await self.body()
        if not body:
            raise HTTPException(400, "Request body is empty: send a JSON document")
        try:
            return msgspec.json.decode(body, type=type)
        except msgspec.ValidationError as exc:
            raise HTTPException(422, str(exc)) from None
        except msgspec.DecodeError as exc:
            raise HTTPException(400, f"Malformed JSON body: {exc}") from None
        except UnicodeDecodeError as exc:
            raise HTTPException(
                400, f"Malformed JSON body: not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
        except RecursionError:
            raise HTTPException(400, "Malformed JSON body: nested too deeply") from None

    async def files(self) -> dict[str, UploadedFile]:
        """The uploaded files of a multipart form, by field name (first file per field)."""
        form = await self.form()
        files: dict[str, UploadedFile] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile) and key not in files:
                files[key] = UploadedFile(
                    filename=value.filename or "",
                    content_type=value.content_type or "application/octet-stream",
                    data=await value.read(),
                )
        return files

    @property
    def user(self) -> Any:
        """The authenticated principal set by an auth middleware, or ``None``."""
        return self.scope.get("user")
