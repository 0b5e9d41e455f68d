"""``AdminSite``: the models registered with one app's admin, its templates and routes.

Each app has its own site (``app.admin``, added by the ``admin`` plugin): there is no
global registry. Routes are added once when the plugin is set up and look models up
in the site at request time, so models may be registered after ``App(...)``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse, Response

from stellate.admin.options import ModelAdmin, describe_object
from stellate.auth.csrf import SESSION_SCOPE_KEY, csrf_token
from stellate.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from stellate.admin.access import Access
    from stellate.core import Request
    from stellate.core.storage import Storage
    from stellate.orm import Field, Model

__all__ = ["AdminPage", "AdminSite"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
FLASH_COOKIE = "stellate_admin_messages"
AdminT = TypeVar("AdminT", bound=type[ModelAdmin])
PageHandler = Callable[["Request"], Awaitable[Response]]


@dataclass(slots=True, frozen=True)
class AdminPage:
    """A custom page of the admin (see :meth:`AdminSite.add_page`)."""

    name: str
    title: str
    handler: PageHandler
    permission: str | None

    def url(self, prefix: str) -> str:
        return f"{prefix}/pages/{self.name}/"


class AdminSite:
    """The admin of one app: registered models, templates, custom pages.

    Args:
        prefix: the URL prefix (``/admin``).
        title: shown in the header and page titles.
        template_dirs: folders searched before the built-in templates, so
            ``admin/base.html`` or ``admin/<app>/<model>/change_form.html`` there wins.
        reload_templates: check template files for changes on every render (the
            plugin turns it on with ``STELLATE_DEBUG``); off, each is read once.
        storage: where file fields' uploads go (``FileSystemStorage``...); a model
            admin's own ``storage`` wins. Set it before registering models with files.

    Example:
        ```python
        app = App(plugins=["orm", "auth", "admin"])
        app.admin.register(Author)

        @app.admin.register(Book)
        class BookAdmin(ModelAdmin):
            list_display = ["title", "author_id", "price"]
            search_fields = ["title", "author__name"]
        ```
    """

    def __init__(
        self,
        *,
        prefix: str = "/admin",
        title: str = "Stellate admin",
        template_dirs: Sequence[str | Path] = (),
        reload_templates: bool = False,
        storage: Storage | None = None,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.title = title
        self._registry: dict[tuple[str, str], ModelAdmin] = {}
        self._by_model: dict[type[Model], ModelAdmin] = {}
        self._unresolved: dict[type[Model], ImproperlyConfigured] = {}
        self.pages: dict[str, AdminPage] = {}
        self.storage = storage
        loaders: list[jinja2.BaseLoader] = [
            jinja2.FileSystemLoader([str(d) for d in template_dirs]),
            jinja2.FileSystemLoader(str(TEMPLATES)),
        ]
        self.templates = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=reload_templates,
        )

    # -- registration ----------------------------------------------------------------------

    @overload
    def register(
        self, model: type[Model], admin_class: None = None
    ) -> Callable[[AdminT], AdminT]: ...

    @overload
    def register(self, model: type[Model], admin_class: type[ModelAdmin]) -> ModelAdmin: ...

    def register(
        self, model: type[Model], admin_class: type[ModelAdmin] | None = None
    ) -> ModelAdmin | Callable[[AdminT], AdminT]:
        """Add ``model`` to the admin, with defaults or with ``admin_class``.

        ``site.register(Book)`` registers it at once with defaults;
        ``site.register(Book, BookAdmin)`` with options; ``@site.register(Book)`` on a
        ``ModelAdmin`` subclass does the same as a decorator.

        Raises:
            ImproperlyConfigured: the model is registered twice, abstract, or the
                options name fields the model does not have.
        """
        if admin_class is not None:
            return self._add(model, admin_class)
        registered: ModelAdmin | None = None
        try:
            registered = self._add(model, ModelAdmin)
        except ImproperlyConfigured as exc:
            # The defaults may not fit (file fields without a storage, say) while the
            # decorated class's options do: the error waits for that class, and
            # `check()` (run at startup) raises it if none came.
            self._unresolved[model] = exc

        def decorate(cls: AdminT) -> AdminT:
            if registered is not None:
                self._remove(registered)
            self._unresolved.pop(model, None)
            self._add(model, cls)
            return cls

        return decorate

    def check(self) -> None:
        """Raise the problems of ``register(Model)`` calls whose defaults did not fit.

        Raises:
            ImproperlyConfigured: naming each model; pass a ``ModelAdmin`` that fixes it.
        """
        if self._unresolved:
            raise ImproperlyConfigured(
                "; ".join(
                    f"`{model.__name__}` was registered with the default ModelAdmin, which "
                    f"does not fit: {exc}"
                    for model, exc in self._unresolved.items()
                )
            )

    def _add(self, model: type[Model], admin_class: type[ModelAdmin]) -> ModelAdmin:
        if model._meta.abstract:
            raise ImproperlyConfigured(
                f"`{model.__name__}` is abstract: register its concrete subclasses instead"
            )
        if model in self._by_model:
            raise ImproperlyConfigured(
                f"`{model.__name__}` is already registered with this admin: register it once"
            )
        admin = admin_class(model, self)
        key = (admin.app_label, admin.model_name)
        if key in self._registry:
            raise ImproperlyConfigured(
                f"Two models map to `{self.prefix}/{key[0]}/{key[1]}/`: "
                f"`{self._registry[key].model.__module__}.{model.__name__}` and "
                f"`{model.__module__}.{model.__name__}`; register only one"
            )
        self._registry[key] = admin
        self._by_model[model] = admin
        return admin

    def _remove(self, admin: ModelAdmin) -> None:
        del self._registry[(admin.app_label, admin.model_name)]
        del self._by_model[admin.model]

    def is_registered(self, model: type[Model]) -> bool:
        """Whether ``model`` has a page in this admin."""
        return model in self._by_model

    def admin_for(self, model: type[Model]) -> ModelAdmin | None:
        """The ``ModelAdmin`` of ``model``, or ``None`` when it is not registered."""
        return self._by_model.get(model)

    def get(self, app_label: str, model_name: str) -> ModelAdmin | None:
        """The ``ModelAdmin`` served at ``/<prefix>/<app_label>/<model_name>/``."""
        return self._registry.get((app_label, model_name))

    @property
    def model_admins(self) -> list[ModelAdmin]:
        """Every registered admin, by package then model name."""
        return sorted(self._registry.values(), key=lambda a: (a.app_label, a.model_name))

    def add_page(
        self,
        name: str,
        handler: PageHandler,
        *,
        title: str,
        permission: str | None = None,
    ) -> AdminPage:
        """Serve ``handler`` at ``/<prefix>/pages/<name>/`` for staff, listed on the dashboard.

        The handler gets the request and returns a response; :meth:`render` draws a
        template that extends ``admin/base.html``.

        Args:
            name: the URL segment (letters, digits, ``-``, ``_``).
            handler: ``async def page(request) -> Response`` (GET and POST).
            title: the link text on the dashboard.
            permission: a codename the user must hold (superusers hold all).

        Example:
            ```python
            async def sales(request):
                return app.admin.render(request, "sales.html", {"title": "Sales"})

            app.admin.add_page("sales", sales, title="Sales report")
            ```
        """
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ImproperlyConfigured(
                f"Admin page name `{name}` must be letters, digits, `-` or `_`"
            )
        if name in self.pages:
            raise ImproperlyConfigured(f"Admin page `{name}` is added twice: choose another name")
        page = AdminPage(name=name, title=title, handler=handler, permission=permission)
        self.pages[name] = page
        return page

    # -- helpers for views and templates ---------------------------------------------------

    def label(self, obj: Model) -> str:
        """The display text of ``obj`` (its admin's ``object_label`` when registered)."""
        admin = self._by_model.get(type(obj))
        return admin.object_label(obj) if admin is not None else describe_object(obj)

    async def related_choices(self, field: Field, limit: int) -> list[tuple[str, str]]:
        """``(pk text, label)`` of the first ``limit`` rows a foreign key may point at."""
        related = field.related_model
        rows = await related.objects.order_by(related._meta.pk.name).limit(limit)
        return [(str(row.pk), self.label(row)) for row in rows]

    def render(
        self,
        request: Request,
        template: str | Sequence[str],
        context: dict[str, Any],
        *,
        status: int = 200,
    ) -> HTMLResponse:
        """Render an admin template (first found of ``template``) as an HTML response.

        The context also gets ``site``, ``request``, ``user``, ``csrf_input`` (a hidden
        field, empty for anonymous requests), flash ``messages`` and ``prefix``.
        """
        names = [template] if isinstance(template, str) else [t for t in template if t]
        page = self.templates.select_template(names)
        messages = read_flash(request)
        full = {
            "site": self,
            "request": request,
            "user": request.scope.get("user"),
            "prefix": self.prefix,
            "csrf_token": csrf_value(request),
            "messages": messages,
            "breadcrumbs": [],
            "nav_models": context.pop("nav_models", None),
            **context,
        }
        response = HTMLResponse(page.render(full), status_code=status)
        if messages:
            response.delete_cookie(FLASH_COOKIE, path=self.prefix or "/")
        response.headers["Cache-Control"] = "no-store"
        return response

    def redirect(
        self, url: str, *, message: str | None = None, level: str = "success"
    ) -> RedirectResponse:
        """A 303 redirect to ``url`` carrying an optional flash message."""
        response = RedirectResponse(url, status_code=303)
        if message is not None:
            add_flash(response, self.prefix or "/", message, level)
        return response

    def nav(self, access: Access) -> list[tuple[str, list[ModelAdmin]]]:
        """The models ``access`` may view, grouped by package."""
        groups: dict[str, list[ModelAdmin]] = {}
        for admin in self.model_admins:
            if access.can(admin, "view"):
                groups.setdefault(admin.app_label, []).append(admin)
        return list(groups.items())


def csrf_value(request: Request) -> str:
    """A CSRF token for a form of this request ("" when anonymous: no session to bind)."""
    if request.scope.get(SESSION_SCOPE_KEY) is None:
        return ""
    return csrf_token(request)


# Flash messages ride a cookie scoped to the admin and are dropped when shown. The
# text is rendered escaped, so a forged cookie can only put words on its own screen.
def add_flash(response: Response, path: str, message: str, level: str) -> None:
    data = json.dumps([[level, message[:500]]]).encode()
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(data).decode(),
        path=path,
        httponly=True,
        samesite="lax",
        max_age=300,
    )


def read_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return [
            (str(level), str(text))
            for level, text in data
            if level in ("success", "error", "info", "warning")
        ][:5]
    except (ValueError, TypeError):
        return []
