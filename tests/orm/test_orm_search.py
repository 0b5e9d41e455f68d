"""Full text search and trigram similarity on the test PostgreSQL (which has pg_trgm)."""

from __future__ import annotations

from typing import Any

import pytest

from stellate.orm import Field, FieldError, Model, get_db
from stellate.orm.postgres import (
    ExtensionMissingError,
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorField,
    TrigramDistance,
    TrigramSimilarity,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


class Post(Model):
    class Meta:
        table = "fts_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str | None = Field(default=None)
    search: str | None = SearchVectorField(["title", "body"], config="english", weights=["A", "B"])


TEXTS = [
    ("Python web framework", "An async framework for the web, written in Python."),
    ("Cooking with butter", "Butter makes everything better; python not included."),
    ("Rust systems programming", "Fast and safe systems code."),
    ("Frameworks compared", None),
]


@pytest.fixture
async def posts(db: Any) -> list[Post]:
    await create_tables(Post)
    return [await Post.objects.create(title=t, body=b) for t, b in TEXTS]


async def titles(qs: Any) -> list[str]:
    return [p.title for p in await qs.all()]


async def test_rank_orders_by_relevance(posts: list[Post]) -> None:
    vector = SearchVector(["title", "body"], config="english")
    query = SearchQuery("python web framework", search_type="websearch", config="english")
    ranked = await (
        Post.objects.annotate(rank=SearchRank(vector, query))
        .filter(search__search=query)
        .order_by("-rank")
        .all()
    )
    assert [p.title for p in ranked] == ["Python web framework"]
    assert ranked[0].rank > 0
    loose = SearchQuery("python", config="english")
    ranked = await Post.objects.annotate(rank=SearchRank(vector, loose)).order_by("-rank").all()
    assert [p.title for p in ranked[:2]] == ["Python web framework", "Cooking with butter"]


async def test_search_types(posts: list[Post]) -> None:
    def matching(text: str, kind: str) -> Any:
        query = SearchQuery(text, search_type=kind, config="english")
        return Post.objects.filter(search__search=query).order_by("id")

    assert await titles(matching("web python", "plain")) == ["Python web framework"]
    assert await titles(matching("web python", "phrase")) == []
    assert await titles(matching("python web", "phrase")) == ["Python web framework"]
    assert await titles(matching('python -"web"', "websearch")) == ["Cooking with butter"]
    assert await titles(matching("framework | rust", "raw")) == [
        "Python web framework",
        "Rust systems programming",
        "Frameworks compared",
    ]


async def test_combined_queries_and_annotated_vectors(posts: list[Post]) -> None:
    def query(text: str) -> SearchQuery:
        return SearchQuery(text, config="english")

    both = Post.objects.filter(search__search=query("python") & ~query("butter"))
    assert await titles(both) == ["Python web framework"]
    either = Post.objects.filter(search__search=query("rust") | query("butter")).order_by("id")
    assert await titles(either) == ["Cooking with butter", "Rust systems programming"]
    compiled = both.to_sql()
    assert compiled.params == ("python", "butter")
    # Django's spelling: filter an annotated SearchVector with a query.
    annotated = Post.objects.annotate(
        document=SearchVector("title", "body", config="english")
    ).filter(document=query("systems"))
    assert await titles(annotated) == ["Rust systems programming"]
    with pytest.raises(TypeError, match="combines with another SearchQuery"):
        query("a") & "b"  # type: ignore[operator]


async def test_search_lookup_on_a_text_field(posts: list[Post]) -> None:
    assert await titles(Post.objects.filter(title__search="python")) == ["Python web framework"]
    compiled = Post.objects.filter(title__search="python").to_sql()
    assert compiled.params == ("python",)
    assert "python" not in compiled.sql


async def test_generated_search_column_is_the_indexed_fast_path(posts: list[Post]) -> None:
    statements = create_table_sql(Post)
    assert "GENERATED ALWAYS AS" in statements[0]
    assert any("USING gin" in s for s in statements)
    # The generated column follows writes.
    post = posts[2]
    post.body = "Now with python bindings"
    await post.save()
    found = Post.objects.filter(search__search="python").order_by("id")
    assert await titles(found) == [
        "Python web framework",
        "Cooking with butter",
        "Rust systems programming",
    ]
    ranked = await Post.objects.annotate(rank=SearchRank("search", "python")).order_by("-rank")
    assert ranked[0].title == "Python web framework"  # the title weighs A, the body B
    await Post.objects.bulk_create([Post(title=f"filler {i}") for i in range(300)])
    db = get_db()
    await db.execute("ANALYZE fts_posts")
    await db.execute("SET LOCAL enable_seqscan = off")
    sql = Post.objects.filter(search__search="python").to_sql()
    plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql.sql}", *sql.params))
    assert "fts_posts_search_idx" in plan


async def test_trigram_similarity(posts: list[Post], db: Any) -> None:
    await db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    results = await (
        Post.objects.annotate(sim=TrigramSimilarity("title", "pythn web framwork"))
        .order_by("-sim")
        .limit(2)
        .all()
    )
    assert results[0].title == "Python web framework"
    assert results[0].sim > results[1].sim
    similar = await titles(Post.objects.filter(title__trigram_similar="Python web framewrk"))
    assert similar == ["Python web framework"]
    closest = await (
        Post.objects.annotate(d=TrigramDistance("title", "rust programming")).order_by("d").first()
    )
    assert closest is not None
    assert closest.title == "Rust systems programming"


async def test_trigram_without_the_extension_names_it(posts: list[Post], db: Any) -> None:
    installed = await db.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
    assert installed == 0
    with pytest.raises(ExtensionMissingError, match=r"extension `pg_trgm`.*CREATE EXTENSION"):
        async with db.transaction():
            await Post.objects.annotate(sim=TrigramSimilarity("title", "x")).all()
    with pytest.raises(ExtensionMissingError, match="pg_trgm"):
        async with db.transaction():
            await Post.objects.filter(title__trigram_similar="x").all()


async def test_search_arguments_are_checked(posts: list[Post]) -> None:
    with pytest.raises(ValueError, match="Unknown search_type `fuzzy`"):
        SearchQuery("x", search_type="fuzzy")
    with pytest.raises(ValueError, match="not a configuration name"):
        SearchVector("title", config="english'; DROP TABLE x; --")
    with pytest.raises(ValueError, match="weight `E`"):
        SearchVector("title", weight="E")
    with pytest.raises(FieldError, match="takes the search text"):
        await Post.objects.filter(title__search=42).all()
    with pytest.raises(ValueError, match="needs a SearchVectorField"):
        await Post.objects.annotate(rank=SearchRank("title", "x")).all()
    with pytest.raises(ValueError, match="one of A, B, C, D per field"):
        SearchVectorField(["a", "b"], weights=["A"])
    with pytest.raises(TypeError, match="as a str"):
        SearchQuery(5)  # type: ignore[arg-type]
