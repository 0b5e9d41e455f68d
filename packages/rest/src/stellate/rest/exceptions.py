"""API exceptions and their one error shape: RFC 9457 problem details.

Every error an API view produces is rendered as ``application/problem+json``::

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "Invalid data", "errors": {"price": ["must be >= 0 (got `-1`)"]}}

``detail`` is the reference guide's member (kept so ``{"detail": ...}`` clients keep
working); ``errors`` maps each failing field (or query parameter) to its messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from stellate.core.responses import encode_json
from stellate.orm.exceptions import IntegrityError, QueryValueError, UniqueViolation
from stellate.orm.exceptions import ValidationError as OrmValidationError

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "APIException",
    "Conflict",
    "MethodNotAllowed",
    "NotAuthenticated",
    "NotFound",
    "ParseError",
    "PermissionDenied",
    "PreconditionFailed",
    "Throttled",
    "ValidationError",
    "as_api_exception",
    "problem_response",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
_NO_BODY = frozenset({204, 304})
_KEY_COLUMNS = re.compile(r"Key \((.+?)\)=")


class APIException(Exception):
    """Base of the errors views raise; rendered as problem details with ``status_code``.

    Args:
        detail: A human-readable explanation of this occurrence.
        errors: Per-field (or per-parameter) messages, ``{"price": ["must be >= 0"]}``.
        headers: Extra response headers (``Retry-After``, ``WWW-Authenticate``...).
        code: A short machine-readable code for clients (``"invalid"``, ``"not_found"``).

    Example:
        ```python
        raise NotFound("Book not found")
        raise ValidationError("Invalid data", errors={"title": ["may not be blank"]})
        ```
    """

    #: Class default; a translated ``HTTPException`` sets its own on the instance.
    status_code: int = 500
    default_detail: ClassVar[str] = "A server error occurred."
    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Mapping[str, Sequence[str] | str] | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail: Any = detail if detail is not None else self.default_detail
        self.errors: dict[str, list[str]] = {
            key: [value] if isinstance(value, str) else list(value)
            for key, value in (errors or {}).items()
        }
        self.headers: dict[str, str] = dict(headers or {})
        self.code = code or self.default_code
        #: More problem members (RFC 9457 extensions), e.g. ``{"constraint": "uniq_isbn"}``.
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self.detail)

    def __str__(self) -> str:
        if not self.errors:
            return str(self.detail)
        listed = "; ".join(f"`{k}`: {', '.join(v)}" for k, v in self.errors.items())
        return f"{self.detail} ({listed})"


class ValidationError(APIException):
    """400: the request body or a query parameter is invalid; ``errors`` names each field."""

    status_code = 400
    default_detail = "Invalid input."
    default_code = "invalid"


class ParseError(APIException):
    """400: the request body is not well-formed JSON."""

    status_code = 400
    default_detail = "Malformed request body."
    default_code = "parse_error"


class NotAuthenticated(APIException):
    """401: the endpoint needs an authenticated user and the request has none."""

    status_code = 401
    default_detail = "Authentication credentials were not provided."
    default_code = "not_authenticated"


class PermissionDenied(APIException):
    """403: the user is known but not allowed to do this."""

    status_code = 403
    default_detail = "You do not have permission to perform this action."
    default_code = "permission_denied"


class NotFound(APIException):
    """404: no such object (or the user may not know it exists)."""

    status_code = 404
    default_detail = "Not found."
    default_code = "not_found"


class MethodNotAllowed(APIException):
    """405: the endpoint exists but not for this HTTP method; ``Allow`` lists the others."""

    status_code = 405
    default_detail = "Method not allowed."
    default_code = "method_not_allowed"


class Conflict(APIException):
    """409: the request conflicts with the current state (a unique value is taken...)."""

    status_code = 409
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PreconditionFailed(APIException):
    """412: an ``If-Match`` precondition did not hold (the object changed meanwhile)."""

    status_code = 412
    default_detail = "The resource changed since you read it: fetch it again and retry."
    default_code = "precondition_failed"


class Throttled(APIException):
    """429: too many requests; ``Retry-After`` says when to come back.

    Args:
        wait: Seconds until a request will be accepted again.
    """

    status_code = 429
    default_detail = "Request was throttled."
    default_code = "throttled"

    def __init__(self, detail: str | None = None, *, wait: float | None = None, **kw: Any) -> None:
        headers = dict(kw.pop("headers", None) or {})
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            headers.setdefault("Retry-After", str(seconds))
            if detail is None:
                detail = f"Request was throttled: try again in {seconds} seconds."
        self.wait = wait
        super().__init__(detail, headers=headers, **kw)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    detail: Any,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> StarletteResponse:
    """Build the ``application/problem+json`` response for an error.

    Args:
        status: The HTTP status code.
        detail: The explanation (``detail`` member).
        errors: Per-field messages, included when not empty.
        headers: Extra response headers.
        code: A machine-readable code, included when given.
        extra: More members to include (``constraint``, ``retry_after``...).

    Returns:
        The response (without a body for 204/304).
    """
    if status in _NO_BODY:
        return StarletteResponse(status_code=status, headers=dict(headers or {}))
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return StarletteResponse(
        encode_json(body),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_CONTENT_TYPE,
    )


def as_api_exception(exc: BaseException) -> APIException | None:
    """Translate the errors views meet into an ``APIException`` (``None`` if unknown).

    - ``APIException``: itself.
    - ``HTTPException`` (core's or Starlette's): same status, detail and headers.
    - stellate-orm ``ValidationError``: 400 with its per-field ``errors``.
    - stellate-orm ``UniqueViolation``: 409 naming the constraint and the columns.
    - other stellate-orm ``IntegrityError`` (foreign key, check, not null): 409
      naming the constraint.
    - stellate-orm ``QueryValueError`` (a value PostgreSQL refuses, such as a NUL
      character in text): 400 with the database's reason, never the SQL.
    """
    if isinstance(exc, APIException):
        return exc
    if isinstance(exc, StarletteHTTPException):
        api = APIException(headers=exc.headers or {}, code="http_error")
        api.status_code = exc.status_code
        api.detail = exc.detail
        return api
    if isinstance(exc, OrmValidationError):
        where = f" for `{exc.model_name}`" if exc.model_name else ""
        return ValidationError(f"Invalid data{where}", errors=exc.errors)
    if isinstance(exc, IntegrityError):
        what = f"constraint `{exc.constraint}`" if exc.constraint else "a database constraint"
        message = f"The data conflicts with {what}"
        if exc.detail:
            message += f": {exc.detail}"
        errors: dict[str, list[str]] = {}
        if isinstance(exc, UniqueViolation) and exc.detail:
            # PostgreSQL's detail reads `Key (isbn)=(123) already exists.`
            found = _KEY_COLUMNS.match(exc.detail)
            if found:
                for column in found.group(1).split(", "):
                    errors[column] = [f"A row with this `{column}` already exists"]
        code = "unique" if isinstance(exc, UniqueViolation) else exc.kind.replace(" ", "_")
        return Conflict(message, code=code, errors=errors, extra={"constraint": exc.constraint})
    if isinstance(exc, QueryValueError):
        # The ORM's message quotes the SQL for the developer; the client gets only the
        # database's reason (the exception's cause).
        reason = str(exc.__cause__) if exc.__cause__ is not None else "value not accepted"
        return ValidationError(f"Invalid data: the database refused a value ({reason})")
    return None


def render_exception(exc: APIException) -> StarletteResponse:
    """The problem+json response of ``exc``."""
    return problem_response(
        exc.status_code,
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        code=exc.code,
        extra=exc.extra,
    )


async def api_exception_handler(request: StarletteRequest, exc: Exception) -> StarletteResponse:
    """Starlette exception handler rendering API, ORM validation and integrity errors."""
    api = as_api_exception(exc)
    if api is None:  # pragma: no cover - only registered for the classes above
        raise exc
    return render_exception(api)
