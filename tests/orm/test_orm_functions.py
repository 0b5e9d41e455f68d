"""SQL functions, Case/When, Value typing, Subquery, Exists, ordering by expressions,
``values(name=F(...))`` renames, and the compiled-shape cache for all of them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment

from stellate.orm import (
    Case,
    Coalesce,
    Count,
    Exists,
    F,
    FieldError,
    Lag,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from stellate.orm.functions import (
    Abs,
    Cast,
    Concat,
    Extract,
    Func,
    Greatest,
    Least,
    Length,
    Lower,
    Now,
    NullIf,
    Trim,
    Trunc,
    Upper,
)
from stellate.orm.testing import create_tables


@pytest.fixture
async def rows(db: Any) -> list[Book]:
    await create_tables(*ALL_MODELS)
    ann = await Author.objects.create(name="Ann", email="ann@x.io", age=30)
    bob = await Author.objects.create(name="bob", email="bob@x.io")
    books = [
        await Book.objects.create(title="Alpha", slug="a", author_id=ann.id, pages=100),
        await Book.objects.create(title="beta", slug="b", author_id=ann.id, pages=350),
        await Book.objects.create(title="Gamma", slug="c", author_id=bob.id, pages=20),
    ]
    await Comment.objects.create(book_id=books[0].id, body="first", score=3)
    await Comment.objects.create(book_id=books[0].id, body="latest", score=-2)
    await Comment.objects.create(book_id=books[1].id, body="only", score=5)
    return books


# -- functions ---------------------------------------------------------------------------


async def test_text_functions_in_annotate(rows: list[Book]) -> None:
    got = await (
        Book.objects.annotate(
            low=Lower("title"),
            up=Upper("title"),
            size=Length("title"),
            label=Concat("title", Value(" ("), "pages", Value(")")),
            trimmed=Trim(Value("  x  ")),
        )
        .order_by("id")
        .values("low", "up", "size", "label", "trimmed")
    )
    assert got[0] == {
        "low": "alpha",
        "up": "ALPHA",
        "size": 5,
        "label": "Alpha (100)",
        "trimmed": "x",
    }
    assert [g["label"] for g in got] == ["Alpha (100)", "beta (350)", "Gamma (20)"]


async def test_functions_filter_order_and_update(rows: list[Book]) -> None:
    # order by an expression: case-insensitive order
    titles = await Book.objects.order_by(Lower("title")).values_list("title", flat=True)
    assert titles == ["Alpha", "beta", "Gamma"]
    titles = await Book.objects.order_by(Lower("title").desc()).values_list("title", flat=True)
    assert titles == ["Gamma", "beta", "Alpha"]
    # last() reverses expression orderings too
    last = await Book.objects.order_by(Lower("title")).last()
    assert last is not None
    assert last.title == "Gamma"
    last = await Book.objects.order_by(Upper("title").desc()).last()
    assert last is not None
    assert last.title == "Alpha"
    # filter on an annotation, and with an expression as the value
    got = (
        await Book.objects.annotate(low=Lower("title"))
        .filter(low="beta")
        .values_list("id", flat=True)
    )
    assert got == [rows[1].id]
    got = await Book.objects.filter(slug=Lower(Value("B"))).values_list("title", flat=True)
    assert got == ["beta"]
    # update with functions
    await Book.objects.filter(id=rows[0].id).update(
        title=Upper("title"), slug=Concat("slug", Value("-"), "pages")
    )
    book = await Book.objects.get(id=rows[0].id)
    assert (book.title, book.slug) == ("ALPHA", "a-100")


async def test_numeric_functions_now_and_nullif(rows: list[Book]) -> None:
    got = await (
        Book.objects.annotate(
            biggest=Greatest("pages", 200),
            smallest=Least("pages", 50),
            distance=Abs(F("pages") - 200),
            no_hundred=NullIf("pages", 100),
            at=Now(),
        )
        .order_by("id")
        .values("biggest", "smallest", "distance", "no_hundred", "at")
    )
    assert [g["biggest"] for g in got] == [200, 350, 200]
    assert [g["smallest"] for g in got] == [50, 50, 20]
    assert [g["distance"] for g in got] == [100, 150, 180]
    assert [g["no_hundred"] for g in got] == [None, 350, 20]
    assert isinstance(got[0]["at"], dt.datetime)
    assert got[0]["at"].tzinfo is not None
    # NOW() is the transaction's start: rows made in this test are later
    assert await Book.objects.filter(created_at__lte=Now()).count() == 0
    soon = Now() + Value(dt.timedelta(days=1), output_field=dt.timedelta)
    assert await Book.objects.filter(created_at__lte=soon).count() == 3


async def test_custom_func_subclass(rows: list[Book]) -> None:
    class Initcap(Func):
        function = "INITCAP"
        arity = 1

    got = await Book.objects.filter(id=rows[1].id).values_list(name=Initcap("title"), flat=True)
    assert got == ["Beta"]


async def test_extract_trunc_and_cast(rows: list[Book]) -> None:
    when = dt.datetime(2024, 5, 17, 13, 45, 30, tzinfo=dt.UTC)
    await Book.objects.update(created_at=when, released=dt.date(2023, 12, 31))
    got = await Book.objects.filter(id=rows[0].id).values(
        year=Extract("created_at", "year"),
        quarter=Extract("released", "quarter"),
        hour=Extract("created_at", "hour"),
        month=Trunc("released", "month"),
        text=Cast("pages", output_field=str),
        whole=Cast(Value("12"), output_field=int),
    )
    assert got == [
        {
            "year": 2024,
            "quarter": 4,
            "hour": 13,
            "month": dt.datetime(2023, 12, 1, tzinfo=dt.UTC),
            "text": "100",
            "whole": 12,
        }
    ]
    # grouping by a truncated date: the classic per-month count
    per_month = await (
        Book.objects.values(month=Trunc("created_at", "month"))
        .annotate(n=Count("*"))
        .values_list("month", "n")
    )
    assert per_month == [(dt.datetime(2024, 5, 1, tzinfo=dt.UTC), 3)]
    assert await Book.objects.filter(pages__gt=Cast(Value("99"), output_field=int)).count() == 2


def test_function_argument_errors() -> None:
    with pytest.raises(TypeError, match="`Lower` takes 1 argument, got 2"):
        Lower("a", "b")
    with pytest.raises(TypeError, match="Concat needs at least two"):
        Concat("a")
    with pytest.raises(ValueError, match=r"Extract part `fortnight` is not one of `day`"):
        Extract("created_at", "fortnight")
    with pytest.raises(ValueError, match=r"Trunc kind `epoch` is not one of"):
        Trunc("created_at", "epoch")
    with pytest.raises(TypeError, match=r"Cast\(\): output_field `dict` is not supported"):
        Cast("data", output_field=dict)

    class Bad(Func):
        function = "drop table x; --"

    with pytest.raises(TypeError, match=r"`Bad.function` must be an SQL function name"):
        Bad()


async def test_unknown_field_in_function_names_the_field(rows: list[Book]) -> None:
    with pytest.raises(FieldError, match="titel"):
        await Book.objects.annotate(x=Lower("titel"))


# -- Value typing ----------------------------------------------------------------------


async def test_bare_values_in_select_list_are_typed(rows: list[Book]) -> None:
    got = (
        await Book.objects.filter(id=rows[0].id)
        .annotate(
            n=Value(7),
            s=Value("txt"),
            b=Value(True),
            d=Value(Decimal("1.5")),
            day=Value(dt.date(2024, 1, 2)),
            nothing=Value(None, output_field=int),
        )
        .values("n", "s", "b", "d", "day", "nothing")
    )
    assert got == [
        {
            "n": 7,
            "s": "txt",
            "b": True,
            "d": Decimal("1.5"),
            "day": dt.date(2024, 1, 2),
            "nothing": None,
        }
    ]
    # the same shape with a value of another type compiles separately
    again = await Book.objects.filter(id=rows[0].id).annotate(n=Value("seven")).values("n")
    assert again == [{"n": "seven"}]


def test_value_output_field_must_be_known() -> None:
    with pytest.raises(TypeError, match=r"output_field `list` is not supported; use one of"):
        Value([1], output_field=list)


# -- Case / When -----------------------------------------------------------------------


async def test_case_when_with_lookups_q_exists_and_default(rows: list[Book]) -> None:
    has_bad = Exists(Comment.objects.filter(book_id=OuterRef("id"), score__lt=0))
    size = Case(
        When(pages__gte=300, then=Value("long")),
        When(Q(pages__lt=50) | Q(title__startswith="Z"), then=Value("short")),
        default=Value("medium"),
    )
    flagged = Case(When(has_bad, then=True), default=False)
    got = (
        await Book.objects.annotate(size=size, flagged=flagged)
        .order_by("id")
        .values("title", "size", "flagged")
    )
    assert got == [
        {"title": "Alpha", "size": "medium", "flagged": True},
        {"title": "beta", "size": "long", "flagged": False},
        {"title": "Gamma", "size": "short", "flagged": False},
    ]
    # then= a field, numbers, no default (NULL), output_field cast
    got = (
        await Book.objects.annotate(
            bonus=Case(When(pages__gt=50, then="pages"), default=0),
            score=Case(When(title="Gamma", then=1.5), output_field=float),
        )
        .order_by("id")
        .values_list("bonus", "score")
    )
    assert got == [(100, None), (350, None), (0, 1.5)]


async def test_case_in_filter_order_by_and_update(rows: list[Book]) -> None:
    priority = Case(When(author__name="bob", then=0), default=1)
    ordered = await Book.objects.order_by(priority, "id").values_list("title", flat=True)
    assert ordered == ["Gamma", "Alpha", "beta"]
    matched = await Book.objects.filter(pages=Case(When(slug="a", then=100), default=-1)).count()
    assert matched == 1
    await Book.objects.update(
        rating=Case(When(pages__gte=100, then=F("pages") / 100.0), default=0.0)
    )
    ratings = await Book.objects.order_by("id").values_list("rating", flat=True)
    assert ratings == [1.0, 3.5, 0.0]


def test_case_when_errors() -> None:
    with pytest.raises(TypeError, match=r"When\(\) needs a condition"):
        When(then=1)
    with pytest.raises(TypeError, match=r"Case\(\) needs at least one"):
        Case()
    with pytest.raises(TypeError, match=r"takes `When\(...\)` branches"):
        Case(Q(a=1))  # type: ignore[arg-type]


async def test_when_on_an_annotation_is_refused(rows: list[Book]) -> None:
    qs = Book.objects.annotate(low=Lower("title")).annotate(
        x=Case(When(low="alpha", then=1), default=0)
    )
    with pytest.raises(ValueError, match="refers to an annotation"):
        await qs


# -- Subquery / Exists -------------------------------------------------------------------


async def test_scalar_subquery_latest_related_row(rows: list[Book]) -> None:
    latest = Comment.objects.filter(book_id=OuterRef("id")).order_by("-id").values("body")[:1]
    got = (
        await Book.objects.annotate(latest=Subquery(latest))
        .order_by("id")
        .values("title", "latest")
    )
    assert got == [
        {"title": "Alpha", "latest": "latest"},
        {"title": "beta", "latest": "only"},
        {"title": "Gamma", "latest": None},
    ]


async def test_subquery_aggregate_filter_and_update(rows: list[Book]) -> None:
    total = Comment.objects.filter(book_id=OuterRef("id")).values(total=Coalesce(Sum("score"), 0))
    got = (
        await Book.objects.annotate(total=Subquery(total))
        .order_by("id")
        .values_list("total", flat=True)
    )
    assert got == [1, 5, 0]
    # a subquery as a filter value, correlated
    hot = await Book.objects.filter(pages__gt=Subquery(total)).values_list("title", flat=True)
    assert sorted(hot) == ["Alpha", "Gamma", "beta"]
    best = await Book.objects.filter(
        id=Subquery(Book.objects.order_by("-pages").values("id")[:1])
    ).values_list("title", flat=True)
    assert best == ["beta"]
    # __in takes a Subquery as it takes the queryset itself
    commented = Subquery(Comment.objects.filter(score__gt=0).values("book_id"))
    got = await Book.objects.filter(id__in=commented).order_by("id").values_list("title", flat=True)
    assert got == ["Alpha", "beta"]
    # in update(): copy an aggregate of related rows into a column
    await Book.objects.update(pages=Subquery(total))
    assert await Book.objects.order_by("id").values_list("pages", flat=True) == [1, 5, 0]


async def test_outer_ref_inside_q_of_inner_queryset(rows: list[Book]) -> None:
    inner = Comment.objects.filter(
        Q(book_id=OuterRef("id")) & (Q(score__gt=4) | Q(body=OuterRef("slug")))
    )
    got = await Book.objects.filter(Exists(inner)).values_list("title", flat=True)
    assert got == ["beta"]
    await Comment.objects.create(book_id=rows[2].id, body="c")
    got = await Book.objects.filter(Exists(inner)).order_by("id").values_list("title", flat=True)
    assert got == ["beta", "Gamma"]
    # ~Exists and exclude(Exists) agree
    missing = await Book.objects.filter(~Exists(inner)).values_list("title", flat=True)
    excluded = await Book.objects.exclude(Exists(inner)).values_list("title", flat=True)
    assert missing == excluded == ["Alpha"]


async def test_exists_annotation_and_count_over_it(rows: list[Book]) -> None:
    commented = Exists(Comment.objects.filter(book_id=OuterRef("id")))
    got = (
        await Book.objects.annotate(commented=commented)
        .order_by("id")
        .values_list("commented", flat=True)
    )
    assert got == [True, True, False]
    assert await Book.objects.filter(commented).count() == 2
    assert (
        await Author.objects.filter(
            Exists(Book.objects.filter(author_id=OuterRef("id"), pages__gt=300))
        ).count()
        == 1
    )


async def test_exists_and_count_ignore_an_ordering_by_annotation(rows: list[Book]) -> None:
    ordered = Book.objects.annotate(low=Lower("title"), n=Count("comments")).order_by("-n", "low")
    assert await ordered.exists()
    assert await ordered.count() == 3
    assert "ORDER BY" not in ordered.to_sql("exists").sql
    # a slice keeps the order: it decides which rows are looked at
    assert await ordered[3:].exists() is False
    assert await ordered[2:].exists() is True
    assert "ORDER BY" in ordered[2:].to_sql("exists").sql


def test_subquery_needs_one_column() -> None:
    with pytest.raises(ValueError, match=r"must select exactly one column; end the queryset"):
        Subquery(Comment.objects.all())
    with pytest.raises(ValueError, match="exactly one column"):
        Subquery(Comment.objects.values("id", "body"))
    with pytest.raises(TypeError, match="Subquery needs a queryset"):
        Subquery([1])  # type: ignore[arg-type]


async def test_outer_ref_outside_a_subquery_is_refused(rows: list[Book]) -> None:
    with pytest.raises(ValueError, match=r"only valid inside"):
        await Book.objects.filter(pages=OuterRef("pages"))


# -- values(name=F(...)) -----------------------------------------------------------------


async def test_values_renames_with_f(rows: list[Book]) -> None:
    got = await Book.objects.order_by("id").values("id", name=F("title"), writer=F("author__name"))
    assert got[0] == {"id": rows[0].id, "name": "Alpha", "writer": "Ann"}
    as_list = await Book.objects.order_by("id").values_list("slug", name=F("title"))
    assert as_list[1] == ("b", "beta")
    flat = await Book.objects.order_by("id").values_list(name=Upper("title"), flat=True)
    assert flat == ["ALPHA", "BETA", "GAMMA"]
    sql = Book.objects.values(name=F("title")).to_sql().sql
    assert '"core_books"."title" AS "name"' in sql
    # grouped: values(...) then annotate(...) keeps one row per group
    per_author = await (
        Book.objects.values(writer=F("author__name"))
        .annotate(n=Count("*"))
        .order_by("writer")
        .values_list("writer", "n")
    )
    assert per_author == [("Ann", 2), ("bob", 1)]


async def test_values_rename_errors(rows: list[Book]) -> None:
    with pytest.raises(FieldError, match=r"clashes with the field `Book\.title`"):
        Book.objects.values(title=F("slug"))
    with pytest.raises(FieldError, match="`name` is named twice"):
        Book.objects.values("name", name=F("title"))
    with pytest.raises(FieldError, match="exactly one field, got 2"):
        Book.objects.values_list("id", name=F("title"), flat=True)


# -- compiled-shape cache ----------------------------------------------------------------


async def test_second_execution_with_new_values_hits_the_cache(rows: list[Book]) -> None:
    def build(word: str, limit: int, bonus: int) -> Any:
        latest = Comment.objects.filter(book_id=OuterRef("id"), score__gt=limit).values("body")[:1]
        return (
            Book.objects.annotate(
                tag=Concat("title", Value(word)),
                kind=Case(When(pages__gt=limit, then=bonus), default=0),
                latest=Subquery(latest),
            )
            .filter(Q(title__icontains=word[-1]) | Q(pages__gte=limit))
            .order_by(Lower("title").desc(), "id")
        )

    cache = Book._meta.sql_cache
    first = build("-x", 50, 1)
    sql_1 = first.to_sql()
    size = len(cache)
    second = build("-a", 150, 9)
    sql_2 = second.to_sql()
    assert len(cache) == size  # no new entry: the shape was compiled once
    assert sql_1.sql == sql_2.sql
    assert sql_1.params != sql_2.params
    got = await second.values("title", "tag", "kind")
    assert got == [
        {"title": "Gamma", "tag": "Gamma-a", "kind": 0},
        {"title": "beta", "tag": "beta-a", "kind": 9},
        {"title": "Alpha", "tag": "Alpha-a", "kind": 0},
    ]


async def test_readme_expressions_example_runs(db: Any) -> None:
    import ast
    import pathlib
    import re

    readme = pathlib.Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## Expressions, windows, CTEs and raw SQL", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    definitions, statements = match.group(1).split("\n\n\nann = ", 1)
    namespace: dict[str, Any] = {"__name__": "readme_expressions"}
    exec(compile(definitions, "README.md", "exec"), namespace)
    await create_tables(*(namespace[n] for n in ("Writer", "Novel", "Review", "Region")))
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    await eval(compile("ann = " + statements, "README.md", "exec", flags=flags), namespace)
    (dune,) = namespace["novels"]
    assert (dune.best, dune.size, dune.label) == (-1, "long", "Dune by Ann")
    assert namespace["rows"][0] == {"id": dune.id, "novel_title": "Dune"}
    assert [n.title for n in namespace["by_title"]] == ["Emma", "Dune"]
    assert namespace["longest"] == [{"title": "dune!", "rank": 1}]
    assert [n.so_far for n in await namespace["running"].order_by("id")] == [412, 532]
    assert sorted(r.name for r in namespace["ancestors"]) == ["europe", "world"]
    assert [n.worst_review and n.worst_review.score for n in namespace["with_worst"]] == [-1, None]


def _window_qs(n: int) -> Any:
    rank = Window(Lag("pages", offset=1, default=n), partition_by="author_id", order_by="id")
    return Book.objects.annotate(prev=rank).filter(prev__gte=n)


SHAPES: dict[str, Any] = {
    "Value": lambda v: Book.objects.annotate(x=Value(v)),
    "Lower": lambda v: Book.objects.filter(slug=Lower(Value(str(v)))),
    "Upper": lambda v: Book.objects.annotate(x=Upper(Value(str(v)))),
    "Length": lambda v: Book.objects.filter(pages__gt=Length(Value(str(v)))),
    "Trim": lambda v: Book.objects.annotate(x=Trim(Value(str(v)))),
    "Extract": lambda v: Book.objects.filter(pages__gt=v).values(y=Extract("created_at", "year")),
    "Trunc": lambda v: Book.objects.filter(pages__gt=v).values(m=Trunc("created_at", "month")),
    "Cast": lambda v: Book.objects.annotate(x=Cast(Value(str(v)), output_field=int)),
    "Concat": lambda v: Book.objects.annotate(x=Concat("title", Value(str(v)))),
    "Greatest": lambda v: Book.objects.annotate(x=Greatest("pages", v)),
    "Least": lambda v: Book.objects.annotate(x=Least("pages", v)),
    "Abs": lambda v: Book.objects.annotate(x=Abs(F("pages") - v)),
    "NullIf": lambda v: Book.objects.annotate(x=NullIf("pages", v)),
    "Now": lambda v: Book.objects.filter(created_at__lte=Now()).filter(pages__gte=v),
    "Coalesce": lambda v: Book.objects.annotate(x=Coalesce("rating", float(v))),
    "Case": lambda v: Book.objects.annotate(x=Case(When(pages__gt=v, then=v), default=-v)),
    "OrderBy": lambda v: Book.objects.order_by((F("pages") - v).desc(nulls_first=True)),
    "Subquery": lambda v: Book.objects.annotate(
        x=Subquery(Comment.objects.filter(book_id=OuterRef("id"), score__gt=v).values("body")[:1])
    ),
    "Exists": lambda v: Book.objects.filter(
        Exists(Comment.objects.filter(book_id=OuterRef("id"), score__lt=v))
    ),
    "values rename": lambda v: Book.objects.filter(pages__gt=v).values(name=F("title")),
    "window filter": _window_qs,
    "where_raw": lambda v: Book.objects.where_raw("pages > {idx}", v),
    "with_cte": lambda v: Book.objects.with_cte(
        "few", "SELECT id FROM core_books WHERE pages > {idx}", v
    ).where_raw("id IN (SELECT id FROM few)"),
    "join_related": lambda v: Book.objects.join_related(
        top=Comment.objects.filter(book_id=OuterRef("id"), score__gte=v).order_by("-score")
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_every_expression_compiles_once_per_shape(rows: list[Book], name: str) -> None:
    build = SHAPES[name]
    first = build(1).to_sql()
    size = len(Book._meta.sql_cache)
    second = build(2).to_sql()
    assert len(Book._meta.sql_cache) == size  # the second shape hit the cache
    assert first.sql == second.sql
    assert first.params != second.params
    # and both run: the rebound parameters fit the cached SQL
    await build(1)
    await build(2)
    await build(2).count()
