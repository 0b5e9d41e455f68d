"""The SQL escape hatches of the query builder: ``with_cte()``, ``where_raw()``, and the
explicit joins of ``join_related()``."""

from __future__ import annotations

from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment, Publisher

from stellate.orm import (
    Concat,
    Count,
    Exists,
    F,
    Field,
    FieldError,
    Model,
    OuterRef,
    RowNumber,
    Subquery,
    Value,
    Window,
    transaction,
)
from stellate.orm.testing import create_tables


class Node(Model):
    class Meta:
        table = "cte_nodes"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    parent_id: int | None = Field(default=None, foreign_key="Node", related_name="children")


@pytest.fixture
async def tree(db: Any) -> dict[str, int]:
    await create_tables(Node)
    ids: dict[str, int] = {}
    for name, parent in [("root", None), ("a", "root"), ("b", "root"), ("a1", "a"), ("a1x", "a1")]:
        node = await Node.objects.create(name=name, parent_id=ids.get(parent) if parent else None)
        ids[name] = node.id
    return ids


ANCESTORS = (
    "SELECT id, parent_id FROM cte_nodes WHERE id = {idx} "
    "UNION ALL "
    "SELECT t.id, t.parent_id FROM cte_nodes t JOIN ancestors a ON t.id = a.parent_id"
)


async def test_recursive_cte_walks_ancestors(tree: dict[str, int]) -> None:
    qs = Node.objects.with_cte("ancestors", ANCESTORS, tree["a1x"], recursive=True).where_raw(
        "id IN (SELECT id FROM ancestors)"
    )
    compiled = qs.to_sql()
    assert compiled.sql.startswith("WITH RECURSIVE ancestors AS (SELECT id, parent_id FROM ")
    assert "WHERE id = $1 UNION ALL" in compiled.sql
    assert compiled.params == (tree["a1x"],)
    names = await qs.order_by("id").values_list("name", flat=True)
    assert names == ["root", "a", "a1", "a1x"]
    # the outer query stays full ORM: filters, counts, slices, annotations
    assert await qs.filter(name__startswith="a").count() == 3
    assert await qs.exclude(parent_id=None).order_by("-id")[:1].values_list("name", flat=True) == [
        "a1x"
    ]
    # a join makes bare names ambiguous: qualifying them is the caller's job
    with pytest.raises(Exception, match='column reference "id" is ambiguous'):
        async with transaction():  # a savepoint: the failed statement rolls back alone
            await qs.annotate(kids=Count("children"))
    qualified = Node.objects.with_cte("ancestors", ANCESTORS, tree["a1x"], recursive=True)
    qualified = qualified.where_raw("cte_nodes.id IN (SELECT id FROM ancestors)")
    counted = (
        await qualified.annotate(kids=Count("children"))
        .order_by("id")
        .values_list("kids", flat=True)
    )
    assert counted == [2, 1, 1, 0]


async def test_ctes_accumulate_and_parameters_renumber(tree: dict[str, int]) -> None:
    qs = (
        Node.objects.filter(name__ne="nobody")
        .with_cte("picked", "SELECT id FROM cte_nodes WHERE name = {idx} OR name = {idx}", "a", "b")
        .with_cte("ancestors", ANCESTORS, tree["a1"], recursive=True)
        .where_raw("id IN (SELECT id FROM picked UNION SELECT id FROM ancestors)")
        .where_raw("length(name) <= {idx}", 2)
    )
    compiled = qs.to_sql()
    assert compiled.sql.startswith("WITH RECURSIVE picked AS (SELECT id FROM cte_nodes WHERE ")
    assert "name = $1 OR name = $2), ancestors AS (" in compiled.sql
    assert "WHERE id = $3 UNION ALL" in compiled.sql
    assert '"cte_nodes"."name" <> $4' in compiled.sql
    assert "(length(name) <= $5)" in compiled.sql
    assert compiled.params == ("a", "b", tree["a1"], "nobody", 2)
    assert sorted(await qs.values_list("name", flat=True)) == ["a", "a1", "b"]
    # a plain (non-recursive) CTE alone is a plain WITH
    plain = Node.objects.with_cte("few", "SELECT id FROM cte_nodes LIMIT {idx}", 2)
    assert plain.to_sql().sql.startswith("WITH few AS (")


