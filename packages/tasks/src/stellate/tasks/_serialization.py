"""msgspec (msgpack) serialisation of jobs and results, in place of arq's pickle."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import TYPE_CHECKING, Any

import msgspec

from stellate.tasks.exceptions import TaskAborted, TaskArgumentError, TaskFailed

if TYPE_CHECKING:
    from stellate.tasks.task import Task

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


def unserialisable_arguments(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskArgumentError:
    bound = task.bind_arguments(args, kwargs)
    params = task.signature.parameters
    items: list[tuple[str, Any]] = []
    for name, value in bound.items():
        kind = params[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            items.extend((f"{name}[{i}]", item) for i, item in enumerate(value))
        elif kind is inspect.Parameter.VAR_KEYWORD:
            items.extend(value.items())
        else:
            items.append((name, value))
    for name, value in items:
        try:
            encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            return TaskArgumentError(
                f"Argument `{name}` of task `{task.name}` cannot be serialised "
                f"(a `{type(value).__qualname__}`): {exc}. Pass plain data instead (str, int, "
                "float, bool, None, list, dict, datetime, UUID, a msgspec Struct or a "
                "dataclass), e.g. a row's id rather than the row"
            )
    return TaskArgumentError(f"The arguments of task `{task.name}` cannot be serialised")
