"""OpenAPI 3.1 from the app's routes, viewsets and serializers, plus an offline docs page.

The document is built on the first request for it, after every route is registered,
and then served as cached bytes; call ``invalidate()`` after changing routes at runtime
(tests do). The docs page is Swagger UI served from the installed
``swagger-ui-bundle-v2`` package, so it works without network access.

Example:
    ```python
    app = App(plugins=["orm", "rest"])
    app.include(router, prefix="/api")
    docs = mount_openapi(app, title="Bookstore", version="1.0.0")
    # GET /openapi.json, GET /docs
    ```
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from stellate.core.responses import Response, encode_json
from stellate.core.routing import HandlerRoute
from stellate.rest.exceptions import PROBLEM_CONTENT_TYPE
from stellate.rest.filters import normalize_filterset_fields
from stellate.rest.pagination import (
    CursorPagination,
    PageNumberPagination,
    ServerCursorPagination,
)
from stellate.rest.permissions import AllowAny

if TYPE_CHECKING:
    from starlette.requests import Request

    from stellate.core import App
    from stellate.rest.routers import Endpoint
    from stellate.rest.serializers import ModelSerializer
    from stellate.rest.viewsets import GenericViewSet

__all__ = ["OpenAPI", "mount_openapi"]

_REF = "#/components/schemas/{name}"
_CONVERTER = re.compile(r"{(\w+)(?::(\w+))?}")
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
    "str": {"type": "string"},
    "path": {"type": "string"},
}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "constraint": {"type": ["string", "null"]},
    },
    "required": ["type", "title", "status", "detail"],
}
_BULK_RESULTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "status": {"type": "integer"},
                    "data": {},
                    "detail": {},
                    "errors": {"type": "object"},
                },
                "required": ["index", "status"],
            },
        }
    },
    "required": ["results"],
}
_ERROR_TEXT = {
    "400": "Invalid body or query parameter",
    "401": "Authentication required",
    "403": "Permission denied",
    "404": "Not found",
    "405": "Method not allowed",
    "409": "Conflicts with a constraint",
    "429": "Throttled",
}
_STATUS_TEXT = {"200": "OK", "201": "Created", "204": "No content"}


def _problem(status: str) -> dict[str, Any]:
    return {
        "description": _ERROR_TEXT[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _REF.format(name="Problem")}}},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:
            yield prefix + route.path, route


def _summary(func: Any) -> str | None:
    doc = inspect.getdoc(func)
    return doc.strip().splitlines()[0] if doc else None


class OpenAPI:
    """The OpenAPI document of an app and the routes serving it.

    Args:
        app: The app to describe.
        title: ``info.title``.
        version: ``info.version`` (your API's version).
        description: ``info.description``.
        path: Where the JSON document is served.
        docs_path: Where the Swagger UI page is served (``None``: no page).
        security_schemes: ``components.securitySchemes``, e.g.
            ``{"session": {"type": "apiKey", "in": "cookie", "name": "session"}}``;
            operations whose permissions need a user then list them as ``security``.
    """

    def __init__(
        self,
        app: App,
        *,
        title: str = "API",
        version: str = "0.1.0",
        description: str | None = None,
        path: str = "/openapi.json",
        docs_path: str | None = "/docs",
        security_schemes: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.title = title
        self.version = version
        self.description = description
        self.path = path
        self.docs_path = docs_path
        self.security_schemes = dict(security_schemes or {})
        self._document: dict[str, Any] | None = None
        self._bytes: bytes | None = None

    # -- the document --------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the cached document; the next request rebuilds it."""
        self._document = None
        self._bytes = None

    def document(self) -> dict[str, Any]:
        """The OpenAPI document as a dict (built once, then cached)."""
        if self._document is None:
            self._document = self._build()
        return self._document

    def document_bytes(self) -> bytes:
        """The OpenAPI document encoded as JSON (cached)."""
        if self._bytes is None:
            self._bytes = encode_json(self.document())
        return self._bytes

    def _build(self) -> dict[str, Any]:
        self._structs: list[type[msgspec.Struct]] = []
        self._names: dict[str, type[ModelSerializer[Any]]] = {}
        paths: dict[str, dict[str, Any]] = {}
        for full_path, route in _walk(self.app.routes):
            if full_path in (self.path, self.docs_path):
                continue
            path, parameters = _path_parameters(full_path)
            operations = paths.setdefault(path, {})
            endpoint: Endpoint | None = getattr(route, "rest_endpoint", None)
            if endpoint is not None:
                for method, action in endpoint.actions.items():
                    if method in ("head", "options"):
                        continue
                    operations[method] = self._viewset_operation(endpoint, action, parameters)
                continue
            handler: Any = route.endpoint
            view_class = getattr(handler, "view_class", None)
            if view_class is not None:
                methods = [m.lower() for m in handler.actions if m not in ("HEAD", "OPTIONS")]
                for method in methods:
                    func = getattr(view_class, handler.actions[method.upper()])
                    operations[method] = self._plain_operation(
                        f"{view_class.__name__}_{method}", func, parameters
                    )
                continue
            for method in sorted(route.methods or {"GET"}):
                if method in ("HEAD", "OPTIONS"):
                    continue
                name = route.name or getattr(handler, "__name__", "handler")
                operations[method.lower()] = self._plain_operation(
                    f"{name}_{method.lower()}", handler, parameters
                )
            if not operations:
                del paths[path]
        _, components = msgspec.json.schema_components(
            list(dict.fromkeys(self._structs)), ref_template=_REF
        )
        components["Problem"] = _PROBLEM_SCHEMA
        info: dict[str, Any] = {"title": self.title, "version": self.version}
        if self.description:
            info["description"] = self.description
        document_components: dict[str, Any] = {"schemas": dict(sorted(components.items()))}
        if self.security_schemes:
            document_components["securitySchemes"] = self.security_schemes
        return {
            "openapi": "3.1.0",
            "info": info,
            "paths": paths,
            "components": document_components,
        }

    def _ref(self, struct: type[msgspec.Struct]) -> dict[str, Any]:
        self._structs.append(struct)
        return {"$ref": _REF.format(name=struct.__name__)}

    def _claim_names(self, serializer: type[ModelSerializer[Any]]) -> None:
        # Two serializers with one schema name would silently share (or break) a schema.
        compiled = serializer.compiled()
        owner = self._names.setdefault(compiled.schema_name, serializer)
        if owner is not serializer:
            raise TypeError(
                f"`{owner.__qualname__}` and `{serializer.__qualname__}` both produce the "
                f"OpenAPI schema `{compiled.schema_name}`: give one another name with "
                "`class Meta: schema_name = ...`"
            )
        for spec in compiled.read:
            if spec.nested is not None:
                self._claim_names(type(spec.nested))

    def _plain_operation(
        self, operation_id: str, func: Any, parameters: list[dict[str, Any]]
    ) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "responses": {"200": {"description": "OK"}},
        }
        summary = _summary(func)
        if summary:
            operation["summary"] = summary
        if parameters:
            operation["parameters"] = parameters
        return operation

    def _viewset_operation(
        self, endpoint: Endpoint, action: str, parameters: list[dict[str, Any]]
    ) -> dict[str, Any]:
        viewset = endpoint.viewset
        view = _offline_view(viewset, action)
        serializer_class = view.get_serializer_class()
        self._claim_names(serializer_class)
        serializer = serializer_class.compiled()
        handler = getattr(viewset, action)
        info = getattr(handler, "action_info", None)
        operation: dict[str, Any] = {
            "operationId": f"{endpoint.basename}_{action}",
            "tags": [endpoint.basename],
        }
        summary = _summary(handler) if info is not None else None
        operation["summary"] = summary or f"{action.replace('_', ' ').capitalize()}"
        params = list(parameters)
        responses: dict[str, Any] = {}
        read = self._ref(serializer.read_struct())
        if info is not None:
            responses["200"] = {"description": "OK"}
        elif action == "list":
            params.extend(self._list_parameters(view))
            pagination = view.pagination_class
            if pagination is not None and issubclass(pagination, ServerCursorPagination):
                responses["200"] = {
                    "description": "Every row, one JSON object per line",
                    "content": {pagination.media_type: {"schema": read}},
                }
            else:
                responses["200"] = _json(self._envelope(view, read), "A page of results")
            responses["400"] = _problem("400")
        elif action == "create":
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self._ref(serializer.create_struct)}},
            }
            responses["201"] = _json(read, "Created")
            responses["400"] = _problem("400")
            responses["409"] = _problem("409")
        elif action in ("update", "partial_update"):
            struct = (
                serializer.update_struct
                if action == "partial_update"
                else (serializer.create_struct)
            )
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self._ref(struct)}},
            }
            responses["200"] = _json(read, "Updated")
            responses["400"] = _problem("400")
            responses["409"] = _problem("409")
        elif action.startswith("bulk_"):
            if action == "bulk_destroy":
                body: dict[str, Any] = {
                    "type": "object",
                    "properties": {"ids": {"type": "array", "items": {}}},
                    "required": ["ids"],
                }
            else:
                struct = (
                    serializer.create_struct
                    if action == "bulk_create"
                    else (serializer.update_struct)
                )
                body = {"type": "array", "items": self._ref(struct)}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
            results = _json(_BULK_RESULTS, "One result per item")
            responses["201" if action == "bulk_create" else "200"] = results
            responses["207"] = _json(_BULK_RESULTS, "Some items failed")
            responses["400"] = _problem("400")
        elif action == "retrieve":
            responses["200"] = _json(read, "OK")
        elif action == "destroy":
            responses["204"] = {"description": "Deleted"}
            responses["409"] = _problem("409")
        if endpoint.detail:
            responses["404"] = _problem("404")
        permissions = view.permission_classes
        if any(p is not AllowAny for p in permissions):
            responses["401"] = _problem("401")
            responses["403"] = _problem("403")
            if self.security_schemes:
                # Any one scheme will do; {} keeps anonymous reads documented as allowed.
                operation["security"] = [{name: []} for name in self.security_schemes] + [{}]
        if view.throttle_classes:
            responses["429"] = _problem("429")
        if params:
            operation["parameters"] = params
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _envelope(self, view: GenericViewSet, item: dict[str, Any]) -> dict[str, Any]:
        pagination = view.pagination_class
        if pagination is None:
            return {"type": "array", "items": item}
        link = {"type": ["string", "null"]}
        properties: dict[str, Any] = {"results": {"type": "array", "items": item}}
        if issubclass(pagination, PageNumberPagination):
            properties = {"count": {"type": "integer"}, **properties}
        properties.update(next=link, previous=link)
        return {"type": "object", "properties": properties, "required": list(properties)}

    def _list_parameters(self, view: GenericViewSet) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = []

        def query(name: str, schema: dict[str, Any], description: str) -> None:
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": description,
                }
            )

        pagination = view.pagination_class
        if pagination is not None and issubclass(pagination, CursorPagination):
            query(pagination.cursor_query_param, {"type": "string"}, "Opaque page cursor")
        if pagination is not None and issubclass(pagination, PageNumberPagination):
            query(pagination.page_query_param, {"type": "integer", "minimum": 1}, "Page number")
        size_param = getattr(pagination, "page_size_query_param", None)
        if pagination is not None and size_param:
            maximum = getattr(pagination, "max_page_size", None)
            query(
                size_param,
                {"type": "integer", "minimum": 1, "maximum": maximum},
                f"Rows per page (at most {maximum})",
            )
        spec = normalize_filterset_fields(
            type(view).get_model(), view.filterset_fields, type(view).__qualname__
        )
        for name, (_, lookup, value_type) in spec.items():
            if lookup == "isnull":
                schema: dict[str, Any] = {"type": "boolean"}
            elif lookup == "in":
                schema = {"type": "string", "description": "Comma-separated values"}
            else:
                schema = msgspec.json.schema(value_type)
                schema.pop("$defs", None)
                if "$ref" in schema:
                    schema = {"type": "string"}
            query(name, schema, f"Filter: `{lookup}`")
        if view.search_fields:
            fields = ", ".join(f.lstrip("@$") for f in view.search_fields)
            query(view.search_param, {"type": "string"}, f"Words to find in: {fields}")
        if view.ordering_fields:
            allowed = ", ".join(view.ordering_fields)
            query(
                view.ordering_param,
                {"type": "string"},
                f"Comma-separated fields, `-` for descending; allowed: {allowed}",
            )
        return params

    # -- serving -------------------------------------------------------------------------

    async def serve_document(self, request: Request) -> Response:
        """The ``/openapi.json`` handler: cached bytes."""
        return Response(self.document_bytes(), media_type="application/json")

    async def serve_docs(self, request: Request) -> Response:
        """The docs page: Swagger UI from the installed package."""
        assets = f"{self.docs_path}/assets"
        title = html.escape(self.title)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title}</title>"
            f"<link rel='stylesheet' href='{assets}/swagger-ui.css'></head><body>"
            "<div id='swagger-ui'></div>"
            f"<script src='{assets}/swagger-ui-bundle.js'></script>"
            f"<script>window.ui = SwaggerUIBundle({{url: {encode_json(self.path).decode()}, "
            "dom_id: '#swagger-ui'});</script></body></html>"
        )
        return Response(page, media_type="text/html")

    @property
    def routes(self) -> list[BaseRoute]:
        """The JSON route and, with ``docs_path``, the page and its static assets."""
        routes: list[BaseRoute] = [
            HandlerRoute(self.path, self.serve_document, methods=["GET"], include_in_schema=False)
        ]
        if self.docs_path is not None:
            bundle = importlib.import_module("swagger_ui_bundle")
            routes.append(
                HandlerRoute(
                    self.docs_path, self.serve_docs, methods=["GET"], include_in_schema=False
                )
            )
            routes.append(
                Mount(
                    f"{self.docs_path}/assets",
                    app=StaticFiles(directory=bundle.swagger_ui_path),
                    name="openapi-docs-assets",
                )
            )
        return routes


def _offline_view(viewset: type[GenericViewSet], action: str) -> GenericViewSet:
    # Per-action hooks (get_serializer_class reading self.action) need an instance; the
    # document is built outside any request, so there is none to pass.
    view = viewset.__new__(viewset)
    view.__dict__.update(
        request=None,
        action=action,
        kwargs={},
        _overrides={},
        _rate_headers={},
        current_ordering=None,
        _paginator=None,
    )
    info = getattr(getattr(viewset, action), "action_info", None)
    if info is not None:
        view.__dict__["_overrides"] = dict(info.kwargs)
        view.__dict__.update(info.kwargs)
    return view


def _path_parameters(path: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for name, converter in _CONVERTER.findall(path):
        schema = _PATH_SCHEMAS.get(converter or "str", {"type": "string"})
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(r"{\1}", path), parameters


def mount_openapi(app: App, **options: Any) -> OpenAPI:
    """Serve ``app``'s OpenAPI document (and docs page); see ``OpenAPI`` for options.

    Returns:
        The ``OpenAPI`` object (``invalidate()`` it after changing routes).
    """
    openapi = OpenAPI(app, **options)
    app.include(openapi.routes)
    return openapi