async def test_cte_queryset_as_subquery_and_in_exists(tree: dict[str, int]) -> None:
    ancestors = Node.objects.with_cte("ancestors", ANCESTORS, tree["a1"], recursive=True).where_raw(
        "id IN (SELECT id FROM ancestors)"
    )
    got = await Node.objects.filter(parent_id__in=ancestors.values("id")).order_by("id")
    assert [n.name for n in got] == ["a", "b", "a1", "a1x"]
    # writes go through the primary keys of the CTE queryset
    assert await Node.objects.filter(pk__in=ancestors.values("pk")).update(name=F("name")) == 3
    with pytest.raises(FieldError, match=r"Cannot update through a queryset with with_cte\(\)"):
        await ancestors.update(name="x")
    with pytest.raises(FieldError, match=r"Cannot delete through a queryset with with_cte\(\)"):
        await ancestors.delete()
    # a correlated Exists over a CTE queryset
    has_ancestor_child = Exists(ancestors.filter(parent_id=OuterRef("id")))
    names = (
        await Node.objects.filter(has_ancestor_child).order_by("id").values_list("name", flat=True)
    )
    assert names == ["root", "a"]


async def test_cte_and_raw_cache_rebinds(tree: dict[str, int]) -> None:
    def build(node: int, limit: int) -> Any:
        return (
            Node.objects.with_cte("ancestors", ANCESTORS, node, recursive=True)
            .where_raw("id IN (SELECT id FROM ancestors)")
            .where_raw("id <= {idx}", limit)
        )

    size = len(Node._meta.sql_cache)
    first = build(tree["a1x"], 100).to_sql()
    second = build(tree["a"], tree["root"]).to_sql()
    assert len(Node._meta.sql_cache) == size + 1
    assert first.sql == second.sql
    assert await build(tree["a"], tree["root"]).values_list("name", flat=True) == ["root"]


async def test_raw_sql_errors(tree: dict[str, int]) -> None:
    with pytest.raises(FieldError, match=r"has 1 `\{idx\}` placeholder but 0 parameters"):
        Node.objects.where_raw("id = {idx}")
    with pytest.raises(FieldError, match=r"has 0 `\{idx\}` placeholders but 1 parameter"):
        Node.objects.where_raw("id = 1", 5)
    with pytest.raises(FieldError, match=r"write `\{idx\}` for each parameter instead of `\$n`"):
        Node.objects.where_raw("id = $1", 5)
    with pytest.raises(FieldError, match="needs SQL text"):
        Node.objects.where_raw("  ")
    with pytest.raises(FieldError, match="must be a plain SQL identifier"):
        Node.objects.with_cte("x; DROP TABLE y", "SELECT 1")
    with pytest.raises(FieldError, match="`a` is already defined"):
        Node.objects.with_cte("a", "SELECT 1").with_cte("a", "SELECT 2")
    with pytest.raises(FieldError, match=r"with_cte\(`c`\) has 2 `\{idx\}`"):
        Node.objects.with_cte("c", "SELECT {idx}, {idx}", 1)
    # values are bound, never spliced: a hostile value is just a value
    hostile = "x'); DROP TABLE cte_nodes; --"
    assert await Node.objects.where_raw("name = {idx}", hostile).count() == 0
    assert await Node.objects.count() == 5
    # an error from PostgreSQL in the raw text names the problem
    with pytest.raises(Exception, match="nonexistent"):
        await Node.objects.where_raw("nonexistent_column = 1")


# -- join_related --------------------------------------------------------------------------


@pytest.fixture
async def books(db: Any) -> list[Book]:
    await create_tables(*ALL_MODELS)
    house = await Publisher.objects.create(name="House")
    ann = await Author.objects.create(name="Ann", email="ann@x.io", publisher_id=house.id)
    bob = await Author.objects.create(name="Bob", email="bob@x.io")
    out = [
        await Book.objects.create(title="A", slug="a", author_id=ann.id, pages=10),
        await Book.objects.create(title="B", slug="b", author_id=bob.id, pages=20),
    ]
    await Comment.objects.create(book_id=out[0].id, body="root")
    return out


