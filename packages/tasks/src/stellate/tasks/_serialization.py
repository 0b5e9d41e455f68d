"""msgspec (msgpack) serialisation of jobs and results, in place of arq's pickle."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import msgspec

from stellate.tasks.exceptions import TaskAborted, TaskFailed

#: Marks an exception encoded into a result, so the reader can rebuild an error from it.
ERROR_MARKER = "__stellate_error__"


def _encode_extra(obj: Any) -> Any:
    # Results of failed jobs hold the exception object; pickle would keep it, msgpack
    # cannot, so it travels as its type, message and traceback.
    if isinstance(obj, BaseException):
        return {
            ERROR_MARKER: True,
            "type": _qualified_name(type(obj)),
            "message": str(obj),
            "traceback": "".join(traceback.format_exception(obj)) if obj.__traceback__ else "",
        }
    raise TypeError(f"Encoding objects of type `{type(obj).__qualname__}` is unsupported")


_encoder = msgspec.msgpack.Encoder(enc_hook=_encode_extra)
_decoder = msgspec.msgpack.Decoder()

encode = _encoder.encode
decode = _decoder.decode


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def error_from_result(value: Any, task: str, job_id: str) -> Exception:
    """The exception a caller sees for the stored result ``value`` of a failed job."""
    if isinstance(value, dict) and value.get(ERROR_MARKER):
        error_type = str(value.get("type", "Exception"))
        if error_type in ("CancelledError", _qualified_name(asyncio.CancelledError)):
            return TaskAborted(task, job_id)
        return TaskFailed(
            task, job_id, error_type, str(value.get("message", "")), str(value.get("traceback", ""))
        )
    return TaskFailed(task, job_id, "Error", str(value))


def is_aborted(value: Any) -> bool:
    """Whether a stored failure result is the one arq writes for an aborted job."""
    return (
        isinstance(value, dict)
        and bool(value.get(ERROR_MARKER))
        and value.get("type") in ("CancelledError", _qualified_name(asyncio.CancelledError))
    )
