"""The admin's pages: login, dashboard, change list, forms, delete, history, search."""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.responses import FileResponse, JSONResponse, Response

from stellate.admin import editing, forms
from stellate.admin.access import Access, load_access
from stellate.admin.changelist import ChangeList
from stellate.admin.deletion import collect_deletion
from stellate.admin.forms import InputError
from stellate.admin.log import AdminAction, AdminLogEntry, record_action
from stellate.admin.options import ModelAdmin
from stellate.admin.site import STATIC
from stellate.auth.security import SecurityEvent, client_ip
from stellate.auth.signals import user_logged_in, user_logged_out, user_login_failed
from stellate.orm import IntegrityError, Q, get_db

if TYPE_CHECKING:
    from pathlib import Path

    from stellate.admin.site import AdminSite
    from stellate.core import App, Request
    from stellate.orm import Model

__all__ = ["add_admin_routes"]

View = Callable[..., Awaitable[Response]]
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}
_RECENT_ACTIONS = 10
_AUTOCOMPLETE_LIMIT = 20


def add_admin_routes(app: App, site: AdminSite) -> None:
    """Register every admin route under ``site.prefix`` on ``app``."""
    p = site.prefix
    views = _Views(site)
    app.add_route(f"{p}/", views.dashboard, methods=["GET"], include_in_schema=False)
    app.add_route(f"{p}/login/", views.login, methods=["GET", "POST"], include_in_schema=False)
    app.add_route(f"{p}/logout/", views.logout, methods=["POST"], include_in_schema=False)
    app.add_route(f"{p}/static/{{name}}", views.static, methods=["GET"], include_in_schema=False)
    app.add_route(
        f"{p}/pages/{{name}}/", views.page, methods=["GET", "POST"], include_in_schema=False
    )
    model = f"{p}/{{app_label}}/{{model_name}}"
    app.add_route(f"{model}/", views.changelist, methods=["GET", "POST"], include_in_schema=False)
    app.add_route(f"{model}/add/", views.add, methods=["GET", "POST"], include_in_schema=False)
    app.add_route(
        f"{model}/autocomplete/", views.autocomplete, methods=["GET"], include_in_schema=False
    )
    app.add_route(
        f"{model}/{{object_id}}/change/",
        views.change,
        methods=["GET", "POST"],
        include_in_schema=False,
    )
    app.add_route(
        f"{model}/{{object_id}}/delete/",
        views.delete,
        methods=["GET", "POST"],
        include_in_schema=False,
    )
    app.add_route(
        f"{model}/{{object_id}}/history/", views.history, methods=["GET"], include_in_schema=False
    )


def _staff(view: View) -> View:
    """Run ``view(self, request, access, ...)`` for staff; anonymous users go to the login."""

    @functools.wraps(view)
    async def wrapper(self: _Views, request: Request, **params: Any) -> Response:
        access = await load_access(request)
        if access is None:
            if isinstance(request.scope.get("user"), dict):
                return self.error(request, 403, "Your account is not staff: ask an administrator.")
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return self.site.redirect(f"{self.site.prefix}/login/?next={target}")
        return await view(self, request, access, **params)

    return wrapper


