"""Pagination: keyset ``CursorPagination`` (the default) and ``PageNumberPagination``.

``CursorPagination`` pages with ``WHERE (ordering columns) > (last row's values)``
instead of ``OFFSET``, so every page costs the same however deep it is. Its cursors are
opaque tokens signed with HMAC-SHA256 (``CursorSigner``, keyed by the app's
``STELLATE_SECRET_KEY``), expiring, and bound to the endpoint and the ordering: a tampered,
expired or foreign cursor is a 400 naming the ``cursor`` parameter, never a 500 or a
wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import msgspec
from starlette.responses import StreamingResponse

from stellate.core.responses import JSONResponse, encode_json
from stellate.orm.database import get_db
from stellate.orm.expressions import Q
from stellate.rest._compat import loaded_value
from stellate.rest.exceptions import NotFound, ValidationError

if TYPE_CHECKING:
    from starlette.requests import Request

    from stellate.orm.queryset import QuerySet

__all__ = [
    "BasePagination",
    "CursorPagination",
    "CursorSigner",
    "PageNumberPagination",
    "ServerCursorPagination",
    "cursor_engine",
]

logger = logging.getLogger("stellate.rest")

_ENGINE_STATE = "stellate_rest_cursor_engine"
_CURSOR_PURPOSE = "stellate.rest.cursor"


class CursorSigner:
    """Signs and verifies cursor payloads: msgspec JSON with an expiry, HMAC-SHA256.

    The key is derived from the app's secret for cursors only, so a cursor cannot be
    replayed as any other signed token. A cursor is signed for every page that has a
    next or previous link, so this stays a single HMAC over a small JSON document
    (the general ``TokenEngine`` took about 14 times as long per cursor: bench/).
    """

    _DIGEST = 32

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _CURSOR_PURPOSE.encode(), hashlib.sha256).digest()
        self._encoder = msgspec.json.Encoder()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode_data(self, data: Any, *, ttl: float | None) -> str:
        """A URL-safe token carrying ``data`` that verifies for ``ttl`` seconds (None: ever)."""
        payload = self._encoder.encode([None if ttl is None else time.time() + ttl, data])
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def decode_data(self, token: str) -> Any:
        """The data of a valid, unexpired token; ``None`` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, binascii.Error):
            return None
        payload, mac = raw[: -self._DIGEST], raw[-self._DIGEST :]
        if len(raw) <= self._DIGEST or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            expires, data = msgspec.json.decode(payload)
        except (msgspec.DecodeError, TypeError, ValueError):
            return None
        if expires is not None and (not isinstance(expires, int | float) or expires < time.time()):
            return None
        return data


def cursor_engine(request: Request) -> CursorSigner:
    """The ``CursorSigner`` of this app's cursors (built once per app).

    It is keyed by the app's ``STELLATE_SECRET_KEY``. Without one (development only;
    production refuses to start without it) a random key is made for this process,
    so cursors do not survive a restart or cross workers.
    """
    state = request.app.state
    engine = getattr(state, _ENGINE_STATE, None)
    if engine is None:
        settings = getattr(request.app, "settings", None)
        secret = getattr(settings, "secret_key", None)
        if not secret:
            logger.warning(
                "STELLATE_SECRET_KEY is not set: pagination cursors are signed with a random "
                "per-process key and stop working after a restart; set STELLATE_SECRET_KEY"
            )
            secret = secrets.token_urlsafe(32)
        engine = CursorSigner(secret)
        setattr(state, _ENGINE_STATE, engine)
    return engine


