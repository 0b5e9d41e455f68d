"""``to_sql()``: the SQL querysets compile to, without a database; name checking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orm_core_models import Author, Book, Comment, Status

from stellate.orm import (
    CompiledQuery,
    Count,
    Exists,
    F,
    FieldError,
    OuterRef,
    Q,
    Sum,
    ValidationError,
)

COLS = (
    '"core_books"."id", "core_books"."title", "core_books"."slug", "core_books"."author_id", '
    '"core_books"."pages", "core_books"."price", "core_books"."rating", "core_books"."published", '
    '"core_books"."status", "core_books"."data", "core_books"."content", '
    '"core_books"."created_at", "core_books"."released"'
)


def test_plain_select() -> None:
    compiled = Book.objects.all().to_sql()
    assert isinstance(compiled, CompiledQuery)
    assert compiled == CompiledQuery(f'SELECT {COLS} FROM "core_books"', (), "select")


def test_filter_order_limit_offset_are_parameterised() -> None:
    compiled = (
        Book.objects.filter(title="x'; DROP TABLE core_books; --", pages__gte=10)
        .order_by("-id", "title")
        .limit(5)
        .offset(10)
        .to_sql()
    )
    assert compiled.sql == (
        f'SELECT {COLS} FROM "core_books" WHERE "core_books"."title" = $1 AND '
        '"core_books"."pages" >= $2 ORDER BY "core_books"."id" DESC, "core_books"."title" ASC '
        "LIMIT $3 OFFSET $4"
    )
    assert compiled.params == ("x'; DROP TABLE core_books; --", 10, 5, 10)


def test_lookups_sql() -> None:
    def where(**lookups: object) -> tuple[str, tuple[object, ...]]:
        compiled = Book.objects.filter(**lookups).to_sql()
        return compiled.sql.split(" WHERE ", 1)[1], compiled.params

    col = '"core_books"."title"'
    assert where(title__iexact="A") == (f"LOWER({col}) = LOWER($1)", ("A",))
    assert where(title__contains="50%_x") == (f"{col} LIKE $1", ("%50\\%\\_x%",))
    assert where(title__icontains="a") == (f"{col} ILIKE $1", ("%a%",))
    assert where(title__startswith="a") == (f"{col} LIKE $1", ("a%",))
    assert where(title__istartswith="a") == (f"{col} ILIKE $1", ("a%",))
    assert where(title__endswith="a") == (f"{col} LIKE $1", ("%a",))
    assert where(id__in=[1, 2]) == ('"core_books"."id" = ANY($1)', ([1, 2],))
    assert where(pages__range=(1, 9)) == ('"core_books"."pages" BETWEEN $1 AND $2', (1, 9))
    assert where(rating__isnull=True) == ('"core_books"."rating" IS NULL', ())
    assert where(rating__isnull=False) == ('"core_books"."rating" IS NOT NULL', ())
    assert where(rating=None) == ('"core_books"."rating" IS NULL', ())
    assert where(title__regex="^a") == (f"{col} ~ $1", ("^a",))
    assert where(pages__lt=3) == ('"core_books"."pages" < $1', (3,))
    assert where(pages__lte=3) == ('"core_books"."pages" <= $1', (3,))
    assert where(pages__gt=3) == ('"core_books"."pages" > $1', (3,))
    assert where(data__contains={"a": 1}) == (
        '"core_books"."data" @> $1::text::jsonb',
        ('{"a": 1}',),
    )
    assert where(data__has_key="a") == ('"core_books"."data" ? $1', ("a",))
    assert where(created_at__year=2024) == (
        'EXTRACT(YEAR FROM "core_books"."created_at")::int = $1',
        (2024,),
    )
    assert where(created_at__year__gte=2024) == (
        'EXTRACT(YEAR FROM "core_books"."created_at")::int >= $1',
        (2024,),
    )
    assert where(created_at__date="2024-01-01") == (
        '("core_books"."created_at")::date = $1',
        ("2024-01-01",),
    )
    assert where(status=Status.PUBLISHED) == ('"core_books"."status" = $1', ("published",))


def test_foreign_key_spanning_adds_one_left_join() -> None:
    compiled = Book.objects.filter(author__name="Ann", author__age__gt=3).to_sql()
    assert (
        'LEFT JOIN "core_authors" AS "t1" ON "t1"."id" = "core_books"."author_id"' in compiled.sql
    )
    assert compiled.sql.count("LEFT JOIN") == 1
    assert compiled.sql.endswith('WHERE "t1"."name" = $1 AND "t1"."age" > $2')
    nested = Comment.objects.filter(book__author__publisher__name="P").to_sql().sql
    assert nested.count("LEFT JOIN") == 3


def test_q_objects_combine() -> None:
    compiled = Book.objects.filter(
        (Q(title="a") | Q(title="b")) & ~Q(published=True), pages__gt=1
    ).to_sql()
    where = compiled.sql.split(" WHERE ", 1)[1]
    assert where == (
        '(("core_books"."title" = $1 OR "core_books"."title" = $2) AND '
        'NOT ("core_books"."published" = $3)) AND "core_books"."pages" > $4'
    )
    assert compiled.params == ("a", "b", True, 1)
    excluded = Book.objects.exclude(Q(status="archived") | Q(pages=0)).to_sql()
    assert "WHERE NOT (" in excluded.sql


def test_f_expressions_in_filters_and_update() -> None:
    compiled = Book.objects.filter(pages__gt=F("rating") * 2).to_sql()
    assert compiled.sql.endswith('WHERE "core_books"."pages" > ("core_books"."rating" * $1)')
    assert compiled.params == (2,)
    update = Book.objects.filter(id=4).to_sql(
        "update", update_values={"pages": F("pages") + 1, "title": "new"}, update_returning=["id"]
    )
    assert update.sql == (
        'UPDATE "core_books" SET "pages" = ("core_books"."pages" + $1), "title" = $2 WHERE '
        '("core_books"."id" = $3) RETURNING "id"'
    )
    assert update.params == (1, "new", 4)
    assert update.kind == "update"


def test_delete_and_update_with_join_use_subquery() -> None:
    compiled = Book.objects.filter(author__name="x").to_sql("delete")
    assert compiled.sql.startswith(
        'DELETE FROM "core_books" WHERE "core_books"."id" IN (SELECT "core_books"."id" FROM '
        '"core_books" LEFT JOIN'
    )
    assert compiled.params == ("x",)


def test_select_related_joins_and_columns() -> None:
    sql = Book.objects.select_related("author__publisher").to_sql().sql
    assert 'LEFT JOIN "core_authors" AS "t1"' in sql
    assert 'LEFT JOIN "core_publishers" AS "t2" ON "t2"."id" = "t1"."publisher_id"' in sql
    assert '"t2"."country"' in sql


def test_aggregates_and_filter_clause() -> None:
    qs = Author.objects.annotate(
        n=Count("books"), published=Count("books", filter=Q(books__published=True))
    )
    compiled = qs.to_sql()
    assert 'COUNT("t1"."id") AS "n"' in compiled.sql
    assert 'COUNT("t1"."id") FILTER (WHERE "t1"."published" = $1) AS "published"' in compiled.sql
    assert 'GROUP BY "core_authors"."id"' in compiled.sql
    assert compiled.params == (True,)
    values = Book.objects.values("author_id").annotate(total=Sum("pages")).to_sql().sql
    assert 'GROUP BY "core_books"."author_id"' in values


def test_exists_and_count_kinds() -> None:
    exists = Book.objects.filter(pages=1).to_sql("exists")
    assert exists.sql == 'SELECT 1 FROM "core_books" WHERE "core_books"."pages" = $1 LIMIT 1'
    count = Book.objects.filter(pages=1).to_sql("count")
    assert count.sql == 'SELECT COUNT(*) FROM "core_books" WHERE "core_books"."pages" = $1'
    limited = Book.objects.limit(3).to_sql("count")
    assert limited.sql.startswith("SELECT COUNT(*) FROM (SELECT")


def test_correlated_exists_subquery() -> None:
    qs = Book.objects.filter(published=True).exclude(
        Exists(Comment.objects.filter(book_id=OuterRef("id"), score__lt=0))
    )
    compiled = qs.to_sql()
    assert (
        'NOT (EXISTS (SELECT 1 FROM "core_comments" AS "s1" WHERE "s1"."book_id" = '
        '"core_books"."id" AND "s1"."score" < $2 LIMIT 1))'
    ) in compiled.sql
    assert compiled.params == (True, 0)


def test_in_subquery() -> None:
    authors = Author.objects.filter(name__startswith="A").values("id")
    compiled = Book.objects.filter(author_id__in=authors).to_sql()
    assert '"core_books"."author_id" IN (SELECT "s1"."id" AS "id" FROM "core_authors" AS "s1"' in (
        compiled.sql
    )
    assert compiled.params == ("A%",)


def test_str_and_inlined_are_for_reading() -> None:
    compiled = Book.objects.filter(title="it's", pages=3).to_sql()
    text = str(compiled)
    assert text.startswith("-- SELECT (2 params)\n")
    assert '--   $1 = "it\'s"' in text
    assert compiled.inlined().endswith('= "it\'s" AND "core_books"."pages" = 3')


def test_same_shape_reuses_compiled_sql() -> None:
    Book._meta.sql_cache.clear()
    first = Book.objects.filter(title="a", pages__gt=1).to_sql()
    size = len(Book._meta.sql_cache)
    second = Book.objects.filter(title="b", pages__gt=2).to_sql()
    assert len(Book._meta.sql_cache) == size
    assert first.sql == second.sql
    assert second.params == ("b", 2)
    Book.objects.filter(title=None, pages__gt=2).to_sql()
    assert len(Book._meta.sql_cache) == size + 1


def test_unknown_names_raise_field_error_with_suggestions() -> None:
    with pytest.raises(FieldError, match=r"Unknown field `titel` on `Book` \(did you mean `title`"):
        Book.objects.filter(titel="x").to_sql()
    with pytest.raises(FieldError, match=r"Unknown field `nmae` on `Author`"):
        Book.objects.filter(author__nmae="x").to_sql()
    with pytest.raises(FieldError, match=r"Unknown lookup `icontain`"):
        Book.objects.filter(title__icontain="x").to_sql()
    with pytest.raises(FieldError, match=r"Unknown field `titl`"):
        Book.objects.order_by("-titl").to_sql()
    with pytest.raises(FieldError, match=r"Unknown field `nope`"):
        Book.objects.values("nope")
    with pytest.raises(FieldError, match=r"Unknown relation `autor` on `Book`"):
        Book.objects.select_related("autor")
    with pytest.raises(FieldError, match="Unknown field `titel`"):
        Book.objects.only("titel")
    with pytest.raises(FieldError, match="Unknown field `x`"):
        Book.objects.all().to_sql("update", update_values={"x": 1})


def test_bad_filter_values_are_explained() -> None:
    with pytest.raises(FieldError, match=r"use `__isnull=True`"):
        Book.objects.filter(pages__gt=None).to_sql()
    with pytest.raises(FieldError, match=r"takes a list"):
        Book.objects.filter(id__in=5).to_sql()
    with pytest.raises(FieldError, match=r"takes True or False"):
        Book.objects.filter(rating__isnull="yes").to_sql()
    with pytest.raises(ValueError, match="non-negative integer"):
        Book.objects.limit(-1)
    with pytest.raises(ValidationError, match="`pages`"):
        Book.objects.all().to_sql("update", update_values={"pages": "many"})
    with pytest.raises(FieldError, match="sliced"):
        Book.objects.limit(3).to_sql("delete")


def test_only_and_defer_select_fewer_columns() -> None:
    only = Book.objects.only("title").to_sql().sql
    assert only == 'SELECT "core_books"."id", "core_books"."title" FROM "core_books"'
    defer = Book.objects.defer("content", "data").to_sql().sql
    assert '"content"' not in defer
    assert '"data"' not in defer
    with pytest.raises(FieldError, match="cannot be deferred"):
        Book.objects.defer("id").to_sql()


def test_select_for_update() -> None:
    sql = Book.objects.filter(id=1).select_for_update(skip_locked=True).to_sql().sql
    assert sql.endswith('FOR UPDATE OF "core_books" SKIP LOCKED')
    both = (
        Book.objects.select_related("author")
        .select_for_update(of=("self", "author"), nowait=True)
        .to_sql()
        .sql
    )
    assert both.endswith('FOR UPDATE OF "core_books", "t1" NOWAIT')
    with pytest.raises(FieldError, match=r"names `publisher`, which is not joined"):
        Book.objects.select_related("author").select_for_update(of=("publisher",)).to_sql()


# -- the per-shape SQL cache binds new values exactly as a fresh compile would ----------

# PostgreSQL text cannot hold NUL, and filters refuse it before compiling (tested elsewhere).
_TEXT = st.characters(exclude_characters="\x00")
_LEAVES = [
    ("title", st.text(_TEXT, max_size=5)),
    ("title__icontains", st.text(_TEXT, max_size=5)),
    ("pages__gt", st.integers(-5, 5)),
    ("pages__range", st.tuples(st.integers(0, 3), st.integers(4, 9))),
    ("id__in", st.lists(st.integers(1, 9), max_size=3)),
    ("rating__isnull", st.booleans()),
    ("rating", st.one_of(st.none(), st.floats(0, 5))),
    ("author__name__startswith", st.text(_TEXT, max_size=3)),
    ("created_at__year", st.integers(2000, 2030)),
    ("data__has_key", st.text(_TEXT, min_size=1, max_size=3)),
]


@st.composite
def _query_pairs(draw: st.DrawFn) -> tuple[object, object]:
    chosen = draw(st.lists(st.sampled_from(range(len(_LEAVES))), min_size=1, max_size=4))
    first: dict[str, object] = {}
    second: dict[str, object] = {}
    for index in chosen:
        key, values = _LEAVES[index]
        # Independent values: where they change the SQL (None, isnull), the cache must
        # not hand out the first query's SQL.
        first[key] = draw(values)
        second[key] = draw(values)
    negate = draw(st.booleans())
    use_or = draw(st.booleans())
    limit = draw(st.integers(0, 50))
    with_annotation = draw(st.booleans())

    def build(values: dict[str, object], bound: int) -> object:
        items = list(values.items())
        condition = Q(**dict(items[:1]))
        for key, value in items[1:]:
            condition = condition | Q(**{key: value}) if use_or else condition & Q(**{key: value})
        qs = Book.objects.exclude(condition) if negate else Book.objects.filter(condition)
        if with_annotation:
            qs = qs.annotate(bonus=F("pages") + bound)
        return qs.order_by("-id").limit(bound)

    return build(first, limit), build(second, limit + 1)


@settings(max_examples=150, deadline=None)
@given(_query_pairs())
def test_cached_shape_binds_like_a_fresh_compile(pair: tuple[object, object]) -> None:
    first, second = pair
    Book._meta.sql_cache.clear()
    first.to_sql()  # type: ignore[attr-defined]
    cached = second.to_sql()  # type: ignore[attr-defined]
    Book._meta.sql_cache.clear()
    fresh = second.to_sql()  # type: ignore[attr-defined]
    assert cached == fresh


def test_repr_shows_sql_and_never_raises() -> None:
    assert repr(Book.objects.filter(pages=1)).startswith("<QuerySet Book: SELECT ")
    broken = Book.objects.filter(nope=1)
    assert "does not compile: Unknown field `nope`" in repr(broken)
