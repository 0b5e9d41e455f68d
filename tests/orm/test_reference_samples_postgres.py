"""The PostgreSQL-feature samples of the reference guides, run with only imports changed.

Sources: "Full-Text Search - ORM Expressions" of ``Patterns & Best Practices`` (000)
and "Vector Fields (pgvector)" of the ``Models & Fields Guide`` (001).
``hyperdjango.postgres`` becomes ``stellate.orm.postgres``, ``hyperdjango.models``
becomes ``stellate.orm``. What a sample leaves implicit (the ``Article`` model, rows,
``get_embedding``) is set up around it and marked "setup". The vector sample runs on
the embedded PostgreSQL, which ships pgvector.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stellate.orm import Database, Field, Model
from stellate.orm.database import activate, active_databases, restore
from stellate.orm.testing import create_tables


class Article(Model):  # setup: the model the search samples query
    class Meta:
        table = "articles"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str = Field(default="")


@pytest.fixture
async def articles(db: Any) -> None:  # setup
    await db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    await create_tables(Article)
    for title, body in [
        ("Python web framework", "Build web apps with a python framework"),
        ("Gardening tips", "Roses and tulips"),
        ("Pythons of the world", "Snakes, not a web framework"),
    ]:
        await Article.objects.create(title=title, body=body)


async def test_full_text_search_orm_expressions(articles: None) -> None:
    from stellate.orm.postgres import SearchQuery, SearchRank, SearchVector

    vector = SearchVector(["title", "body"], config="english")
    query = SearchQuery("python web framework", search_type="websearch")

    results = (
        await Article.objects.annotate(
            rank=SearchRank(vector, query),
        )
        .order_by("-rank")
        .limit(20)
        .all()
    )

    assert results[0].title == "Python web framework"  # setup: check
    assert results[-1].title == "Gardening tips"
    assert results[0].rank > results[-1].rank


async def test_trigram_similarity(articles: None) -> None:
    from stellate.orm.postgres import TrigramSimilarity

    results = (
        await Article.objects.annotate(
            sim=TrigramSimilarity("title", "pythn"),  # typo-tolerant
        )
        .order_by("-sim")
        .limit(10)
        .all()
    )

    assert results[0].title.startswith("Python")  # setup: check
    assert results[-1].title == "Gardening tips"


async def test_search_lookup(articles: None) -> None:
    results = await Article.objects.filter(title__search="python").all()

    # setup: check (the server's default configuration stems "Pythons" to "python")
    assert sorted(a.title for a in results) == ["Python web framework", "Pythons of the world"]


@pytest.fixture
async def vectors() -> AsyncIterator[None]:
    """setup: the embedded PostgreSQL as the default database, with pgvector enabled."""
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("pgserver (the embedded PostgreSQL with pgvector) is not installed")
    from test_orm_vector import embedded_server

    async with embedded_server() as url:
        database = Database(url, alias="default", pool_size=2)
        await database.connect()
        previous = activate({**active_databases(), "default": database}, testing=True)
        try:
            async with database.pinned_transaction():
                await database.execute("CREATE EXTENSION IF NOT EXISTS vector")
                yield
        finally:
            restore(previous)
            await database.close()


async def test_vector_fields(vectors: None) -> None:
    from stellate.orm import Field, Model, VectorField

    class Document(Model):
        class Meta:
            table = "documents"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        content: str = Field(default="")
        embedding: list[float] = VectorField(
            dimensions=1536,  # OpenAI ada-002
            index_type="hnsw",  # or "ivfflat"
            index_ops="vector_cosine_ops",  # cosine distance
        )

    # setup: the table, two documents and an embedding function
    await create_tables(Document)
    near = [1.0] + [0.0] * 1535
    far = [0.0] * 1535 + [1.0]
    await Document.objects.create(title="near", embedding=near)
    await Document.objects.create(title="far", embedding=far)

    async def get_embedding(text: str) -> list[float]:
        return [0.9, 0.1] + [0.0] * 1534

    query_embedding = await get_embedding("search query")
    similar_docs = (
        await Document.objects.filter(
            embedding__cosine_distance=(query_embedding, 0.3)  # max distance 0.3
        )
        .limit(10)
        .all()
    )

    assert [d.title for d in similar_docs] == ["near"]  # setup: check
