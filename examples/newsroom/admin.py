"""The newsroom's admin: articles with an enum status, filters and a publish action.

``create_app`` enables the ``admin`` plugin and calls :func:`register_admin`. In
development the demo account (staff, not superuser) joins a group holding every
newsroom permission (:func:`grant_demo_permissions`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from examples.newsroom.models import Article, Reporter, Section, Status
from stellate.admin import AdminSite, ModelAdmin, action

if TYPE_CHECKING:
    from stellate.auth import Auth
    from stellate.core import Request
    from stellate.orm import QuerySet

#: The group the demo account joins in development.
DEMO_GROUP = "newsroom-desk"


@action(description="Publish today")
async def publish_today(model_admin: ModelAdmin, request: Request, queryset: QuerySet[Any]) -> str:
    today = dt.datetime.now(dt.UTC).date()
    changed = await queryset.update(status=Status.PUBLISHED, published_on=today)
    return f"{changed} article(s) published"


class ArticleAdmin(ModelAdmin):
    list_display = ("title", "status", "featured", "section_id", "reporter_id", "published_on")
    list_filter = ("status", "featured", "section_id", "published_on")
    search_fields = ("title", "reporter__name")
    ordering = ("-published_on",)
    list_per_page = 25
    fieldsets = (
        (None, {"fields": ("title", "body", "section_id", "reporter_id")}),
        ("Publishing", {"fields": ("status", "featured", "published_on", "word_count")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("created_at", "updated_at")
    actions = (publish_today,)
    autocomplete_fields = ("reporter_id",)


class ReporterAdmin(ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")
    ordering = ("name",)


class SectionAdmin(ModelAdmin):
    list_display = ("name",)
    ordering = ("name",)


def register_admin(site: AdminSite) -> None:
    """Register the newsroom's models with ``site`` (``app.admin``)."""
    site.register(Section, SectionAdmin)
    site.register(Reporter, ReporterAdmin)
    site.register(Article, ArticleAdmin)


async def grant_demo_permissions(site: AdminSite, auth: Auth, user_id: int) -> None:
    """Give ``user_id`` every permission of the registered models (idempotent)."""
    for model_admin in site.model_admins:
        for verb in ("view", "add", "change", "delete"):
            await auth.users.grant(model_admin.permission(verb), group=DEMO_GROUP)
    await auth.users.add_to_group(user_id, DEMO_GROUP)