def _positive_int(request: Request, name: str, default: int, maximum: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValidationError(
            f"Invalid query parameter `{name}`",
            errors={name: [f"`{raw}` is not a positive integer"]},
        )
    return min(value, maximum) if maximum is not None else value


def _link(request: Request, **changes: Any) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    return "?" + urlencode(params)


class BasePagination:
    """What a view's ``pagination_class`` provides."""

    async def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        """Run the query for one page and return its rows."""
        raise NotImplementedError

    def get_paginated_response(self, data: Any) -> JSONResponse:
        """The response for ``data`` (the serialized page) with the navigation links."""
        raise NotImplementedError


class CursorPagination(BasePagination):
    """Keyset pagination with signed opaque cursors.

    Class attributes (override in a subclass or set on an instance):
        page_size: Rows per page.
        max_page_size: Cap of the client's ``page_size`` parameter.
        page_size_query_param: The parameter clients use (``None`` disables it).
        cursor_query_param: The cursor parameter.
        ordering: Field names, ``-`` for descending; the primary key is appended as a
            tie-breaker. Ordering fields must be NOT NULL (a keyset cannot step over NULL).
        cursor_ttl: Seconds a cursor stays valid (``None``: forever).

    Example:
        ```python
        paginator = CursorPagination()
        paginator.page_size = 50
        paginator.ordering = "-id"
        items = await paginator.paginate_queryset(Item.objects, request)
        return paginator.get_paginated_response([{"id": i.id} for i in items])
        ```

    The response is ``{"results": [...], "next": "?cursor=...", "previous": ...}``.
    """

    page_size: int = 20
    max_page_size: int = 100
    page_size_query_param: str | None = "page_size"
    cursor_query_param: str = "cursor"
    ordering: str | Sequence[str] = "-pk"
    cursor_ttl: float | None = 24 * 3600.0
    #: Where the envelope's members are documented for OpenAPI.
    envelope: ClassVar[tuple[str, ...]] = ("results", "next", "previous")

    def __init__(self) -> None:
        self.next_link: str | None = None
        self.previous_link: str | None = None

    def get_page_size(self, request: Request) -> int:
        """``page_size`` from the query (capped by ``max_page_size``) or the default."""
        if self.page_size_query_param is None:
            return self.page_size
        return _positive_int(
            request, self.page_size_query_param, self.page_size, self.max_page_size
        )

    def get_ordering(self, view: Any = None) -> tuple[str, ...]:
        """The ordering to page on: the view's chosen ordering, else ``ordering``."""
        chosen = getattr(view, "current_ordering", None) if view is not None else None
        ordering = chosen or self.ordering
        if isinstance(ordering, str):
            ordering = tuple(part.strip() for part in ordering.split(",") if part.strip())
        return tuple(ordering)

    async def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        """One page of ``queryset`` after the request's cursor (or the first page).

        Raises:
            ValidationError: The cursor is malformed, tampered with, expired, or made
                for another endpoint or ordering; or ``page_size`` is not a positive integer.
        """
        model = queryset.model
        meta = model._meta
        keys: list[tuple[str, bool]] = []
        for item in self.get_ordering(view):
            desc = item.startswith("-")
            name = item.lstrip("-+")
            if name == "pk":
                name = meta.pk.name
            field = meta.get_field(name)
            if field.nullable:
                raise TypeError(
                    f"`{type(self).__name__}` orders `{model.__name__}` by the nullable field "
                    f"`{name}`: keyset pagination cannot step over NULL; order by NOT NULL "
                    "fields (the primary key is added as a tie-breaker)"
                )
            keys.append((name, desc))
        if not any(name == meta.pk.name for name, _ in keys):
            keys.append((meta.pk.name, keys[-1][1] if keys else False))
        signature = ",".join(("-" if desc else "") + name for name, desc in keys)
        size = self.get_page_size(request)
        engine = cursor_engine(request)
        token = request.query_params.get(self.cursor_query_param)
        reverse = False
        position: list[Any] | None = None
        if token:
            position, reverse = self._decode(engine, token, request, signature, keys, model)
        order = [("-" if desc != reverse else "") + name for name, desc in keys]
        qs = queryset.order_by(*order)
        if position is not None:
            qs = qs.filter(_keyset(keys, position, reverse))
        rows = await qs.limit(size + 1)
        has_more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        self.next_link = self.previous_link = None
        if rows:
            first, last = rows[0], rows[-1]
            if has_more if not reverse else bool(token):
                self.next_link = self._link(engine, request, signature, keys, last, False)
            if has_more if reverse else bool(token):
                self.previous_link = self._link(engine, request, signature, keys, first, True)
        return rows

    def get_paginated_response(self, data: Any) -> JSONResponse:
        """``{"results": data, "next": ..., "previous": ...}``."""
        return JSONResponse(
            {"results": data, "next": self.next_link, "previous": self.previous_link}
        )

    def _link(
        self,
        engine: CursorSigner,
        request: Request,
        signature: str,
        keys: list[tuple[str, bool]],
        row: Any,
        reverse: bool,
    ) -> str:
        data = row.__dict__
        values = [loaded_value(data[name]) for name, _ in keys]
        payload = {"v": values, "r": reverse, "o": signature, "u": request.url.path}
        token = engine.encode_data(payload, ttl=self.cursor_ttl)
        return _link(request, **{self.cursor_query_param: token})

    def _decode(
        self,
        engine: CursorSigner,
        token: str,
        request: Request,
        signature: str,
        keys: list[tuple[str, bool]],
        model: Any,
    ) -> tuple[list[Any], bool]:
        param = self.cursor_query_param
        payload = engine.decode_data(token)
        problem = None
        if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
            problem = "is invalid, tampered with or expired"
        elif payload.get("u") != request.url.path:
            problem = "was made for another endpoint"
        elif payload.get("o") != signature or len(payload["v"]) != len(keys):
            problem = "was made for another ordering"
        if problem is not None:
            raise ValidationError(
                f"Invalid query parameter `{param}`",
                errors={param: [f"This cursor {problem}: restart from the first page"]},
            )
        assert isinstance(payload, dict)  # narrowed above
        values = []
        for (name, _), raw in zip(keys, payload["v"], strict=True):
            field = model._meta.fields[name]
            target = field.enum_type or field.python_type
            try:
                values.append(msgspec.convert(raw, target, strict=False))
            except msgspec.ValidationError:
                raise ValidationError(
                    f"Invalid query parameter `{param}`",
                    errors={param: ["This cursor is invalid: restart from the first page"]},
                ) from None
        return values, bool(payload.get("r"))


def _keyset(keys: list[tuple[str, bool]], values: list[Any], reverse: bool) -> Q:
    # (a, b) after (x, y) in mixed directions: a > x OR (a = x AND b > y), with each
    # comparison flipped for descending keys and again when paging backwards.
    condition: Q | None = None
    for index, (name, desc) in enumerate(keys):
        lookup = "lt" if desc != reverse else "gt"
        equal = {prior: values[i] for i, (prior, _) in enumerate(keys[:index])}
        term = Q(**equal, **{f"{name}__{lookup}": values[index]})
        condition = term if condition is None else condition | term
    assert condition is not None  # keys always holds the primary key
    return condition


class PageNumberPagination(BasePagination):
    """``?page=N`` pagination: a COUNT query plus LIMIT/OFFSET, for small collections.

    Deep pages cost O(offset); prefer ``CursorPagination`` for anything that grows.
    The response is ``{"count": n, "next": ..., "previous": ..., "results": [...]}``.
    """

    page_size: int = 20
    max_page_size: int = 100
    page_query_param: str = "page"
    page_size_query_param: str | None = "page_size"
    #: Deepest page served (bounds the OFFSET scan).
    max_page: int = 1000
    envelope: ClassVar[tuple[str, ...]] = ("count", "next", "previous", "results")

    def __init__(self) -> None:
        self.count = 0
        self.next_link: str | None = None
        self.previous_link: str | None = None

    async def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        """One page; raises ``NotFound`` past the last page."""
        size = (
            self.page_size
            if self.page_size_query_param is None
            else _positive_int(
                request, self.page_size_query_param, self.page_size, self.max_page_size
            )
        )
        page = _positive_int(request, self.page_query_param, 1, None)
        if page > self.max_page:
            raise ValidationError(
                f"Invalid query parameter `{self.page_query_param}`",
                errors={self.page_query_param: [f"pages stop at {self.max_page}"]},
            )
        ordering = getattr(view, "current_ordering", None) if view is not None else None
        meta = queryset.model._meta
        order = [
            ("-" if o.startswith("-") else "") + meta.pk.name if o.lstrip("-") == "pk" else o
            for o in (ordering or (meta.pk.name,))
        ]
        if not any(o.lstrip("-") == meta.pk.name for o in order):
            # Rows with equal sort values would otherwise shift between pages.
            order.append(meta.pk.name)
        self.count = await queryset.count()
        if page > 1 and (page - 1) * size >= self.count:
            raise NotFound(f"Page {page} is past the last page")
        rows = await queryset.order_by(*order).limit(size).offset((page - 1) * size)
        param = self.page_query_param
        self.next_link = _link(request, **{param: page + 1}) if page * size < self.count else None
        self.previous_link = _link(request, **{param: page - 1}) if page > 1 else None
        return rows

    def get_paginated_response(self, data: Any) -> JSONResponse:
        """``{"count": ..., "next": ..., "previous": ..., "results": data}``."""
        return JSONResponse(
            {
                "count": self.count,
                "next": self.next_link,
                "previous": self.previous_link,
                "results": data,
            }
        )


class ServerCursorPagination(BasePagination):
    """Stream a whole queryset as NDJSON through a PostgreSQL ``DECLARE CURSOR``.

    For exports: the rows are fetched ``chunk_size`` at a time from a server-side
    cursor inside one transaction, so memory stays flat however large the result, and
    each row is written as one JSON line (``application/x-ndjson``) as it arrives.
    Querysets with ``select_related`` are not supported (rows map to plain instances).

    Example:
        ```python
        class ExportViewSet(ReadOnlyModelViewSet):
            model = Book
            pagination_class = ServerCursorPagination
        ```
    """

    chunk_size: int = 500
    media_type: str = "application/x-ndjson"

    def streaming_response(
        self, queryset: QuerySet[Any], render: Callable[[Any], Any], view: Any = None
    ) -> StreamingResponse:
        """The NDJSON response streaming every row of ``queryset`` through ``render``."""
        ordering = getattr(view, "current_ordering", None) if view is not None else None
        if ordering:
            queryset = queryset.order_by(*ordering)
        compiled = queryset.to_sql()
        model = queryset.model
        database = get_db(model._meta.database)
        chunk = int(self.chunk_size)
        if chunk < 1:
            raise ValueError(f"`{type(self).__name__}.chunk_size` must be >= 1, got `{chunk}`")

        async def rows() -> AsyncIterator[bytes]:
            # One transaction holds the cursor (and its connection) for the whole stream.
            async with database.transaction():
                await database.execute(
                    f"DECLARE stellate_export NO SCROLL CURSOR FOR {compiled.sql}",
                    *compiled.params,
                )
                while True:
                    records = await database.fetch(f"FETCH {chunk} FROM stellate_export")
                    if not records:
                        break
                    lines = [encode_json(render(model.from_row(r))) for r in records]
                    yield b"\n".join(lines) + b"\n"
                await database.execute("CLOSE stellate_export")

        return StreamingResponse(rows(), media_type=self.media_type)