class _Views:
    def __init__(self, site: AdminSite) -> None:
        self.site = site

    # -- helpers ----------------------------------------------------------------------------

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.site.render(
            request,
            "admin/error.html",
            {
                "title": {403: "Permission denied", 404: "Not found"}.get(status, "Error"),
                "message": message,
            },
            status=status,
        )

    def model_admin(
        self, request: Request, access: Access, app_label: str, model_name: str, verb: str
    ) -> ModelAdmin | Response:
        """The admin served at this URL if the user may ``verb`` it, else the error page."""
        admin = self.site.get(app_label, model_name)
        if admin is None:
            return self.error(request, 404, f"No model is registered at `{request.url.path}`.")
        if not access.can(admin, verb):
            noun = admin.verbose_name.lower()
            return self.error(request, 403, f"You may not {verb} {noun} rows.")
        return admin

    def base_context(self, access: Access, admin: ModelAdmin | None = None) -> dict[str, Any]:
        crumbs: list[tuple[str, str]] = [("Home", f"{self.site.prefix}/")]
        if admin is not None:
            crumbs.append(
                (admin.app_label.capitalize(), f"{self.site.prefix}/#app-{admin.app_label}")
            )
            crumbs.append((admin.verbose_name + " list", admin.url))
        return {
            "access": access,
            "nav_models": self.site.nav(access),
            "breadcrumbs": crumbs,
            "opts": admin,
            "can": (
                {verb: access.can(admin, verb) for verb in ("view", "add", "change", "delete")}
                if admin is not None
                else {}
            ),
        }

    def templates(self, admin: ModelAdmin, page: str, override: str | None) -> list[str]:
        return [
            override or "",
            f"admin/{admin.app_label}/{admin.model_name}/{page}.html",
            f"admin/{admin.app_label}/{page}.html",
            f"admin/{page}.html",
        ]

    async def get_object(self, admin: ModelAdmin, request: Request, object_id: str) -> Model | None:
        try:
            pk = forms.parse_value(admin.model._meta.pk, object_id)
        except InputError:
            return None
        qs = admin.get_queryset(request)
        if admin.related_columns:
            qs = qs.select_related(*admin.related_columns)
        return await qs.filter(**{admin.pk_name: pk}).first()

    # -- static files, login, logout ------------------------------------------------------

    async def static(self, request: Request, name: str) -> Response:
        path = STATIC / name
        if "/" in name or "\x00" in name or name.startswith(".") or not _is_file(path):
            return Response("Not found", status_code=404, media_type="text/plain")
        return FileResponse(
            path,
            media_type=_STATIC_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def login(self, request: Request) -> Response:
        site = self.site
        next_url = _safe_next(request.query_params.get("next"), site.prefix)
        user = request.scope.get("user")
        if request.method == "GET":
            if isinstance(user, dict) and user.get("is_staff"):
                return site.redirect(next_url)
            return site.render(
                request,
                "admin/login.html",
                {"title": "Log in", "next": next_url, "username": "", "error": ""},
            )
        form = await request.form()
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        next_url = _safe_next(str(form.get("next") or ""), site.prefix)
        auth = request.app.auth
        ip = client_ip(request)

        def again(message: str, status: int) -> Response:
            return site.render(
                request,
                "admin/login.html",
                {"title": "Log in", "next": next_url, "username": username, "error": message},
                status=status,
            )

        if not username or not password:
            return again("Enter your username and password.", 400)
        if "\x00" in username:
            # No account has one, and PostgreSQL text cannot hold it: refuse before any query.
            return again("A username cannot contain the NUL character.", 400)
        wait = await auth.throttle.retry_after(ip, username)
        if wait is not None:
            await auth.security_log.log_from_request(
                SecurityEvent.RATE_LIMIT_HIT, request, detail=f"admin login user={username[:64]}"
            )
            response = again(f"Too many failed logins: try again in {wait} seconds.", 429)
            response.headers["Retry-After"] = str(wait)
            return response
        record, _ = await auth.users.authenticate(username, password)
        if record is None or not record.is_staff or not record.is_active:
            await auth.throttle.failure(ip, username)
            await auth.security_log.log_from_request(
                SecurityEvent.LOGIN_FAILED, request, detail=f"admin user={username[:64]}"
            )
            await user_login_failed.send(request.app, request=request, username=username)
            return again(
                "Enter the username and password of a staff account (both are case-sensitive "
                "for the password).",
                401,
            )
        await auth.throttle.success(username)
        await auth.users.record_login(record)
        await auth.sessions.login(request, record.principal())
        await auth.security_log.log_from_request(
            SecurityEvent.LOGIN_SUCCESS, request, user_id=record.id
        )
        await user_logged_in.send(request.app, request=request, user=record)
        return site.redirect(next_url)

    async def logout(self, request: Request) -> Response:
        user = request.scope.get("user")
        auth = request.app.auth
        if await auth.sessions.logout(request) and isinstance(user, dict):
            await auth.security_log.log_from_request(
                SecurityEvent.LOGOUT, request, user_id=user["id"]
            )
            await user_logged_out.send(request.app, request=request, user=user)
        return self.site.redirect(
            f"{self.site.prefix}/login/", message="You are logged out.", level="info"
        )

    # -- dashboard and custom pages ---------------------------------------------------------

    @_staff
    async def dashboard(self, request: Request, access: Access) -> Response:
        site = self.site
        groups = site.nav(access)
        tables = [admin.model._meta.table for _, admins in groups for admin in admins]
        estimates: dict[str, int] = {}
        if tables:
            # pg_class.reltuples: the planner's estimate, free to read on any table size
            # (-1 until the table is first analysed or vacuumed).
            rows = await get_db().fetch(
                "SELECT c.relname, c.reltuples::bigint AS estimate FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p') "
                "AND n.nspname = ANY(current_schemas(false))",
                tables,
            )
            estimates = {row["relname"]: int(row["estimate"]) for row in rows}
        recent = (
            await AdminLogEntry.objects.filter(user_id=access.user.id)
            .order_by("-id")
            .limit(_RECENT_ACTIONS)
        )
        pages = [page for page in site.pages.values() if access.holds(page.permission)]
        context = self.base_context(access)
        context["breadcrumbs"] = []
        context.update(
            title="Site administration",
            groups=[
                (
                    label,
                    [
                        (
                            admin,
                            estimates.get(admin.model._meta.table, -1),
                            access.can(admin, "add"),
                        )
                        for admin in admins
                    ],
                )
                for label, admins in groups
            ],
            recent=recent,
            recent_urls={entry.id: self._entry_url(entry) for entry in recent},
            pages=pages,
        )
        return site.render(request, "admin/dashboard.html", context)

    def _entry_url(self, entry: AdminLogEntry) -> str:
        admin = self.site.get(entry.app_label, entry.model_name)
        if admin is None or entry.action == AdminAction.DELETE:
            return ""
        return admin.object_url(entry.object_id)

    @_staff
    async def page(self, request: Request, access: Access, name: str) -> Response:
        page = self.site.pages.get(name)
        if page is None:
            return self.error(request, 404, f"There is no admin page `{name}`.")
        if not access.holds(page.permission):
            return self.error(request, 403, f"This page needs the permission `{page.permission}`.")
        return await page.handler(request)

    # -- change list and bulk actions ----------------------------------------------------

    @_staff
    async def changelist(
        self, request: Request, access: Access, app_label: str, model_name: str
    ) -> Response:
        admin = self.model_admin(request, access, app_label, model_name, "view")
        if not isinstance(admin, ModelAdmin):
            return admin
        if request.method == "POST":
            return await self.run_action(request, access, admin)
        listing = ChangeList(admin, request)
        await listing.load(self.site)
        context = self.base_context(access, admin)
        context["breadcrumbs"] = context["breadcrumbs"][:-1]
        context.update(
            title=f"{admin.verbose_name} list",
            cl=listing,
            actions=self.actions_for(access, admin),
        )
        status = 400 if listing.errors else 200
        return self.site.render(
            request,
            self.templates(admin, "change_list", admin.change_list_template),
            context,
            status=status,
        )

    def actions_for(self, access: Access, admin: ModelAdmin) -> list[tuple[str, str]]:
        actions: list[tuple[str, str]] = []
        if access.can(admin, "delete"):
            actions.append(
                ("delete_selected", f"Delete selected {admin.verbose_name.lower()} rows")
            )
        for name, function in admin.action_map.items():
            needed = getattr(function, "allowed_permissions", ("change",))
            if all(access.can(admin, verb) for verb in needed):
                actions.append((name, str(getattr(function, "short_description", name))))
        return actions

    async def run_action(self, request: Request, access: Access, admin: ModelAdmin) -> Response:
        form = await request.form()
        name = str(form.get("action") or "")
        allowed = dict(self.actions_for(access, admin))
        if name not in allowed:
            known = name == "delete_selected" or name in admin.action_map
            return self.error(
                request,
                403 if known else 400,
                f"You may not run `{name}` here." if known else f"Unknown action `{name}`.",
            )
        keys: list[Any] = []
        for raw in form.getlist("_selected"):
            try:
                keys.append(forms.parse_value(admin.model._meta.pk, str(raw)))
            except InputError:
                return self.error(request, 400, f"`{raw}` is not a valid row id.")
        if not keys:
            return self.site.redirect(
                admin.url, message="Select at least one row, then an action.", level="warning"
            )
        qs = admin.get_queryset(request).filter(**{f"{admin.pk_name}__in": keys})
        if form.get("confirm") != "yes":
            objects = await qs.order_by(admin.pk_name).limit(len(keys))
            plan = await collect_deletion(admin, objects) if name == "delete_selected" else None
            context = self.base_context(access, admin)
            context.update(
                title="Are you sure?",
                action=name,
                action_label=allowed[name],
                objects=[(obj, admin.object_label(obj)) for obj in objects],
                plan=plan,
            )
            return self.site.render(request, "admin/action_confirmation.html", context)
        objects = await qs.order_by(admin.pk_name).limit(len(keys))
        if name == "delete_selected":
            return await self.delete_rows(request, access, admin, objects)
        function = admin.action_map[name]
        db = get_db(admin.model._meta.database)
        async with db.transaction():
            message = await function(admin, request, qs)
            await AdminLogEntry.objects.bulk_create(
                [
                    _entry(
                        access, admin, obj, AdminAction.CHANGE, message=f"Action: {allowed[name]}"
                    )
                    for obj in objects
                ]
            )
        return self.site.redirect(
            admin.url, message=message or f"{allowed[name]}: done for {len(objects)} row(s)."
        )

    async def delete_rows(
        self, request: Request, access: Access, admin: ModelAdmin, objects: list[Model]
    ) -> Response:
        if not objects:
            return self.site.redirect(admin.url, message="Nothing to delete.", level="warning")
        db = get_db(admin.model._meta.database)
        try:
            async with db.transaction():
                for obj in objects:
                    await admin.delete_model(request, obj)
                await AdminLogEntry.objects.bulk_create(
                    [_entry(access, admin, obj, AdminAction.DELETE) for obj in objects]
                )
        except IntegrityError as exc:
            return self.site.redirect(
                admin.url,
                message=f"Nothing was deleted: other rows still refer to these ({exc.detail}).",
                level="error",
            )
        return self.site.redirect(
            admin.url, message=f"Deleted {len(objects)} {admin.verbose_name.lower()} row(s)."
        )

    # -- search endpoint for foreign keys ------------------------------------------------

    @_staff
    async def autocomplete(
        self, request: Request, access: Access, app_label: str, model_name: str
    ) -> Response:
        admin = self.site.get(app_label, model_name)
        if admin is None:
            return JSONResponse({"detail": "No such model"}, status_code=404)
        if not access.can(admin, "view"):
            return JSONResponse({"detail": "Permission denied"}, status_code=403)
        text = (request.query_params.get("q") or "").strip()[:100].replace("\x00", "")
        qs = admin.get_queryset(request)
        if text:
            fields = [f for f in admin.search_fields if "__" not in f] or [
                f.name
                for f in admin.model._meta.field_list
                if forms.field_kind(f) in (forms.Kind.TEXT,) and f.name not in admin.secret
            ][:3]
            conditions = [Q(**{f"{name}__icontains": text}) for name in fields]
            with contextlib.suppress(InputError):
                pk = forms.parse_value(admin.model._meta.pk, text)
                conditions.append(Q(**{admin.pk_name: pk}))
            if not conditions:
                return JSONResponse({"results": []})
            condition = functools.reduce(operator.or_, conditions)
            qs = qs.filter(condition)
        rows = await qs.order_by(admin.pk_name).limit(_AUTOCOMPLETE_LIMIT)
        return JSONResponse(
            {"results": [{"id": str(row.pk), "text": admin.object_label(row)} for row in rows]}
        )

    # -- add and change -----------------------------------------------------------------

    @_staff
    async def add(
        self, request: Request, access: Access, app_label: str, model_name: str
    ) -> Response:
        admin = self.model_admin(request, access, app_label, model_name, "add")
        if not isinstance(admin, ModelAdmin):
            return admin
        return await self.edit(request, access, admin, None)

    @_staff
    async def change(
        self, request: Request, access: Access, app_label: str, model_name: str, object_id: str
    ) -> Response:
        admin = self.model_admin(request, access, app_label, model_name, "view")
        if not isinstance(admin, ModelAdmin):
            return admin
        obj = await self.get_object(admin, request, object_id)
        if obj is None:
            return self.error(
                request, 404, f"{admin.verbose_name} with id `{object_id[:100]}` does not exist."
            )
        if request.method == "POST" and not access.can(admin, "change"):
            return self.error(
                request, 403, f"You may not change {admin.verbose_name.lower()} rows."
            )
        return await self.edit(request, access, admin, obj)

    async def edit(
        self, request: Request, access: Access, admin: ModelAdmin, obj: Model | None
    ) -> Response:
        creating = obj is None
        read_only = not creating and not access.can(admin, "change")
        if request.method == "GET" or read_only:
            initial = dict(request.query_params.items()) if creating else None
            fieldsets = await editing.build_form(self.site, admin, obj, initial=initial)
            inlines = await editing.build_inlines(self.site, admin, obj)
            return self.form_page(
                request, access, admin, obj, fieldsets, inlines, None, 200, read_only=read_only
            )
        data = await request.form()
        # The heading keeps naming the row as stored, not as (mis)typed in the form.
        label = admin.object_label(obj) if obj is not None else ""
        result = await editing.parse_form(admin, data, creating=creating)
        await editing.parse_inlines(admin, data, result, obj)
        instance, changed = editing.apply_values(admin, obj, result)
        if result.ok:
            try:
                notes = await self.save(request, access, admin, instance, result, changed, creating)
            except IntegrityError as exc:
                editing.integrity_problem(admin, exc, result)
            else:
                return self.after_save(admin, instance, data, creating, notes)
        fieldsets = await editing.build_form(self.site, admin, obj, data=data, result=result)
        inlines = await editing.build_inlines(self.site, admin, obj, data=data, result=result)
        return self.form_page(
            request, access, admin, obj, fieldsets, inlines, result, 400, label=label
        )

    async def save(
        self,
        request: Request,
        access: Access,
        admin: ModelAdmin,
        obj: Model,
        result: editing.FormResult,
        changed: list[str],
        creating: bool,
    ) -> list[str]:
        meta = admin.model._meta
        db = get_db(meta.database)
        notes: list[str] = []
        async with db.transaction():
            if result.uploads or result.cleared:
                changed.extend(await editing.store_files(admin, obj, result))
            await admin.save_model(request, obj, creating=creating)
            for name, keys in result.many.items():
                m2m = meta.many_to_many[name]
                if not creating:
                    if name not in obj.__dict__:
                        await m2m.load([obj])
                    if {t.pk for t in obj.__dict__[name]} != set(keys):
                        changed.append(name)
                await m2m.set(obj, keys)
            notes = await editing.save_inlines(admin, result, obj)
            await record_action(
                access.user,
                app_label=admin.app_label,
                model_name=admin.model_name,
                object_id=obj.pk,
                object_repr=admin.object_label(obj),
                action=AdminAction.ADD if creating else AdminAction.CHANGE,
                changed_fields=[] if creating else changed,
                message="; ".join(notes),
            )
        return notes

    def after_save(
        self, admin: ModelAdmin, obj: Model, data: Any, creating: bool, notes: list[str]
    ) -> Response:
        label = admin.object_label(obj)
        verb = "added" if creating else "changed"
        message = f"The {admin.verbose_name.lower()} “{label}” was {verb}."
        if data.get("_continue") is not None:
            return self.site.redirect(
                admin.object_url(obj.pk), message=f"{message} You may edit it again below."
            )
        if data.get("_addanother") is not None:
            return self.site.redirect(
                f"{admin.url}add/", message=f"{message} You may add another below."
            )
        return self.site.redirect(admin.url, message=message)

    def form_page(
        self,
        request: Request,
        access: Access,
        admin: ModelAdmin,
        obj: Model | None,
        fieldsets: list[Any],
        inlines: list[editing.InlineForm],
        result: editing.FormResult | None,
        status: int,
        *,
        read_only: bool = False,
        label: str | None = None,
    ) -> Response:
        context = self.base_context(access, admin)
        if label is None:
            label = admin.object_label(obj) if obj is not None else ""
        title = (
            f"Add {admin.verbose_name.lower()}"
            if obj is None
            else (f"{'View' if read_only else 'Change'} {admin.verbose_name.lower()}")
        )
        error_count = 0
        if result is not None:
            error_count = len(result.errors) + len(result.general) + len(result.inline_errors)
        context.update(
            title=title,
            obj=obj,
            object_label=label,
            fieldsets=fieldsets,
            inlines=inlines,
            general_errors=result.general if result is not None else [],
            error_count=error_count,
            read_only=read_only,
            action_url=admin.object_url(obj.pk) if obj is not None else f"{admin.url}add/",
            multipart=bool(admin.file_fields),
        )
        return self.site.render(
            request,
            self.templates(admin, "change_form", admin.change_form_template),
            context,
            status=status,
        )

    # -- delete and history -------------------------------------------------------------

    @_staff
    async def delete(
        self, request: Request, access: Access, app_label: str, model_name: str, object_id: str
    ) -> Response:
        admin = self.model_admin(request, access, app_label, model_name, "delete")
        if not isinstance(admin, ModelAdmin):
            return admin
        obj = await self.get_object(admin, request, object_id)
        if obj is None:
            return self.error(
                request, 404, f"{admin.verbose_name} with id `{object_id[:100]}` does not exist."
            )
        if request.method == "POST":
            return await self.delete_rows(request, access, admin, [obj])
        plan = await collect_deletion(admin, [obj])
        context = self.base_context(access, admin)
        context.update(
            title="Are you sure?", obj=obj, object_label=admin.object_label(obj), plan=plan
        )
        return self.site.render(
            request, self.templates(admin, "delete_confirmation", admin.delete_template), context
        )

    @_staff
    async def history(
        self, request: Request, access: Access, app_label: str, model_name: str, object_id: str
    ) -> Response:
        admin = self.model_admin(request, access, app_label, model_name, "view")
        if not isinstance(admin, ModelAdmin):
            return admin
        try:
            key = forms.parse_value(admin.model._meta.pk, object_id)
        except InputError as exc:
            return self.error(request, 404, f"`{object_id[:100]}` is not a valid id: {exc}")
        entries = (
            await AdminLogEntry.objects.filter(
                app_label=admin.app_label, model_name=admin.model_name, object_id=str(key)
            )
            .order_by("-id")
            .limit(200)
        )
        context = self.base_context(access, admin)
        label = entries[0].object_repr if entries else object_id
        context.update(
            title=f"History of {label}",
            entries=entries,
            object_id=object_id,
            object_label=label,
        )
        return self.site.render(request, "admin/history.html", context)


def _entry(
    access: Access, admin: ModelAdmin, obj: Model, action: AdminAction, *, message: str = ""
) -> AdminLogEntry:
    return AdminLogEntry(
        user_id=access.user.id,
        username=access.user.username,
        app_label=admin.app_label,
        model_name=admin.model_name,
        object_id=str(obj.pk),
        object_repr=admin.object_label(obj)[:200],
        action=action,
        message=message,
    )


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name the OS refuses (too long, say) is none."""
    try:
        return path.is_file()
    except OSError:
        return False


def _safe_next(target: str | None, prefix: str) -> str:
    """``target`` when it is a path on this site, else the dashboard (no open redirect)."""
    default = f"{prefix}/"
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    # Browsers drop tabs and newlines from URLs (`/\t/evil.example` becomes
    # `//evil.example`) and treat backslashes as slashes: refuse both.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    return target
