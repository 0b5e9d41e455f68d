"""Background work of the bookstore: keeping a book's rating in step with its reviews."""

from __future__ import annotations

from examples.bookstore.models import Book, Review
from stellate.orm import Avg, Count

#: The name the app registers :func:`recompute_book_rating` under (``app.tasks.tasks[...]``).
RECOMPUTE_RATING = "bookstore.recompute_rating"


async def recompute_book_rating(book_id: int) -> float:
    """Store the average rating and the number of reviews of book ``book_id``.

    Runs in a worker after a review is written (queued when that write commits), so a
    request never pays for the aggregate. Recomputing from the reviews, rather than
    adding one rating, makes a re-run (tasks run at least once) harmless.

    Args:
        book_id: the book whose reviews changed.

    Returns:
        The new average rating, rounded to two decimals (0 without reviews).
    """
    totals = await Review.objects.filter(book_id=book_id).aggregate(
        average=Avg("rating"), count=Count("id")
    )
    average = round(float(totals["average"] or 0), 2)
    await Book.objects.filter(id=book_id).update(rating=average, review_count=totals["count"])
    return average