async def test_join_related_attaches_under_own_name(
    books: list[Book], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        got = await Book.objects.join_related(
            writer="author_id", house="author__publisher"
        ).order_by("id")
    first, second = got
    assert type(first.author_id) is int
    assert first.author_id == books[0].author_id
    assert first.writer.name == "Ann"  # type: ignore[attr-defined]
    assert first.house.name == "House"  # type: ignore[attr-defined]
    assert second.writer.name == "Bob"  # type: ignore[attr-defined]
    assert second.house is None  # type: ignore[attr-defined]
    sql = Book.objects.join_related(writer="author").to_sql().sql
    assert sql.count("LEFT JOIN") == 1
    # the relation's own name is allowed: book.author, with book.author_id left an int
    (own,) = await Book.objects.join_related(author="author_id").filter(id=books[1].id)
    assert own.author.name == "Bob"
    assert type(own.author_id) is int


async def test_join_related_with_select_related_filters_and_windows(books: list[Book]) -> None:
    comment = await (
        Comment.objects.select_related("book")
        .join_related(writer="book__author", book_house="book__author__publisher")
        .filter(book__author__name="Ann")
        .get()
    )
    assert comment.book.title == "A"  # type: ignore[attr-defined]
    assert comment.writer.name == "Ann"  # type: ignore[attr-defined]
    assert comment.book_house.name == "House"  # type: ignore[attr-defined]
    # shares the join of the filter: one LEFT JOIN per table
    sql = (
        Comment.objects.join_related(writer="book__author").filter(book__author__name="x").to_sql()
    )
    assert sql.sql.count("LEFT JOIN") == 2
    # with a Subquery annotation on the same rows
    latest = Comment.objects.filter(book_id=OuterRef("id")).values("body")[:1]
    got = (
        await Book.objects.join_related(writer="author")
        .annotate(note=Subquery(latest))
        .order_by("id")
    )
    assert [(b.writer.name, b.note) for b in got] == [("Ann", "root"), ("Bob", None)]  # type: ignore[attr-defined]


async def test_join_related_queryset_joins_first_matching_row(
    books: list[Book], assert_num_queries: Any
) -> None:
    await Comment.objects.create(book_id=books[0].id, body="newer", score=2)
    latest = Comment.objects.filter(book_id=OuterRef("id")).order_by("-id")
    async with assert_num_queries(1):
        got = await Book.objects.join_related(latest=latest, writer="author").order_by("id")
    assert [b.latest.body if b.latest else None for b in got] == ["newer", None]  # type: ignore[attr-defined]
    assert got[0].writer.name == "Ann"  # type: ignore[attr-defined]
    assert len(got) == 2  # one row per book, however many comments match
    sql = Book.objects.join_related(latest=latest).to_sql().sql
    assert "LEFT JOIN LATERAL (SELECT " in sql
    assert sql.endswith('LIMIT $1) AS "j1" ON TRUE')

    # no foreign key needed; filters with values, and the cache rebinds them
    def best(min_score: int) -> Any:
        by_score = Comment.objects.filter(book_id=OuterRef("id"), score__gte=min_score)
        return (
            Book.objects.join_related(best=by_score.order_by("-score"))
            .filter(pages__gt=0)
            .order_by("id")
        )

    size = len(Book._meta.sql_cache)
    low = await best(0)
    high = await best(3)
    assert len(Book._meta.sql_cache) == size + 1
    assert [b.best.body if b.best else None for b in low] == ["newer", None]  # type: ignore[attr-defined]
    assert [b.best for b in high] == [None, None]  # type: ignore[attr-defined]
    # with annotations (parameters before the join's), aggregates, counts and windows
    annotated = await (
        Book.objects.annotate(label=Concat("title", Value("!")), n=Count("comments"))
        .join_related(latest=latest)
        .order_by("id")
    )
    assert [(b.label, b.n, b.latest and b.latest.body) for b in annotated] == [  # type: ignore[attr-defined]
        ("A!", 2, "newer"),
        ("B!", 0, None),
    ]
    assert await Book.objects.join_related(latest=latest).count() == 2
    ranked = await (
        Book.objects.join_related(latest=latest)
        .annotate(rank=Window(RowNumber(), order_by="-pages"))
        .filter(rank=1)
    )
    assert [(b.title, b.latest) for b in ranked] == [("B", None)]  # type: ignore[attr-defined]


def test_join_related_errors() -> None:
    with pytest.raises(FieldError, match=r"would hide `Book\.title`"):
        Book.objects.join_related(title="author")
    with pytest.raises(FieldError, match=r"would hide `Comment\.book`"):
        Comment.objects.join_related(book="parent")
    with pytest.raises(FieldError, match="comments"):
        Book.objects.join_related(notes="comments")
    with pytest.raises(TypeError, match="takes a foreign key path"):
        Book.objects.join_related(writer=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a foreign key path or a queryset"):
        Book.objects.join_related(writer=[Comment.objects.all()])  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="would hide"):
        Book.objects.join_related(writer="author").join_related(writer="author")
    with pytest.raises(FieldError, match=r"joins whole `Comment` rows; drop values\(\)"):
        Book.objects.join_related(latest=Comment.objects.values("id"))
    with pytest.raises(FieldError, match="cannot load relations of its own"):
        Book.objects.join_related(latest=Comment.objects.select_related("book"))
