"""Admin guide: register models, customise the change list, log in, act on rows."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from stellate.admin import ModelAdmin, action
from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Field, Model

PASSWORD = "correct horse battery staple"


# --8<-- [start:site]
class Status(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Article(Model):
    class Meta:
        table = "admin_articles"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1)
    status: Status = Field(default=Status.DRAFT)


app = App(plugins=["orm", "auth", "admin"])  # installing stellate-admin alone opens nothing


@action(description="Mark as published")
async def publish(model_admin: Any, request: Any, queryset: Any) -> str:
    return f"{await queryset.update(status=Status.PUBLISHED)} article(s) published"


@app.admin.register(Article)
class ArticleAdmin(ModelAdmin):
    list_display = ("title", "status")
    list_filter = ("status",)
    search_fields = ("title",)
    actions = (publish,)


# --8<-- [end:site]


async def main() -> None:
    async with AppClient(app) as client:
        # --8<-- [start:use]
        await Article.objects.create(title="Hello, admin")
        await app.auth.users.create_user("boss", PASSWORD, is_staff=True, is_superuser=True)

        assert (await client.get("/admin/")).status_code in (302, 303)  # to the login page
        login = await client.post("/admin/login/", data={"username": "boss", "password": PASSWORD})
        assert login.status_code == 303

        dashboard = (await client.get("/admin/")).text
        link = re.search(r'href="(/admin/[^"/]+/article/)"', dashboard)
        assert link is not None
        changelist = await client.get(link.group(1), params={"q": "hello"})
        assert "Hello, admin" in changelist.text
        # --8<-- [end:use]
