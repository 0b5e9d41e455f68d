"""Expressions: Q composition, F arithmetic, Exists/OuterRef, Coalesce, aggregates."""

from __future__ import annotations

from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment

from stellate.orm import Coalesce, Count, Exists, F, Max, OuterRef, Q, Sum, Value
from stellate.orm.testing import create_tables


@pytest.fixture
async def rows(db: Any) -> list[Book]:
    await create_tables(*ALL_MODELS)
    ann = await Author.objects.create(name="Ann", email="ann@x.io", age=10)
    books = [
        await Book.objects.create(title=f"T{i}", slug=f"t{i}", author_id=ann.id, pages=i * 10)
        for i in range(1, 4)
    ]
    await Comment.objects.create(book_id=books[0].id, body="bad", score=-1)
    await Comment.objects.create(book_id=books[1].id, body="good", score=5)
    return books


def test_q_operators_build_trees() -> None:
    q = (Q(a=1) | Q(b=2)) & ~Q(c=3)
    assert q.connector == "AND"
    assert q.children[0].connector == "OR"  # type: ignore[union-attr]
    assert q.children[1].negated  # type: ignore[union-attr]
    assert repr(~Q(a=1)) == "NOT Q(Q(('a', 1)))"
    with pytest.raises(TypeError, match=r"wrap it in `Q"):
        Q(a=1) | {"b": 2}  # type: ignore[operator]
    with pytest.raises(TypeError, match="Positional filter arguments"):
        Q("a")  # type: ignore[arg-type]


def test_f_arithmetic_shapes() -> None:
    expr = (F("a") + 1) * 2 - F("b") / 3
    assert repr(expr) == "(((F('a') + Value(1)) * Value(2)) - (F('b') / Value(3)))"
    values: list[Any] = []
    expr.flatten(values)
    assert values == [1, 2, 3]
    assert (1 + F("a")).shape() == ("C", "+", ("V",), ("F", "a"))
    assert (F("a") * 0.5).shape() == ("C", "*", ("F", "a"), ("V", "double precision"))


async def test_atomic_update_with_f(rows: list[Book]) -> None:
    await Book.objects.filter(id=rows[0].id).update(pages=F("pages") + 5, rating=F("pages") * 0.5)
    book = await Book.objects.get(id=rows[0].id)
    assert book.pages == 15
    assert book.rating == 5.0
    await Book.objects.update(pages=F("pages") - 1)
    assert await Book.objects.order_by("id").values_list("pages", flat=True) == [14, 19, 29]


async def test_exists_and_not_exists(rows: list[Book]) -> None:
    with_bad = Exists(Comment.objects.filter(book_id=OuterRef("id"), score__lt=0))
    bad = await Book.objects.filter(with_bad).values_list("title", flat=True)
    assert bad == ["T1"]
    clean = await Book.objects.exclude(with_bad).order_by("id").values_list("title", flat=True)
    assert clean == ["T2", "T3"]
    inverted = await Book.objects.filter(~with_bad).order_by("id").values_list("title", flat=True)
    assert inverted == clean
    commented = Exists(Comment.objects.filter(book_id=OuterRef("id")))
    assert await Book.objects.filter(commented, pages__gt=10).count() == 1


async def test_outer_ref_outside_a_subquery_is_an_error(rows: list[Book]) -> None:
    with pytest.raises(ValueError, match="only valid inside `Exists"):
        Book.objects.filter(pages=OuterRef("id")).to_sql()


async def test_coalesce_value_and_aggregate_filters(rows: list[Book]) -> None:
    result = await Book.objects.aggregate(
        total=Sum("pages"),
        big=Sum("pages", filter=Q(pages__gte=20)),
        none=Coalesce(Sum("pages", filter=Q(pages__gt=1000)), Value(-1)),
        top=Max("pages"),
        n=Count("id", distinct=True),
    )
    assert result == {"total": 60, "big": 50, "none": -1, "top": 30, "n": 3}
    annotated = await Book.objects.annotate(score=Coalesce("rating", 0.0)).order_by("id")
    assert [b.score for b in annotated] == [0.0, 0.0, 0.0]
    double = await Book.objects.annotate(twice=F("pages") * 2).order_by("-twice").first()
    assert double is not None
    assert double.twice == 60
