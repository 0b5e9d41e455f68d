"""Window functions in annotate(), and filtering on them (the query is wrapped)."""

from __future__ import annotations

from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book

from stellate.orm import (
    Avg,
    Count,
    CumeDist,
    DenseRank,
    Exists,
    F,
    FieldError,
    FirstValue,
    Lag,
    LastValue,
    Lead,
    Lower,
    NthValue,
    Ntile,
    OuterRef,
    PercentRank,
    Q,
    Rank,
    RowNumber,
    Subquery,
    Sum,
    Window,
)
from stellate.orm.testing import create_tables


@pytest.fixture
async def rows(db: Any) -> dict[str, Any]:
    await create_tables(*ALL_MODELS)
    ann = await Author.objects.create(name="Ann", email="ann@x.io")
    bob = await Author.objects.create(name="Bob", email="bob@x.io")
    for title, author, pages in [
        ("a1", ann, 300),
        ("a2", ann, 200),
        ("a3", ann, 200),
        ("a4", ann, 50),
        ("b1", bob, 500),
        ("b2", bob, 10),
    ]:
        await Book.objects.create(title=title, slug=title, author_id=author.id, pages=pages)
    return {"ann": ann, "bob": bob}


def by_author_pages(function: Any) -> Window:
    return Window(function, partition_by="author_id", order_by=["-pages", "title"])


async def test_ranking_functions(rows: dict[str, Any]) -> None:
    got = await (
        Book.objects.annotate(
            row=by_author_pages(RowNumber()),
            rank=Window(Rank(), partition_by="author_id", order_by="-pages"),
            dense=Window(DenseRank(), partition_by=F("author_id"), order_by=F("pages").desc()),
            bucket=Window(Ntile(2), order_by=["pages", "title"]),
        )
        .order_by("title")
        .values_list("title", "row", "rank", "dense", "bucket")
    )
    assert got == [
        ("a1", 1, 1, 1, 2),
        ("a2", 2, 2, 2, 1),
        ("a3", 3, 2, 2, 2),
        ("a4", 4, 4, 3, 1),
        ("b1", 1, 1, 1, 2),
        ("b2", 2, 2, 2, 1),
    ]


async def test_lag_lead_and_value_functions(rows: dict[str, Any]) -> None:
    got = await (
        Book.objects.filter(author_id=rows["ann"].id)
        .annotate(
            previous=Window(Lag("pages"), order_by="title"),
            next_two=Window(Lead("pages", offset=2, default=-1), order_by="title"),
            first=Window(FirstValue("title"), order_by="title"),
            last=Window(LastValue("title"), order_by="title", rows=(None, None)),
            second=Window(NthValue("title", 2), order_by="title", rows=(None, None)),
            pct=Window(PercentRank(), order_by="pages"),
            cume=Window(CumeDist(), order_by="pages"),
        )
        .order_by("title")
        .values_list("previous", "next_two", "first", "last", "second", "pct", "cume")
    )
    assert [g[0] for g in got] == [None, 300, 200, 200]
    assert [g[1] for g in got] == [200, 50, -1, -1]
    assert {g[2] for g in got} == {"a1"}
    assert {g[3] for g in got} == {"a4"}
    assert {g[4] for g in got} == {"a2"}
    assert [g[5] for g in got] == [1.0, 1 / 3, 1 / 3, 0.0]
    assert [g[6] for g in got] == [1.0, 0.75, 0.75, 0.25]


async def test_aggregates_as_window_functions(rows: dict[str, Any]) -> None:
    got = await (
        Book.objects.annotate(
            author_total=Window(Sum("pages"), partition_by="author_id"),
            running=Window(
                Sum("pages"), partition_by="author_id", order_by="title", rows=(None, 0)
            ),
            last_two=Window(Sum("pages"), order_by="title", rows=(-1, 0)),
            average=Window(Avg("pages"), partition_by="author_id"),
            books=Window(Count("*"), partition_by="author_id"),
        )
        .order_by("title")
        .values_list("title", "author_total", "running", "last_two", "books")
    )
    assert got == [
        ("a1", 750, 300, 300, 4),
        ("a2", 750, 500, 500, 4),
        ("a3", 750, 700, 400, 4),
        ("a4", 750, 750, 250, 4),
        ("b1", 510, 500, 550, 2),
        ("b2", 510, 510, 510, 2),
    ]
    # window annotations are plain per-row attributes on model instances (no GROUP BY)
    books = await Book.objects.annotate(share=Window(Sum("pages"), partition_by="author_id"))
    assert len(books) == 6
    assert {b.share for b in books} == {750, 510}  # type: ignore[attr-defined]


