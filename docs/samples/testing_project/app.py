"""A small app under test (testing guide)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stellate.core import App, HTTPException, Request
from stellate.orm import Field, Model


class Bookmark(Model):
    class Meta:
        table = "bookmarks"

    id: int = Field(primary_key=True, auto=True)
    url: str = Field(regex=r"https?://.+")


# --8<-- [start:handler]
def create_app(settings: Mapping[str, Any] | None = None) -> App:
    app = App(plugins=["orm"], settings=dict(settings or {}))

    @app.get("/bookmarks/{bookmark_id:int}")
    async def bookmark(request: Request, bookmark_id: int) -> dict[str, object]:
        found = await Bookmark.objects.filter(id=bookmark_id).first()
        if found is None:
            raise HTTPException(404, f"Bookmark {bookmark_id} not found")
        return {"id": found.id, "url": found.url}

    return app


# --8<-- [end:handler]
