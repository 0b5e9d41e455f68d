"""QuerySets & expressions guide."""

from __future__ import annotations

from decimal import Decimal

from stellate.orm import (
    Count,
    Exists,
    F,
    Field,
    Model,
    OnDelete,
    OuterRef,
    Prefetch,
    Q,
    RowNumber,
    Sum,
    Window,
    transaction,
)


# --8<-- [start:models]
class Author(Model):
    class Meta:
        table = "qs_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    country: str = Field(default="")


class Book(Model):
    class Meta:
        table = "qs_books"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    genre: str = Field(default="fiction")
    price: Decimal = Field(default=Decimal("0"), ge=0)
    stock: int = Field(default=0, ge=0)
    author_id: int = Field(foreign_key=Author, related_name="books", on_delete=OnDelete.CASCADE)


# --8<-- [end:models]


async def main() -> None:
    # --8<-- [start:create]
    le_guin = await Author.objects.create(name="Ursula K. Le Guin", country="US")
    banks = await Author.objects.create(name="Iain M. Banks", country="UK")
    await Book.objects.bulk_create(
        [  # one INSERT for all rows
            Book(title="The Dispossessed", price=Decimal("12.50"), stock=3, author_id=le_guin.id),
            Book(
                title="A Wizard of Earthsea",
                genre="fantasy",
                price=Decimal("9"),
                author_id=le_guin.id,
            ),
            Book(title="Excession", price=Decimal("11"), stock=7, author_id=banks.id),
        ]
    )
    author, created = await Author.objects.get_or_create(name="Iain M. Banks")
    assert not created and author.id == banks.id
    # --8<-- [end:create]

    # --8<-- [start:filter]
    cheap = Book.objects.filter(price__lt=10)  # lazy: nothing ran yet
    assert [b.title for b in await cheap] == ["A Wizard of Earthsea"]
    in_stock_or_fantasy = Book.objects.filter(Q(stock__gt=0) | Q(genre="fantasy"))
    assert await in_stock_or_fantasy.count() == 3
    titles = (
        await Book.objects.exclude(genre="fantasy")
        .order_by("-price")
        .values_list("title", flat=True)
    )
    assert titles == ["The Dispossessed", "Excession"]
    assert await Book.objects.filter(title__icontains="earthsea").exists()
    first = await Book.objects.order_by("title").first()  # Book | None
    assert first is not None and first.title == "A Wizard of Earthsea"
    query = Book.objects.filter(price__gte=10).to_sql()  # no database needed
    assert "WHERE" in query.sql and query.params == (10,)
    # --8<-- [end:filter]

    # --8<-- [start:relations]
    books = await Book.objects.select_related("author").order_by("id").all()  # one JOIN
    assert books[0].author.name == "Ursula K. Le Guin"
    authors = (
        await Author.objects.prefetch_related(
            Prefetch("books", queryset=Book.objects.filter(stock__gt=0))
        )
        .order_by("name")
        .all()
    )  # two queries in total
    assert [len(a.books) for a in authors] == [1, 1]
    # --8<-- [end:relations]

    # --8<-- [start:aggregate]
    per_author = (
        await Author.objects.annotate(
            n=Count("books"),
            in_stock=Count("books", filter=Q(books__stock__gt=0)),  # COUNT(...) FILTER (WHERE ...)
            value=Sum(F("books__price") * F("books__stock")),
        )
        .order_by("name")
        .values("name", "n", "in_stock", "value")
    )
    assert per_author[0] == {"name": "Iain M. Banks", "n": 1, "in_stock": 1, "value": Decimal("77")}
    totals = await Book.objects.aggregate(total=Sum("stock"), books=Count("id"))
    assert totals == {"total": 10, "books": 3}
    # --8<-- [end:aggregate]

    # --8<-- [start:update]
    excession = await Book.objects.get(title="Excession")
    await Book.objects.filter(id=excession.id).update(stock=F("stock") - 1)  # atomic, in SQL
    await excession.refresh_from_db()
    assert excession.stock == 6
    async with transaction():
        locked = await Book.objects.select_for_update().get(id=excession.id)  # row lock
        locked.stock += 10
        await locked.save(update_fields=["stock"])
    # --8<-- [end:update]

    # --8<-- [start:subquery]
    has_stock = Book.objects.filter(author_id=OuterRef("id"), stock__gt=0)
    with_stock = (
        await Author.objects.filter(Exists(has_stock))
        .order_by("name")
        .values_list("name", flat=True)
    )
    assert with_stock == ["Iain M. Banks", "Ursula K. Le Guin"]
    ranked = (
        await Book.objects.annotate(
            rank=Window(RowNumber(), partition_by=["author_id"], order_by=["-price"])
        )
        .filter(author_id=le_guin.id)
        .order_by("rank")
        .values("title", "rank")
    )
    assert ranked[0] == {"title": "The Dispossessed", "rank": 1}
    # --8<-- [end:subquery]
