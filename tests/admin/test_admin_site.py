"""Registration, the plugin, per-app sites, custom pages, template overrides, static files."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from admin_models import Article, Comment, Label, Reporter, Section
from admin_support import BASE, SETTINGS, login, make_app

from stellate.admin import AdminSite, ModelAdmin, TabularInline
from stellate.core import App, ImproperlyConfigured, Request, StartupError
from stellate.core.testing import AppClient
from stellate.orm import Database, Field, Model


def test_register_with_defaults_options_and_decorator() -> None:
    site = AdminSite()
    admin = site.register(Section, ModelAdmin)
    assert admin.url == "/admin/admin_models/section/"
    assert admin.display == ["id", "name"]
    assert admin.permission("change") == "admin_models.change_section"

    @site.register(Reporter)
    class ReporterAdmin(ModelAdmin):
        list_display = ("name",)

    registered = site.admin_for(Reporter)
    assert isinstance(registered, ReporterAdmin)
    assert site.get("admin_models", "reporter") is registered
    assert [a.model_name for a in site.model_admins] == ["reporter", "section"]
    # Secret fields are left out of the defaults.
    defaults = AdminSite().register(Reporter, ModelAdmin)
    assert "password" not in defaults.display
    assert "password" not in [n for _, names in defaults.form_sets for n in names]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"list_display": ("titel",)}, "list_display names `titel`"),
        ({"list_display": ("password",)}, "is secret"),
        ({"list_filter": ("word_count",)}, "cannot filter on `word_count`"),
        ({"search_fields": ("nope",)}, "search_fields names `nope`"),
        ({"ordering": ("-nope",)}, "ordering names `nope`"),
        ({"fields": ("title",), "fieldsets": (("A", {"fields": ("title",)}),)}, "not both"),
        ({"fields": ("ghost",)}, "the form names `ghost`"),
        ({"readonly_fields": ("ghost",)}, "readonly_fields names `ghost`"),
        ({"autocomplete_fields": ("title",)}, "is not a foreign key"),
        ({"list_per_page": 0}, "list_per_page must be at least 1"),
        ({"actions": (lambda *a: None,)}, "needs the `@action(description=...)` decorator"),
    ],
)
def test_bad_options_name_the_problem(options: dict[str, Any], message: str) -> None:
    admin_class = type("BadAdmin", (ModelAdmin,), dict(options))
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        AdminSite().register(Article, admin_class)


def test_duplicate_and_abstract_registrations_are_refused() -> None:
    site = AdminSite()
    site.register(Label, ModelAdmin)
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        site.register(Label, ModelAdmin)

    class Base(Model):
        class Meta:
            abstract = True

        id: int = Field(primary_key=True, auto=True)

    with pytest.raises(ImproperlyConfigured, match="abstract"):
        site.register(Base, ModelAdmin)


def test_inline_needs_one_foreign_key_to_the_parent() -> None:
    class Wrong(TabularInline):
        model = Comment

    class Good(TabularInline):
        model = Comment
        fields: ClassVar[tuple[str, ...]] = ("author",)

    with pytest.raises(ImproperlyConfigured, match="exactly one foreign key to `Reporter`"):
        AdminSite().register(Reporter, type("A", (ModelAdmin,), {"inlines": (Wrong,)}))
    admin = AdminSite().register(Article, type("B", (ModelAdmin,), {"inlines": (Good,)}))
    assert admin.inline_admins[0].fk.name == "article_id"


def test_each_app_has_its_own_site() -> None:
    first, second = make_app(), App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    assert first.admin is not second.admin  # type: ignore[attr-defined]
    assert first.admin.is_registered(Article)  # type: ignore[attr-defined]
    assert not second.admin.is_registered(Article)  # type: ignore[attr-defined]


async def test_installed_but_not_enabled_opens_nothing(tables: Database) -> None:
    app = App(plugins=["orm", "auth"], settings=SETTINGS)
    async with AppClient(app) as client:
        assert (await client.get("/admin/")).status_code == 404
    with pytest.raises(AttributeError):
        app.admin  # type: ignore[attr-defined]  # noqa: B018


def test_admin_requires_auth() -> None:
    with pytest.raises(StartupError, match="auth"):
        App(plugins=["orm", "admin"], settings=SETTINGS)


def test_prefix_setting_is_checked() -> None:
    with pytest.raises(StartupError, match="STELLATE_ADMIN_PREFIX"):
        App(plugins=["orm", "auth", "admin"], settings={**SETTINGS, "admin": {"prefix": "/"}})


async def test_custom_prefix_and_title(tables: Database, make_user: Any, client: AppClient) -> None:
    app = App(
        plugins=["orm", "auth", "admin"],
        settings={**SETTINGS, "admin": {"prefix": "/backoffice", "title": "Newsroom"}},
    )
    app.admin.register(Section, ModelAdmin)  # type: ignore[attr-defined]
    user = await make_user(superuser=True)
    async with AppClient(app) as other:
        page = await other.get("/backoffice/login/")
        assert "Log in to Newsroom" in page.text
        await other.post(
            "/backoffice/login/",
            data={"username": user.username, "password": "violet tractor under the sea"},
        )
        listing = await other.get("/backoffice/admin_models/section/")
        assert listing.status_code == 200


async def test_custom_page_with_permission(client: AppClient, make_user: Any) -> None:
    site: AdminSite = client.app.admin  # type: ignore[attr-defined]

    async def report(request: Request) -> Any:
        return site.render(request, "admin/error.html", {"title": "Report", "message": "42 rows"})

    site.add_page("report", report, title="Weekly report", permission="admin_models.view_report")
    with pytest.raises(ImproperlyConfigured, match="added twice"):
        site.add_page("report", report, title="Again")
    with pytest.raises(ImproperlyConfigured, match="letters, digits"):
        site.add_page("a/b", report, title="Bad")
    await login(client, await make_user(superuser=True))
    assert 'href="/admin/pages/report/">Weekly report</a>' in (await client.get("/admin/")).text
    page = await client.get("/admin/pages/report/")
    assert page.status_code == 200
    assert "42 rows" in page.text
    await login(client, await make_user(perms=("admin_models.view_article",)))
    assert (await client.get("/admin/pages/report/")).status_code == 403
    assert "Weekly report" not in (await client.get("/admin/")).text


async def test_templates_are_overridable_per_model(
    tables: Database, make_user: Any, tmp_path: Path, client: AppClient
) -> None:
    folder = tmp_path / "admin" / "admin_models" / "section"
    folder.mkdir(parents=True)
    (folder / "change_list.html").write_text(
        '{% extends "admin/change_list.html" %}{% block content %}'
        '<p id="custom">Sections, my way</p>{{ super() }}{% endblock %}'
    )
    app = App(
        plugins=["orm", "auth", "admin"],
        settings={**SETTINGS, "admin": {"template_dirs": [str(tmp_path)]}},
    )
    app.admin.register(Section, ModelAdmin)  # type: ignore[attr-defined]
    app.admin.register(Label, ModelAdmin)  # type: ignore[attr-defined]
    user = await make_user(superuser=True)
    async with AppClient(app) as other:
        await other.post(
            "/admin/login/",
            data={"username": user.username, "password": "violet tractor under the sea"},
        )
        sections = await other.get(f"{BASE}/section/")
        assert '<p id="custom">Sections, my way</p>' in sections.text
        assert 'id="result-list"' in sections.text
        labels = await other.get(f"{BASE}/label/")
        assert 'id="custom"' not in labels.text


async def test_static_files_and_page_basics(client: AppClient, make_user: Any) -> None:
    css = await client.get("/admin/static/admin.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css.text
    js = await client.get("/admin/static/admin.js")
    assert js.headers["content-type"].startswith("text/javascript")
    for name in ("../site.py", "missing.css", ".hidden"):
        assert (await client.get(f"/admin/static/{name}")).status_code == 404
    await login(client, await make_user(superuser=True))
    page = await client.get("/admin/")
    html = page.text
    assert '<html lang="en">' in html
    assert 'href="#content">Skip to content</a>' in html
    assert "https://" not in html  # no CDN
    assert "<script>" not in html
    assert "style=" not in html
    assert page.headers["cache-control"] == "no-store"


def test_unique_names_do_not_collide() -> None:
    # Two models whose admin URL would be the same are refused (`SECTION` lower-cases to
    # `section`; a second class named `Section` would make string references ambiguous).
    site = AdminSite()
    site.register(Section, ModelAdmin)
    other = type(
        "SECTION",
        (Model,),
        {
            "__module__": Section.__module__,
            "__annotations__": {"id": "int"},
            "id": Field(primary_key=True, auto=True),
            "Meta": type("Meta", (), {"table": f"admintest_other_{uuid.uuid4().hex[:6]}"}),
        },
    )
    with pytest.raises(ImproperlyConfigured, match="Two models map to"):
        site.register(other, ModelAdmin)
