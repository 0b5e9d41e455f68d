"""HTTP errors rendered as JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["HTTPException", "ImproperlyConfigured", "StartupError"]


class HTTPException(StarletteHTTPException):
    """Stop the request and answer ``status`` with a JSON body ``{"detail": detail}``.

    ``detail`` may be a string or any JSON-encodable value (a dict of field errors,
    for instance). Starlette's own ``HTTPException`` renders the same way.

    Example:
        ``raise HTTPException(404, "Book not found")``
    """

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, None, headers)
        if detail is not None:
            self.detail = detail


class ImproperlyConfigured(Exception):
    """A setting, a plugin or a registration is wrong; the message says how to fix it."""


class StartupError(ImproperlyConfigured):
    """The app could not be built; ``problems`` lists every reason, each with its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"The app cannot start ({len(problems)} {noun}):\n{lines}")