async def test_filter_on_window_wraps_the_query(rows: dict[str, Any]) -> None:
    top = Book.objects.annotate(rank=by_author_pages(RowNumber())).filter(rank__lte=2)
    sql = top.order_by("title").to_sql().sql
    assert sql.startswith('SELECT "_w".* FROM (SELECT ')
    assert 'WHERE ("_w"."rank") <= $1 ORDER BY "_w"."title" ASC' in sql
    got = await top.order_by("title").values_list("title", flat=True)
    assert got == ["a1", "a2", "b1", "b2"]
    # the queryset stays chainable: more filters, exclude, order, slices, count, exists
    instances = await top.filter(pages__gte=100).exclude(rank=1).order_by("-pages")
    assert [b.title for b in instances] == ["a2"]
    assert instances[0].rank == 2  # type: ignore[attr-defined]
    assert await top.count() == 4
    assert await top.filter(rank=3).exists() is False
    assert await top.exists() is True
    page = await top.order_by("-pages", "title")[1:3].values_list("title", flat=True)
    assert page == ["a1", "a2"]
    first = await top.order_by("pages").first()
    assert first is not None
    assert first.title == "b2"
    last = await top.order_by("pages").last()
    assert last is not None
    assert last.title == "b1"
    # plain-field filters stay inside: they decide which rows the window numbers
    inside = Book.objects.filter(pages__lt=300).annotate(rank=by_author_pages(RowNumber()))
    got = await inside.filter(rank=1).order_by("title").values_list("title", flat=True)
    assert got == ["a2", "b2"]
    # a condition mixing a window and a field, and ordering by an expression outside
    mixed = await (
        Book.objects.annotate(rank=by_author_pages(RowNumber()))
        .filter(Q(rank=1) | Q(title="a4"))
        .order_by(Lower("title").desc())
        .values_list("title", flat=True)
    )
    assert mixed == ["b1", "a4", "a1"]


async def test_window_filter_with_params_and_cache(rows: dict[str, Any]) -> None:
    def top(n: int, min_pages: int) -> Any:
        return (
            Book.objects.filter(pages__gte=min_pages)
            .annotate(rank=by_author_pages(RowNumber()))
            .filter(rank__lte=n)
            .order_by("title")
        )

    size = len(Book._meta.sql_cache)
    first = top(1, 0).to_sql()
    second = top(2, 100).to_sql()
    assert len(Book._meta.sql_cache) == size + 1
    assert first.sql == second.sql
    assert second.params == (100, 2)
    assert await top(2, 100).values_list("title", flat=True) == ["a1", "a2", "b1"]


async def test_window_through_join_and_values(rows: dict[str, Any]) -> None:
    got = await (
        Book.objects.annotate(rank=Window(Rank(), partition_by="author__name", order_by="pages"))
        .filter(rank=1)
        .values("title", "rank")
    )
    assert sorted(g["title"] for g in got) == ["a4", "b2"]


async def test_window_errors(rows: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"Window\(\) takes a window function"):
        Window(F("pages"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`Ntile\(num_buckets\)` must be an integer >= 1"):
        Ntile(0)
    with pytest.raises(ValueError, match=r"`Lag\(offset\)` must be an integer >= 0"):
        Lag("pages", offset=-1)
    with pytest.raises(ValueError, match="frame bounds are integers or None"):
        Window(RowNumber(), rows=(1.5, 0))  # type: ignore[arg-type]
    top = Book.objects.annotate(rank=by_author_pages(RowNumber())).filter(rank=1)
    with pytest.raises(
        FieldError, match=r"Cannot update through a queryset with a filter on a window"
    ):
        await top.update(pages=1)
    with pytest.raises(FieldError, match=r"aggregate\(\) over a queryset filtered on a window"):
        await top.aggregate(total=Sum("pages"))
    with pytest.raises(FieldError, match=r"select_for_update\(\) cannot lock rows"):
        await top.select_for_update()
    # the documented way: select the primary keys first
    assert await Book.objects.filter(pk__in=top.values("pk")).update(pages=F("pages") + 1) == 2
    assert await Book.objects.filter(pages__in=[301, 501]).count() == 2


async def test_window_filter_with_joins_groups_ctes_and_subqueries(rows: dict[str, Any]) -> None:
    first = Window(RowNumber(), partition_by="author_id", order_by="id")
    # select_related columns inside the wrapped query do not shadow the model's own
    top = Book.objects.select_related("author").annotate(n=first).filter(n=1).order_by("id")
    books = await top
    assert [(b.title, b.author.name) for b in books] == [("a1", "Ann"), ("b1", "Bob")]  # type: ignore[attr-defined]
    got = await top.first()
    assert got is not None
    assert got.title == "a1"
    assert await top.exists()
    # a window over groups: rank authors by their number of books
    ranked = await (
        Book.objects.values("author_id")
        .annotate(books=Count("*"))
        .annotate(place=Window(Rank(), order_by=Count("*").desc()))
        .filter(place=1)
        .values_list("author_id", "books")
    )
    assert ranked == [(rows["ann"].id, 4)]
    # inside Subquery and Exists, and under a CTE
    best = Book.objects.filter(author_id=OuterRef("id")).annotate(n=by_author_pages(RowNumber()))
    names = await (
        Author.objects.annotate(best=Subquery(best.filter(n=1).values("title")))
        .order_by("id")
        .values_list("best", flat=True)
    )
    assert names == ["a1", "b1"]
    assert await Author.objects.filter(Exists(best.filter(n=4))).count() == 1
    under_cte = (
        Book.objects.with_cte("big", "SELECT id FROM core_books WHERE pages >= {idx}", 200)
        .where_raw("id IN (SELECT id FROM big)")
        .annotate(n=by_author_pages(RowNumber()))
        .filter(n=2)
    )
    assert await under_cte.values_list("title", flat=True) == ["a2"]
