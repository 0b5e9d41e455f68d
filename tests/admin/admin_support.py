"""Helpers of the admin tests (a module name unique across tests/)."""

from __future__ import annotations

import re
from typing import Any

from admin_models import Article, Comment, Label, Reporter, Section

from stellate.admin import ModelAdmin, TabularInline, action
from stellate.core import App
from stellate.core.testing import AppClient

PASSWORD = "violet tractor under the sea"
BASE = "/admin/admin_models"
SETTINGS: dict[str, Any] = {
    "env": "test",
    "secret_key": "admin-tests-" + "s" * 40,
    # Reads trust the signed cookie for an hour, so query counts hold no session check.
    "auth": {"password_profile": "owasp-minimum", "recheck_interval": 3600},
}


class CommentInline(TabularInline):
    model = Comment
    extra = 2


@action(description="Mark as published")
async def publish(model_admin: ModelAdmin, request: Any, queryset: Any) -> str:
    count = await queryset.update(status="published")
    return f"{count} article(s) published"


class ArticleAdmin(ModelAdmin):
    list_display = ("title", "status", "featured", "reporter_id", "section_id", "published_on")
    list_filter = ("status", "featured", "reporter_id", "section_id", "published_on", "updated_at")
    search_fields = ("title", "reporter__name")
    ordering = ("-id",)
    list_per_page = 5
    readonly_fields = ("updated_at",)
    inlines = (CommentInline,)
    actions = (publish,)
    autocomplete_fields = ("section_id",)


class ReporterAdmin(ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")


def make_app() -> App:
    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    app.admin.register(Section, ModelAdmin)
    app.admin.register(Reporter, ReporterAdmin)
    app.admin.register(Label, ModelAdmin)
    app.admin.register(Article, ArticleAdmin)
    return app


async def login(client: AppClient, user: Any) -> str:
    """Log ``user`` in through the admin's login form; returns the CSRF token."""
    client.cookies.clear()
    response = await client.post(
        "/admin/login/", data={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: AppClient) -> str:
    token = client.cookies.get("csrftoken")
    assert token, "no csrftoken cookie after login"
    return token


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no csrf_token field on the page"
    return match.group(1)
