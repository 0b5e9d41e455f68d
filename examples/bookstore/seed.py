"""Demo data for development: a small catalogue and a staff account to log in with.

``seed_demo_data`` is idempotent: it adds what is missing and leaves existing rows
alone, so the app can run it at every development start.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from examples.bookstore.models import Author, Book, Category, Publisher, Review, Tag
from examples.bookstore.tasks import recompute_book_rating
from stellate.orm import get_db

if TYPE_CHECKING:
    from stellate.auth import Auth

#: The development login printed at startup (never created outside development).
DEMO_USERNAME = "editor"
# Published on purpose: a demo account on a local development database.
DEMO_PASSWORD = "paper-lantern-harbour"  # noqa: S105

_PUBLISHERS = (("Orbit Press", "UK"), ("Harbor House", "US"), ("Lumen Books", "DE"))
_AUTHORS = (
    ("Ada Reyes", "Writes about machines that dream."),
    ("Bo Lindqvist", "Crime novels set on small islands."),
    ("Chidi Okafor", "Essays on cities and the people in them."),
    ("Dana Whitfield", "Space opera, mostly with cats."),
)
_CATEGORIES = ("Fiction", "Non-fiction", "Mystery")
_TAGS = ("science-fiction", "crime", "essays", "space", "classics")
# title, isbn, price, pages, author index, publisher index, tag indexes, category index
_BOOKS = (
    ("The Dreaming Engine", "9780000000001", "18.50", 412, 0, 0, (0,), 0),
    ("Salt and Silence", "9780000000002", "12.00", 288, 1, 1, (1,), 2),
    ("Streets Remember", "9780000000003", "22.00", 196, 2, 2, (2,), 1),
    ("Whiskers Beyond Orion", "9780000000004", "9.99", 534, 3, 0, (0, 3), 0),
    ("Copper Minds", "9780000000005", "15.25", 350, 0, 1, (0, 4), 0),
    ("The Ferry Murders", "9780000000006", "11.50", 301, 1, 2, (1,), 2),
    ("Concrete Gardens", "9780000000007", "19.00", 220, 2, 0, (2, 4), 1),
    ("Nebula Nap", "9780000000008", "8.75", 198, 3, 1, (0, 3), 0),
    ("Last Light at Nordholm", "9780000000009", "13.40", 366, 1, 0, (1, 4), 2),
    ("Protocols of Rain", "9780000000010", "16.80", 402, 0, 2, (0,), 0),
    ("A Map of Small Doors", "9780000000011", "21.30", 240, 2, 1, (2,), 1),
    ("Comet Tails", "9780000000012", "10.10", 280, 3, 2, (3,), 0),
)
_REVIEWS = ((0, 5, "Could not put it down."), (0, 4, "Dense but rewarding."), (3, 5, "Cats!"))


async def ensure_demo_user(auth: Auth) -> int:
    """The demo staff account's id, creating the account when it does not exist."""
    user = await auth.users.get_by_username(DEMO_USERNAME)
    if user is None:
        user = await auth.users.create_user(
            DEMO_USERNAME, DEMO_PASSWORD, email="editor@example.com", is_staff=True
        )
    return user.id


async def seed_demo_data(reviewer_id: int) -> int:
    """Insert the demo catalogue unless it is already there; return how many books it added.

    Args:
        reviewer_id: the account the demo reviews are written by.
    """
    if await Book.objects.filter(isbn=_BOOKS[0][1]).exists():
        # A catalogue seeded before categories existed gets them now.
        await seed_categories()
        return 0
    async with get_db().transaction():
        publishers = [
            (await Publisher.objects.get_or_create(name=name, defaults={"country": country}))[0]
            for name, country in _PUBLISHERS
        ]
        authors = [
            (await Author.objects.get_or_create(name=name, defaults={"bio": bio}))[0]
            for name, bio in _AUTHORS
        ]
        tags = [(await Tag.objects.get_or_create(name=name))[0] for name in _TAGS]
        books = []
        for title, isbn, price, pages, author, publisher, tag_indexes, _ in _BOOKS:
            book = await Book.objects.create(
                title=title,
                isbn=isbn,
                price=Decimal(price),
                pages=pages,
                author_id=authors[author].id,
                publisher_id=publishers[publisher].id,
            )
            await Book.tags.add(book, *(tags[index] for index in tag_indexes))
            books.append(book)
        for book_index, rating, body in _REVIEWS:
            await Review.objects.create(
                book_id=books[book_index].id, user_id=reviewer_id, rating=rating, body=body
            )
        for book_index in {index for index, _, _ in _REVIEWS}:
            await recompute_book_rating(books[book_index].id)
        await seed_categories()
    return len(books)


async def seed_categories() -> int:
    """Create the demo categories and shelve the demo books that have none yet.

    Idempotent, and it never moves a book a user has put in another category.

    Returns:
        How many books it put in a category.
    """
    categories = [(await Category.objects.get_or_create(name=name))[0] for name in _CATEGORIES]
    shelved = 0
    async with get_db().transaction():
        for _, isbn, *_rest, category in _BOOKS:
            shelved += await Book.objects.filter(isbn=isbn, category_id__isnull=True).update(
                category_id=categories[category].id
            )
    return shelved
