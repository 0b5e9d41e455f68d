"""Full-text search (``@field`` and ``$tsvector`` search fields) on PostgreSQL."""

from __future__ import annotations

from typing import Any

from rest_models import Article

from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import get_db
from stellate.orm.testing import assert_num_queries
from stellate.rest import AllowAny, ModelSerializer, ReadOnlyModelViewSet, Router


class ArticleSerializer(ModelSerializer[Article]):
    class Meta:
        model = Article
        fields = ("id", "title")


class Articles(ReadOnlyModelViewSet):
    model = Article
    serializer_class = ArticleSerializer
    permission_classes = (AllowAny,)
    search_fields = ("@title", "@body")


class IndexedArticles(Articles):
    search_fields = ("$search",)


async def titles(client: AppClient, url: str) -> list[str]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return sorted(row["title"] for row in response.json()["results"])


async def test_full_text_search(tables: Any) -> None:
    for title, body in (
        ("Dune", "desert planet spice"),
        ("Foundation", "galactic empire psychohistory"),
        ("Hyperion", "pilgrims and the shrike on a desert world"),
    ):
        await Article.objects.create(title=title, body=body)
    await get_db().execute(
        "UPDATE rest_articles SET search = to_tsvector('simple', title || ' ' || body)"
    )
    router = Router()
    router.register("articles", Articles)
    router.register("indexed", IndexedArticles)
    app = App(plugins=["orm", "rest"])
    app.include(router, prefix="/s")
    async with AppClient(app) as client:
        async with assert_num_queries(1) as queries:
            assert await titles(client, "/s/articles/?search=desert") == ["Dune", "Hyperion"]
        assert "websearch_to_tsquery('simple', $" in queries[-1].sql
        assert await titles(client, "/s/articles/?search=desert -shrike") == ["Dune"]
        assert await titles(client, '/s/articles/?search="galactic empire"') == ["Foundation"]
        assert await titles(client, "/s/articles/?search=dune or hyperion") == ["Dune", "Hyperion"]
        assert await titles(client, "/s/indexed/?search=spice") == ["Dune"]
        # Operators in user text are just words: no syntax error reaches PostgreSQL.
        assert await titles(client, "/s/articles/?search=%27%29%28%21%26%7C") == []
