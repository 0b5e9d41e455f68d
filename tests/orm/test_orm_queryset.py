"""QuerySets against real PostgreSQL: reads, writes, bulk operations, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment, Status

from stellate.orm import (
    Avg,
    CheckViolation,
    Coalesce,
    Count,
    F,
    FieldError,
    ForeignKeyViolation,
    IntegrityError,
    Max,
    Min,
    NotLoadedError,
    Q,
    Sum,
    UniqueViolation,
    ValidationError,
    transaction,
)
from stellate.orm.testing import create_tables


@pytest.fixture
async def author(db: Any) -> Author:
    await create_tables(*ALL_MODELS)
    return await Author.objects.create(name="Ann", email="ann@example.com", age=40)


@pytest.fixture
async def books(author: Author) -> list[Book]:
    other = await Author.objects.create(name="Bob", email="bob@example.com", age=30)
    made = []
    for index, (title, pages, status) in enumerate(
        [
            ("Alpha", 100, Status.PUBLISHED),
            ("beta", 200, Status.DRAFT),
            ("Gamma 50%", 300, Status.PUBLISHED),
            ("delta", 50, Status.ARCHIVED),
        ]
    ):
        made.append(
            await Book.objects.create(
                title=title,
                slug=title.lower(),
                author_id=author.id if index < 3 else other.id,
                pages=pages,
                status=status,
                published=status is Status.PUBLISHED,
                data={"lang": "en" if index % 2 == 0 else "fr", "n": index},
                created_at=dt.datetime(2020 + index, 6, 1, tzinfo=dt.UTC),
                price=Decimal("9.50") * (index + 1),
            )
        )
    return made


async def titles(qs: Any) -> list[str]:
    return [b.title for b in await qs]


async def test_filter_exclude_order(books: list[Book]) -> None:
    assert await titles(Book.objects.filter(pages__gte=100).order_by("pages")) == [
        "Alpha",
        "beta",
        "Gamma 50%",
    ]
    assert await titles(Book.objects.exclude(status=Status.PUBLISHED).order_by("-pages")) == [
        "beta",
        "delta",
    ]
    assert await titles(Book.objects.order_by("author__name", "-pages")) == [
        "Gamma 50%",
        "beta",
        "Alpha",
        "delta",
    ]


async def test_lookups_against_the_database(books: list[Book]) -> None:
    by = Book.objects.order_by("id")
    assert await titles(by.filter(title__iexact="ALPHA")) == ["Alpha"]
    assert await titles(by.filter(title__contains="50%")) == ["Gamma 50%"]
    assert await titles(by.filter(title__contains="a%")) == []
    assert await titles(by.filter(title__icontains="ET")) == ["beta"]
    assert await titles(by.filter(title__startswith="G")) == ["Gamma 50%"]
    assert await titles(by.filter(title__istartswith="g")) == ["Gamma 50%"]
    assert await titles(by.filter(title__endswith="ta")) == ["beta", "delta"]
    assert await titles(by.filter(id__in=[books[0].id, books[3].id])) == ["Alpha", "delta"]
    assert await titles(by.filter(id__in=[])) == []
    assert await titles(by.filter(pages__range=(60, 200))) == ["Alpha", "beta"]
    assert await titles(by.filter(pages__lt=100)) == ["delta"]
    assert await titles(by.filter(rating__isnull=True, pages__lte=100)) == ["Alpha", "delta"]
    assert await titles(by.filter(title__regex=r"^[a-z]+$")) == ["beta", "delta"]
    assert await titles(by.filter(data__contains={"lang": "fr"})) == ["beta", "delta"]
    assert await titles(by.filter(data__has_key="lang", data__contains={"n": 2})) == ["Gamma 50%"]
    assert await titles(by.filter(created_at__year=2021)) == ["beta"]
    assert await titles(by.filter(created_at__year__gte=2022)) == ["Gamma 50%", "delta"]
    assert await titles(by.filter(created_at__date=dt.date(2020, 6, 1))) == ["Alpha"]
    assert await titles(by.filter(author__name="Bob")) == ["delta"]
    assert await titles(by.filter(author__name__startswith="A", pages__gt=100)) == [
        "beta",
        "Gamma 50%",
    ]
    assert await titles(by.filter(author=books[3].author_id)) == ["delta"]


async def test_q_and_f(books: list[Book]) -> None:
    by = Book.objects.order_by("id")
    assert await titles(by.filter(Q(title="Alpha") | Q(pages__gt=250))) == ["Alpha", "Gamma 50%"]
    assert await titles(by.filter(Q(published=True) & ~Q(title="Alpha"))) == ["Gamma 50%"]
    assert await titles(by.exclude(Q(status="archived") | Q(status="draft"))) == [
        "Alpha",
        "Gamma 50%",
    ]
    assert await titles(by.filter(pages__gt=F("author__age") * 4)) == ["beta", "Gamma 50%"]


async def test_first_last_get_count_exists(books: list[Book]) -> None:
    first = await Book.objects.first()
    assert first is not None
    assert first.title == "Alpha"
    last = await Book.objects.last()
    assert last is not None
    assert last.title == "delta"
    assert (await Book.objects.order_by("-pages").first()).title == "Gamma 50%"  # type: ignore[union-attr]
    assert await Book.objects.filter(pages=1).first() is None
    assert (await Book.objects.get(slug="beta")).pages == 200
    only_beta = Book.objects.filter(slug="beta")
    assert (await only_beta.get()).pages == 200
    assert only_beta._query.limit is None  # get() did not change the queryset
    with pytest.raises(Book.DoesNotExist, match=r"No `Book` matches `slug='nope'`"):
        await Book.objects.get(slug="nope")
    with pytest.raises(Book.MultipleObjectsReturned, match="More than one `Book`"):
        await Book.objects.get(published=True)
    assert await Book.objects.count() == 4
    assert await Book.objects.filter(published=True).count() == 2
    assert await Book.objects.filter(published=True).exists()
    assert not await Book.objects.filter(pages=7).exists()
    assert await Book.objects.limit(2).count() == 2
    assert await Book.objects.values("author_id").distinct().count() == 2


async def test_reads_are_single_round_trips(books: list[Book], assert_num_queries: Any) -> None:
    async with assert_num_queries(1) as seen:
        await Book.objects.get(id=books[0].id)
    assert "BEGIN" not in seen[0].sql
    async with assert_num_queries(3):
        await Book.objects.filter(pages__gt=1).all()
        await Book.objects.count()
        await Book.objects.exists()


async def test_limit_offset_slicing_and_distinct(books: list[Book]) -> None:
    by = Book.objects.order_by("id")
    assert await titles(by.limit(2)) == ["Alpha", "beta"]
    assert await titles(by.offset(1).limit(2)) == ["beta", "Gamma 50%"]
    assert await titles(by[2:4]) == ["Gamma 50%", "delta"]
    assert await titles(by[1:4][1:]) == ["Gamma 50%", "delta"]
    assert await titles(by[1:3][1:5]) == ["Gamma 50%"]
    assert await titles(by[:2][3:]) == []
    with pytest.raises(ValueError, match="slice start"):
        by[-1:]
    authors = await Book.objects.values_list("author_id", flat=True).distinct()
    assert len(authors) == 2


async def test_values_and_values_list(books: list[Book], author: Author) -> None:
    rows = await Book.objects.order_by("id").values("title", "status", "author__name").limit(1)
    assert rows == [{"title": "Alpha", "status": Status.PUBLISHED, "author__name": "Ann"}]
    pairs = await Book.objects.order_by("id").values_list("title", "pages").limit(2)
    assert pairs == [("Alpha", 100), ("beta", 200)]
    flat = await Book.objects.order_by("id").values_list("status", flat=True)
    assert flat == [Status.PUBLISHED, Status.DRAFT, Status.PUBLISHED, Status.ARCHIVED]
    everything = await Book.objects.filter(id=books[0].id).values()
    assert everything[0]["data"] == {"lang": "en", "n": 0}
    with pytest.raises(FieldError, match="exactly one field"):
        Book.objects.values_list("title", "pages", flat=True)


async def test_only_defer_raise_not_loaded(books: list[Book]) -> None:
    book = await Book.objects.only("title").get(id=books[0].id)
    assert book.title == "Alpha"
    with pytest.raises(NotLoadedError, match=r"`Book\.pages` was not loaded"):
        _ = book.pages
    deferred = await Book.objects.defer("data").get(id=books[0].id)
    assert deferred.pages == 100
    with pytest.raises(NotLoadedError):
        _ = deferred.data
    assert "data" not in deferred.to_dict()


async def test_aggregate_and_annotate(books: list[Book], author: Author) -> None:
    result = await Book.objects.aggregate(
        total=Sum("pages"),
        avg=Avg("pages"),
        low=Min("pages"),
        high=Max("pages"),
        n=Count("*"),
        published=Count("id", filter=Q(published=True)),
    )
    assert result == {
        "total": 650,
        "avg": Decimal("162.5"),
        "low": 50,
        "high": 300,
        "n": 4,
        "published": 2,
    }
    empty = await Book.objects.filter(pages=-1).aggregate(
        total=Coalesce(Sum("pages"), 0), raw=Sum("pages")
    )
    assert empty == {"total": 0, "raw": None}
    assert await Book.objects.aggregate(Count("id")) == {"id__count": 4}
    authors = await Author.objects.annotate(
        n=Count("books"), pub=Count("books", filter=Q(books__published=True))
    ).order_by("name")
    assert [(a.name, a.n, a.pub) for a in authors] == [("Ann", 3, 2), ("Bob", 1, 0)]
    grouped = (
        await Book.objects.values("author__name")
        .annotate(total=Sum("pages"))
        .order_by("author__name")
    )
    assert grouped == [{"author__name": "Ann", "total": 600}, {"author__name": "Bob", "total": 50}]
    with pytest.raises(FieldError, match=r"clashes with the field `Book\.pages`"):
        Book.objects.annotate(pages=Sum("pages"))
    ordered = (
        await Author.objects.annotate(n=Count("books"))
        .order_by("-n")
        .values_list("name", flat=True)
    )
    assert ordered == ["Ann", "Bob"]


async def test_create_get_or_create_update_or_create(author: Author) -> None:
    book, created = await Book.objects.get_or_create(
        slug="one", defaults={"title": "One", "author_id": author.id}
    )
    assert created
    assert book.id is not None
    again, created = await Book.objects.get_or_create(
        slug="one", defaults={"title": "Other", "author_id": author.id}
    )
    assert not created
    assert again.id == book.id
    assert again.title == "One"
    updated, created = await Book.objects.update_or_create(
        slug="one", defaults={"title": "Uno", "author_id": author.id}
    )
    assert not created
    assert updated.id == book.id
    assert updated.title == "Uno"
    made, created = await Book.objects.update_or_create(
        slug="two", defaults={"title": "Two", "author_id": author.id}
    )
    assert created
    assert made.title == "Two"
    assert await Book.objects.count() == 2


async def test_get_or_create_reads_back_a_concurrent_insert(author: Author) -> None:
    # The row appears between the lookup and the INSERT (another request): ON CONFLICT
    # DO NOTHING skips the insert and the existing row is returned, with no error.
    from stellate.orm import _persist

    racer = Book(title="Racer", slug="race", author_id=author.id)
    await _persist.insert(racer)
    mine = Book(title="Mine", slug="race", author_id=author.id)
    assert await _persist.insert(mine, on_conflict_do_nothing=True) is False
    found, created = await Book.objects.get_or_create(
        slug="race", defaults={"title": "Mine", "author_id": author.id}
    )
    assert not created
    assert found.id == racer.id


async def test_update_with_f_and_returning(books: list[Book]) -> None:
    count = await Book.objects.filter(published=True).update(pages=F("pages") + 1)
    assert count == 2
    rows = await Book.objects.filter(id=books[0].id).update(
        pages=F("pages") * 2, status=Status.ARCHIVED, returning=["id", "pages", "status"]
    )
    assert rows == [{"id": books[0].id, "pages": 202, "status": Status.ARCHIVED}]
    by_join = await Book.objects.filter(author__name="Bob").update(title="Bobs")
    assert by_join == 1
    with pytest.raises(ValidationError, match="`status`"):
        await Book.objects.update(status="nope")


async def test_delete_queryset(books: list[Book]) -> None:
    assert await Book.objects.filter(pages__lt=150).delete() == 2
    assert await Book.objects.count() == 2
    assert await Book.objects.filter(author__name="Bob").delete() == 0


async def test_bulk_create_one_round_trip(author: Author, assert_num_queries: Any) -> None:
    objs = [
        Book(title=f"B{i}", slug=f"b{i}", author_id=author.id, pages=i, data={"i": i})
        for i in range(50)
    ]
    async with assert_num_queries(1):
        made = await Book.objects.bulk_create(objs)
    assert all(b.id is not None for b in made)
    assert len({b.id for b in made}) == 50
    loaded = await Book.objects.get(slug="b7")
    assert loaded.data == {"i": 7}
    assert loaded.pages == 7
    assert loaded.id == made[7].id


async def test_bulk_create_conflicts(author: Author) -> None:
    await Book.objects.create(title="Old", slug="dup", author_id=author.id, pages=1)
    await Book.objects.bulk_create(
        [Book(title="New", slug="dup", author_id=author.id)], ignore_conflicts=True
    )
    assert (await Book.objects.get(slug="dup")).title == "Old"
    await Author.objects.bulk_create(
        [Author(name="Renamed", email="ann@example.com"), Author(name="Cy", email="cy@x.io")],
        update_conflicts=True,
        unique_fields=["email"],
        update_fields=["name"],
    )
    assert (await Author.objects.get(email="ann@example.com")).name == "Renamed"
    assert await Author.objects.count() == 2
    with pytest.raises(UniqueViolation):
        await Book.objects.bulk_create([Book(title="x", slug="dup", author_id=author.id)])


async def test_bulk_create_validates_every_object_first(
    author: Author, assert_num_queries: Any
) -> None:
    objs = [Book(title="ok", slug="ok", author_id=author.id), Book(slug="bad", author_id=author.id)]
    objs[0].pages = "x"  # type: ignore[assignment]
    async with assert_num_queries(0):
        with pytest.raises(ValidationError) as info:
            await Book.objects.bulk_create(objs)
    assert set(info.value.errors) == {"[0].pages", "[1].title"}


async def test_bulk_create_with_copy(author: Author) -> None:
    objs = [
        Book(title=f"C{i}", slug=f"c{i}", author_id=author.id, data={"c": i}) for i in range(20)
    ]
    await Book.objects.bulk_create(objs, use_copy=True)
    assert await Book.objects.filter(title__startswith="C").count() == 20
    assert (await Book.objects.get(slug="c3")).data == {"c": 3}


async def test_bulk_update_and_in_bulk(books: list[Book], assert_num_queries: Any) -> None:
    for book in books:
        book.pages += 1000
        book.data = {"updated": True}
    async with assert_num_queries(1):
        count = await Book.objects.bulk_update(books, ["pages", "data"])
    assert count == 4
    by_id = await Book.objects.in_bulk([b.id for b in books[:2]])
    assert set(by_id) == {books[0].id, books[1].id}
    assert by_id[books[0].id].pages == 1100
    assert by_id[books[1].id].data == {"updated": True}
    by_slug = await Book.objects.in_bulk(["alpha"], field_name="slug")
    assert by_slug["alpha"].id == books[0].id


async def test_async_iteration_in_chunks(author: Author, assert_num_queries: Any) -> None:
    await Book.objects.bulk_create(
        [Book(title=f"I{i}", slug=f"i{i}", author_id=author.id, pages=i) for i in range(25)]
    )
    async with assert_num_queries(3):
        seen = [book.pages async for book in Book.objects.iterator(chunk_size=10)]
    assert seen == list(range(25))
    ordered = [b.pages async for b in Book.objects.order_by("-pages").limit(12).iterator(5)]
    assert ordered == list(range(24, 12, -1))
    default = [b.id async for b in Book.objects.filter(pages__lt=3)]
    assert len(default) == 3


async def test_integrity_errors_are_typed_and_name_the_constraint(author: Author) -> None:
    # Each failing statement runs in a savepoint so the test transaction stays usable.
    with pytest.raises(UniqueViolation) as unique:
        async with transaction():
            await Author.objects.create(name="Again", email="ann@example.com")
    assert unique.value.constraint == "core_authors_email_key"
    assert "`core_authors_email_key`" in str(unique.value)
    with pytest.raises(CheckViolation, match="`core_books_pages_nonnegative`") as check:
        async with transaction():
            await Book.objects.create(title="T", slug="t", author_id=author.id, pages=-5)
    assert check.value.constraint == "core_books_pages_nonnegative"
    with pytest.raises(ForeignKeyViolation):
        async with transaction():
            await Book.objects.create(title="T", slug="t", author_id=999999)
    assert issubclass(UniqueViolation, IntegrityError)


async def test_unique_constraint_with_condition(author: Author) -> None:
    await Book.objects.create(title="A", slug="s", author_id=author.id, status=Status.ARCHIVED)
    await Book.objects.create(title="B", slug="s", author_id=author.id, status=Status.ARCHIVED)
    await Book.objects.create(title="C", slug="s", author_id=author.id)
    with pytest.raises(UniqueViolation, match="`core_books_live_slug`"):
        await Book.objects.create(title="D", slug="s", author_id=author.id)


async def test_queryset_is_lazy_and_immutable(books: list[Book], assert_num_queries: Any) -> None:
    base = Book.objects.filter(published=True)
    async with assert_num_queries(0):
        narrowed = base.filter(pages__gt=150).order_by("-id")
    assert await base.count() == 2
    assert await titles(narrowed) == ["Gamma 50%"]


async def test_save_of_loaded_instance_updates(books: list[Book]) -> None:
    book = await Book.objects.get(id=books[1].id)
    book.title = "Beta!"
    book.status = Status.PUBLISHED
    await book.save()
    again = await Book.objects.get(id=books[1].id)
    assert (again.title, again.status) == ("Beta!", Status.PUBLISHED)
    assert await Comment.objects.count() == 0


async def test_filters_on_annotations_use_having_and_where(books: list[Book]) -> None:
    published = Count("books", filter=Q(books__published=True))
    qs = Author.objects.annotate(n=Count("books"), pub=published).filter(n__gte=2)
    compiled = qs.to_sql()
    assert 'HAVING (COUNT("t1"."id")) >= $2' in compiled.sql
    assert compiled.params == (True, 2)
    assert [a.name for a in await qs] == ["Ann"]
    assert await qs.count() == 1
    assert await qs.exists()
    assert await Author.objects.annotate(pub=published).filter(pub=0).values_list(
        "name", flat=True
    ) == ["Bob"]
    assert [a.name for a in await qs.exclude(pub__gte=2)] == []
    doubled = Book.objects.annotate(twice=F("pages") * 2).filter(twice__gt=250)
    assert doubled.to_sql().sql.endswith(' WHERE (("core_books"."pages" * $2)) > $3')
    assert doubled.to_sql().params == (2, 2, 250)
    assert await doubled.order_by("id").values_list("title", flat=True) == ["beta", "Gamma 50%"]
    with pytest.raises(FieldError, match="aggregate"):
        await qs.update(name="x")
    with pytest.raises(FieldError, match="can be filtered"):
        Book.objects.annotate(twice=F("pages") * 2).filter(pages__lt=F("twice")).to_sql()


async def test_select_for_update_inside_a_transaction(books: list[Book]) -> None:
    async with transaction():
        locked = await Book.objects.filter(id=books[0].id).select_for_update(nowait=True)
        assert [b.id for b in locked] == [books[0].id]
    with pytest.raises(ValueError, match="not both"):
        Book.objects.select_for_update(skip_locked=True, nowait=True)


async def test_wrong_filter_values_name_the_field(
    books: list[Book], assert_num_queries: Any
) -> None:
    async with assert_num_queries(0):
        with pytest.raises(FieldError, match=r"`Book\.pages` holds int values; cannot filter it"):
            await Book.objects.filter(pages="many").all()
        with pytest.raises(FieldError, match=r"`Book\.status` cannot match `'gone'`: use one of"):
            await Book.objects.filter(status__in=["draft", "gone"]).all()
    assert await Book.objects.filter(status__in=["draft", Status.ARCHIVED]).count() == 2


async def test_missing_table_names_the_model_and_the_fix(db: Any) -> None:
    from stellate.orm import MissingTableError

    with pytest.raises(MissingTableError, match=r"model `Author`.*stellate migrate"):
        async with transaction():
            await Author.objects.count()


async def test_values_the_column_type_rejects_name_the_query(author: Author) -> None:
    from stellate.orm import QueryValueError

    with pytest.raises(QueryValueError, match=r"in a `Author` query: UPDATE"):
        async with transaction():
            await Author.objects.filter(id=author.id).update(age=F("age") + "x")


async def test_values_before_annotate_groups_after_keeps_rows(books: list[Book]) -> None:
    await Author.objects.create(name="Ann", email="ann2@example.com")
    per_author = await (
        Author.objects.annotate(n=Count("books")).values("name", "n").order_by("name", "-n")
    )
    assert per_author == [{"name": "Ann", "n": 3}, {"name": "Ann", "n": 0}, {"name": "Bob", "n": 1}]
    per_name = await Author.objects.values("name").annotate(n=Count("books")).order_by("name")
    assert per_name == [{"name": "Ann", "n": 3}, {"name": "Bob", "n": 1}]


async def test_readme_models_and_querysets_example_runs(db: Any) -> None:
    import ast
    import pathlib
    import re

    readme = pathlib.Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## Models and querysets", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    definitions, statements = code.split("\n\n\nauthor = ", 1)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(definitions, "README.md", "exec"), namespace)
    await create_tables(namespace["Author"], namespace["Book"])
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    await eval(compile("author = " + statements, "README.md", "exec", flags=flags), namespace)
    assert namespace["first"].author.name == "Frank"
    assert [b.title for b in namespace["books"]] == ["Dune"]
    assert namespace["counts"] == []
    assert (await namespace["Book"].objects.get(id=namespace["book"].id)).pages == 1


async def test_bulk_create_needs_the_same_fields_on_every_object(author: Author) -> None:
    with_key = Book(title="a", slug="a", author_id=author.id, id=500)
    without = Book(title="b", slug="b", author_id=author.id)
    with pytest.raises(ValueError, match=r"object 1 differs from the first on `id`"):
        await Book.objects.bulk_create([with_key, without])
    partial = Book(title="c", slug="c", author_id=author.id)
    del partial.__dict__["content"]
    with pytest.raises(ValueError, match=r"object 1 differs from the first on `content`"):
        await Book.objects.bulk_create([Book(title="d", slug="d", author_id=author.id), partial])


async def test_handlers_return_model_instances_as_json(books: list[Book]) -> None:
    from stellate.core import App, Request
    from stellate.core.testing import AppClient

    app = App()

    @app.get("/books/{book_id:int}")
    async def detail(request: Request, book_id: int) -> Book:
        return await Book.objects.get(id=book_id)

    @app.get("/books")
    async def listing(request: Request) -> list[Book]:
        return await Book.objects.only("title").order_by("id").limit(2)

    async with AppClient(app) as http:
        one = await http.get(f"/books/{books[0].id}")
        many = await http.get("/books")
    assert one.status_code == 200
    body = one.json()
    assert body["title"] == "Alpha"
    assert body["status"] == "published"
    assert body["data"] == {"lang": "en", "n": 0}
    assert body["price"] == "9.50"
    assert many.json() == [
        {"id": books[0].id, "title": "Alpha"},
        {"id": books[1].id, "title": "beta"},
    ]


async def test_get_or_create_is_race_safe_across_connections(
    own_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real concurrency: a pool of its own (outside the test transaction), so the
    # coroutines below race on two connections against a committed table.
    import asyncio

    from stellate.orm import Field, Model
    from stellate.orm.database import activate, restore
    from stellate.orm.schema import create_table_sql

    class Slot(Model):
        class Meta:
            table = "core_race_slots"  # the test database is new for every run

        id: int = Field(primary_key=True, auto=True)
        key: str = Field(unique=True)
        value: int = Field(default=0)

    from stellate.orm import _persist

    skipped: list[bool] = []
    insert = _persist.insert

    async def observed_insert(obj: Any, **options: Any) -> bool:
        inserted = await insert(obj, **options)
        skipped.append(not inserted)
        return inserted

    monkeypatch.setattr(_persist, "insert", observed_insert)
    previous = activate({"default": own_db})
    try:
        for statement in create_table_sql(Slot):
            await own_db.execute(statement)
        try:
            # Open both pooled connections first, so two lookups really run at once.
            await asyncio.gather(*(own_db.fetchval("SELECT pg_sleep(0.05)") for _ in range(2)))
            results = await asyncio.gather(
                *(Slot.objects.get_or_create(key="k", defaults={"value": i}) for i in range(8))
            )
            assert sum(created for _, created in results) == 1
            assert len({obj.id for obj, _ in results}) == 1
            assert any(skipped), "the race did not happen: no INSERT met a conflict"
            updated = await asyncio.gather(
                *(Slot.objects.update_or_create(key="u", defaults={"value": i}) for i in range(8))
            )
            assert sum(created for _, created in updated) == 1
            assert await Slot.objects.count() == 2
        finally:
            await own_db.execute('DROP TABLE "core_race_slots"')
    finally:
        restore(previous)


async def test_integer_out_of_column_range_fails_before_sql(
    author: Author, assert_num_queries: Any
) -> None:
    async with assert_num_queries(0):
        with pytest.raises(FieldError, match=r"holds values from -2147483648 to 2147483647"):
            await Author.objects.filter(id=2**40).first()
        with pytest.raises(FieldError, match=r"`-2147483649` is out of range"):
            await Author.objects.filter(id__in=[1, -(2**31) - 1]).first()
    assert await Author.objects.filter(id=2**31 - 1).first() is None
    with pytest.raises(FieldError, match="NUL character"):
        await Author.objects.filter(name="a\x00b").first()
