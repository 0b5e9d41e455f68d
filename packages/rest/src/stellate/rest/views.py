"""Class-based API views: ``APIView`` for bespoke endpoints, ``GenericViewSet`` for models.

A view instance lives for one request. ``dispatch`` runs the permission and throttle
checks, calls the handler, and renders every error the handler raises (``APIException``,
``HTTPException``, stellate-orm validation and integrity errors) as one
``application/problem+json`` shape.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response as StarletteResponse

from stellate.core.responses import to_response
from stellate.core.routing import HandlerRoute
from stellate.rest.exceptions import (
    APIException,
    MethodNotAllowed,
    NotAuthenticated,
    PermissionDenied,
    as_api_exception,
    render_exception,
)
from stellate.rest.permissions import BasePermission, IsAuthenticated, is_authenticated

if TYPE_CHECKING:
    from stellate.core.requests import Request
    from stellate.rest.throttling import BaseThrottle

__all__ = ["ALL_METHODS", "APIView", "ActionInfo", "action"]

#: Every method a view route accepts (the view answers 405 for those it lacks).
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Handler = Callable[..., Awaitable[Any]]
_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class ActionInfo:
    """What ``@action`` records on a viewset method (read by the router and OpenAPI)."""

    __slots__ = ("detail", "kwargs", "methods", "name", "url_name", "url_path")

    def __init__(
        self,
        name: str,
        methods: Sequence[str],
        detail: bool,
        url_path: str,
        url_name: str,
        kwargs: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.methods = tuple(m.upper() for m in methods)
        self.detail = detail
        self.url_path = url_path
        self.url_name = url_name
        self.kwargs = dict(kwargs)


def action(
    *,
    methods: Sequence[str] = ("GET",),
    detail: bool,
    url_path: str | None = None,
    url_name: str | None = None,
    **overrides: Any,
) -> Callable[[Handler], Handler]:
    """Mark a viewset method as an extra endpoint routed by the ``Router``.

    Args:
        methods: HTTP methods it answers.
        detail: ``True`` for ``/<prefix>/{pk}/<url_path>/``, ``False`` for
            ``/<prefix>/<url_path>/``.
        url_path: The URL segment (the method name by default).
        url_name: The route name suffix (``url_path`` by default).
        **overrides: View attributes for this action only, e.g.
            ``permission_classes=[IsAdminUser]`` or ``serializer_class=...``.

    Example:
        ```python
        class BookViewSet(ModelViewSet):
            @action(methods=["GET"], detail=False, url_path="enriched")
            async def list_enriched(self, request, **kwargs):
                ...
        ```
    """
    allowed = {m.upper() for m in methods}
    unknown = allowed - {m.upper() for m in _HTTP_METHODS}
    if unknown:
        raise ValueError(
            f"@action(methods=...) has unknown HTTP methods {sorted(unknown)}; use GET, POST, "
            "PUT, PATCH or DELETE"
        )

    def decorator(func: Handler) -> Handler:
        path = url_path or func.__name__
        func.action_info = ActionInfo(  # type: ignore[attr-defined]
            func.__name__, methods, detail, path.strip("/"), url_name or path, overrides
        )
        return func

    return decorator


class APIView:
    """A class-based endpoint: define ``async def get(self, request, **kwargs)`` etc.

    Class attributes:
        permission_classes: Checked before the handler (all must allow).
            ``(IsAuthenticated,)`` by default: open an endpoint up deliberately with
            ``(AllowAny,)`` or ``(IsAuthenticatedOrReadOnly,)``, so no write endpoint
            ships unauthenticated by accident.
        throttle_classes: Rate limits checked before the handler.

    Example:
        ```python
        class Stats(APIView):
            permission_classes = [IsAdminUser]

            async def get(self, request: Request) -> dict[str, int]:
                return {"books": await Book.objects.count()}

        app.add_route("/api/stats", Stats.as_view())
        ```
    """

    permission_classes: ClassVar[Sequence[type[BasePermission]]] = (IsAuthenticated,)
    throttle_classes: ClassVar[Sequence[type[BaseThrottle]]] = ()
    #: The ``WWW-Authenticate`` challenge sent with 401 answers (e.g. ``'Bearer'`` or
    #: ``'Cookie realm="api"'``); set it to the scheme your auth middleware accepts.
    www_authenticate: ClassVar[str | None] = None

    def __init__(self, request: Request, action: str | None = None) -> None:
        self.request = request
        self.action = action
        self.kwargs: dict[str, Any] = {}
        self._overrides: dict[str, Any] = {}
        self._rate_headers: dict[str, str] = {}

    @classmethod
    def as_view(cls, actions: Mapping[str, str] | None = None) -> Handler:
        """A route handler ``(request, **path_params)`` running this view.

        Args:
            actions: HTTP method to handler-method name (``{"get": "list"}``); by default
                the view's own ``get``/``post``/... methods.
        """
        if actions is None:
            mapping = {m.upper(): m for m in _HTTP_METHODS if callable(getattr(cls, m, None))}
        else:
            mapping = {method.upper(): name for method, name in actions.items()}
        for method, name in mapping.items():
            if not callable(getattr(cls, name, None)):
                raise TypeError(
                    f"`{cls.__qualname__}` has no method `{name}` for {method}: define it or "
                    "remove it from the action map"
                )
        if "GET" in mapping and "HEAD" not in mapping:
            mapping["HEAD"] = mapping["GET"]
        allow = ", ".join(sorted(mapping))

        async def handler(request: Request, **kwargs: Any) -> StarletteResponse:
            name = mapping.get(request.method)
            view = cls(request, name)
            if name is None:
                return view.handle_exception(
                    MethodNotAllowed(
                        f"Method `{request.method}` is not allowed here; allowed: {allow}",
                        headers={"Allow": allow},
                    )
                )
            return await view.dispatch(request, **kwargs)

        handler.view_class = cls  # type: ignore[attr-defined]
        handler.actions = dict(mapping)  # type: ignore[attr-defined]
        return handler

    @classmethod
    def as_route(cls, path: str, *, name: str | None = None) -> HandlerRoute:
        """A route for ``path`` that sends every HTTP method to this view.

        Unlike ``app.add_route(path, View.as_view())`` (GET only unless ``methods=``
        is given), the view itself answers methods it lacks with a 405 and ``Allow``.

        Example:
            ``app.include([Stats.as_route("/api/stats")])``
        """
        return HandlerRoute(path, cls.as_view(), methods=ALL_METHODS, name=name)

    async def dispatch(self, request: Request, **kwargs: Any) -> StarletteResponse:
        """Check permissions and throttles, run the handler, render errors."""
        self.kwargs = kwargs
        name = self.action or request.method.lower()
        method = getattr(self, name)
        info: ActionInfo | None = getattr(method, "action_info", None)
        if info is not None and info.kwargs:
            # `@action(permission_classes=...)`: instance attributes shadow the class's
            # for this request only.
            self._overrides = info.kwargs
            self.__dict__.update(info.kwargs)
        try:
            await self.initial(request)
            if inspect.iscoroutinefunction(method):
                result = await method(request, **kwargs)
            else:
                # As core routes do: a synchronous handler must not block the event loop.
                result = await run_in_threadpool(method, request, **kwargs)
            response = to_response(result)
        except Exception as exc:
            return self.handle_exception(exc)
        if self._rate_headers:
            response.headers.update(self._rate_headers)
        return response

    async def initial(self, request: Request) -> None:
        """Run before the handler: permission checks, then throttles."""
        self.check_permissions(request)
        await self.check_throttles(request)

    def get_permissions(self) -> list[BasePermission]:
        """Instances of ``permission_classes``."""
        return [permission() for permission in self.permission_classes]

    def check_permissions(self, request: Request) -> None:
        """Raise ``NotAuthenticated`` (401) or ``PermissionDenied`` (403) when refused."""
        for permission in self.get_permissions():
            if not permission.has_permission(request, self):
                self.permission_denied(request, permission)

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        """Raise ``PermissionDenied`` when a permission refuses ``obj``."""
        for permission in self.get_permissions():
            if not permission.has_object_permission(request, self, obj):
                self.permission_denied(request, permission)

    def permission_denied(self, request: Request, permission: BasePermission) -> typing.NoReturn:
        """Refuse: 401 for anonymous requests a login would fix, else 403."""
        if permission.requires_authentication and not is_authenticated(request.user):
            challenge = self.www_authenticate
            raise NotAuthenticated(headers={"WWW-Authenticate": challenge} if challenge else None)
        raise PermissionDenied(permission.message)

    async def check_throttles(self, request: Request) -> None:
        """Raise ``Throttled`` (429) when a throttle refuses the request.

        The ``RateLimit-*`` headers of the throttle with the fewest requests left go on
        the response.
        """
        tightest: int | None = None
        for throttle_class in self.throttle_classes:
            headers = await throttle_class().check(request, self)
            remaining = headers.get("RateLimit-Remaining")
            if remaining is not None and (tightest is None or int(remaining) < tightest):
                tightest = int(remaining)
                self._rate_headers = headers

    def handle_exception(self, exc: Exception) -> StarletteResponse:
        """Render ``exc`` as problem details; unknown errors propagate (500)."""
        api: APIException | None = as_api_exception(exc)
        if api is None:
            raise exc
        return render_exception(api)
