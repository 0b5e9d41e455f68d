"""``Router``: URL patterns for viewsets, mounted with ``app.include(router, prefix=...)``."""

from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from stellate.core.routing import HandlerRoute
from stellate.rest.bulk import BULK_ACTIONS
from stellate.rest.views import ALL_METHODS
from stellate.rest.viewsets import GenericViewSet

if TYPE_CHECKING:
    from stellate.rest.views import ActionInfo

__all__ = ["Endpoint", "Router"]

_LIST_ACTIONS = {"get": "list", "post": "create"}
_DETAIL_ACTIONS = {
    "get": "retrieve",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}


class Endpoint:
    """What the router generated for one URL: the viewset and its method map."""

    __slots__ = ("actions", "basename", "detail", "path", "viewset")

    def __init__(
        self,
        path: str,
        viewset: type[GenericViewSet],
        actions: dict[str, str],
        detail: bool,
        basename: str,
    ) -> None:
        self.basename = basename
        self.path = path
        self.viewset = viewset
        self.actions = actions
        self.detail = detail


class Router:
    """Generates the list, detail and ``@action`` routes of registered viewsets.

    Args:
        trailing_slash: End URLs with ``/`` (``/books/``, the default) or not
            (``/books``). Requests for the other spelling are redirected by Starlette.
        prefix: A path prefix for every route (``"/api"``). Unlike
            ``app.include(router, prefix="/api")``, which mounts the routes (and the
            mount then answers every path under ``/api``), the routes stay flat, so
            other handlers under the same prefix keep working whatever their order.

    Example:
        ```python
        router = Router()
        router.register("books", BookViewSet)
        app.include(router, prefix="/api")  # GET /api/books/, GET /api/books/{pk}/ ...
        ```
    """

    def __init__(self, *, trailing_slash: bool = True, prefix: str = "") -> None:
        self.trailing_slash = trailing_slash
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._registry: list[tuple[str, type[GenericViewSet], str]] = []
        self._routes: list[BaseRoute] | None = None
        self.endpoints: list[Endpoint] = []

    def register(
        self, prefix: str, viewset: type[GenericViewSet], basename: str | None = None
    ) -> None:
        """Add ``viewset`` under ``prefix`` (``"books"`` or ``"shelves/books"``).

        Raises:
            TypeError: ``viewset`` is not a ``GenericViewSet`` subclass.
            ValueError: ``prefix`` or ``basename`` is already registered.
        """
        if not (isinstance(viewset, type) and issubclass(viewset, GenericViewSet)):
            raise TypeError(
                f"router.register({prefix!r}, ...) needs a viewset class (a GenericViewSet "
                f"subclass such as ModelViewSet), got `{viewset!r}`"
            )
        prefix = prefix.strip("/")
        if not prefix:
            raise ValueError("router.register() needs a non-empty prefix such as `'books'`")
        name = basename or prefix.replace("/", "-")
        for known_prefix, _, known_name in self._registry:
            if known_prefix == prefix or known_name == name:
                raise ValueError(
                    f"Router already has `{known_prefix}` (basename `{known_name}`): "
                    "register each viewset once, or pass another `basename`"
                )
        self._registry.append((prefix, viewset, name))
        self._routes = None

    @property
    def routes(self) -> list[BaseRoute]:
        """The generated routes (built once, after the last ``register``)."""
        if self._routes is None:
            self._routes = self._build()
        return self._routes

    def _build(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        self.endpoints = []
        slash = "/" if self.trailing_slash else ""
        for registered, viewset, name in self._registry:
            prefix = f"{self.prefix.lstrip('/')}/{registered}".lstrip("/")
            pk = f"{{pk:{_converter(viewset)}}}"
            extras = _actions(viewset)
            # Extra list-level actions first: `/books/enriched/` must not reach `{pk}`.
            for info in extras:
                if not info.detail:
                    path = f"/{prefix}/{info.url_path}{slash}"
                    mapping = {m.lower(): info.name for m in info.methods}
                    routes.append(self._route(path, viewset, mapping, name, info.url_name))
            bulk_map = {m: a for m, a in BULK_ACTIONS.items() if _has(viewset, a)}
            if bulk_map:
                path = f"/{prefix}/bulk{slash}"
                routes.append(self._route(path, viewset, bulk_map, name, "bulk"))
            list_map = {m: a for m, a in _LIST_ACTIONS.items() if _has(viewset, a)}
            if list_map:
                path = f"/{prefix}{slash}"
                routes.append(self._route(path, viewset, list_map, name, "list"))
            for info in extras:
                if info.detail:
                    path = f"/{prefix}/{pk}/{info.url_path}{slash}"
                    mapping = {m.lower(): info.name for m in info.methods}
                    routes.append(self._route(path, viewset, mapping, name, info.url_name))
            detail_map = {m: a for m, a in _DETAIL_ACTIONS.items() if _has(viewset, a)}
            if detail_map:
                path = f"/{prefix}/{pk}{slash}"
                routes.append(self._route(path, viewset, detail_map, name, "detail"))
        return routes

    def _route(
        self,
        path: str,
        viewset: type[GenericViewSet],
        mapping: dict[str, str],
        basename: str,
        suffix: str,
    ) -> HandlerRoute:
        # Every method reaches the view, which answers an unsupported one itself: a 405
        # in the problem+json shape with an `Allow` header.
        route = HandlerRoute(
            path, viewset.as_view(mapping), methods=ALL_METHODS, name=f"{basename}-{suffix}"
        )
        endpoint = Endpoint(path, viewset, mapping, "{pk" in path, basename)
        route.rest_endpoint = endpoint  # type: ignore[attr-defined]
        self.endpoints.append(endpoint)
        return route


def _has(viewset: type[GenericViewSet], name: str) -> bool:
    return callable(getattr(viewset, name, None))


def _actions(viewset: type[GenericViewSet]) -> list[ActionInfo]:
    found = []
    for _, member in inspect.getmembers(viewset, inspect.isfunction):
        info = getattr(member, "action_info", None)
        if info is not None:
            found.append(info)
    return found


def _converter(viewset: type[GenericViewSet]) -> str:
    model = viewset.get_model()
    if viewset.lookup_field in ("pk", model._meta.pk.name):
        kind: Any = model._meta.pk.python_type
    else:
        kind = model._meta.get_field(viewset.lookup_field).python_type
    if kind is int:
        return "int"
    if kind is uuid.UUID:
        return "uuid"
    return "str"
