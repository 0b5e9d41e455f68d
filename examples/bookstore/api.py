"""The bookstore's REST API: serializers, viewsets and the router serving them under ``/api``.

Reads are public; every write needs a logged-in user (session cookie + CSRF token, or
an API key). Catalogue changes (publishers, authors, tags, books) need a staff user;
any user may review a book, and only the reviewer (or staff) may change the review.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from examples.bookstore.models import Author, Book, Publisher, Review, Tag
from examples.bookstore.tasks import RECOMPUTE_RATING
from stellate.core import Request
from stellate.rest import (
    BasePermission,
    CursorPagination,
    IsAdminUser,
    IsAuthenticatedOrReadOnly,
    ModelSerializer,
    ModelViewSet,
    Router,
    ValidationError,
    action,
)
from stellate.tasks.outbox import enqueue_on_commit


class TagIds(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``PUT /api/books/{pk}/tags/``."""

    tag_ids: list[int]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadOnly(BasePermission):
    """Anyone may read; combined with ``|`` to open reads of a staff-only resource."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.method in SAFE_METHODS)


class IsReviewerOrStaff(BasePermission):
    """Only the user who wrote a review, or staff, may change or delete it."""

    message = "Only the reviewer or staff may change this review."

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        return user is not None and (
            obj.user_id == user["id"] or bool(user.get("is_staff") or user.get("is_superuser"))
        )


#: Catalogue resources: everyone reads, staff writes (anonymous writes get 401).
CATALOGUE_PERMISSIONS = (ReadOnly | IsAdminUser,)


class ByNewest(CursorPagination):
    """Cursor pages of 20 (clients may ask for up to 100), newest first."""

    page_size = 20
    max_page_size = 100
    ordering = "-id"


class ByName(ByNewest):
    ordering = "name"


class PublisherSerializer(ModelSerializer[Publisher]):
    class Meta:
        model = Publisher
        fields = ("id", "name", "country")


class AuthorSerializer(ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name", "bio")


class TagSerializer(ModelSerializer[Tag]):
    class Meta:
        model = Tag
        fields = ("id", "name")


class AuthorSummarySerializer(ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name")
        schema_name = "AuthorSummary"


class BookSerializer(ModelSerializer[Book]):
    """A book with its author and publisher nested (joined in the list query) and its tags."""

    author = AuthorSummarySerializer(source="author")
    publisher = PublisherSerializer(source="publisher")
    tags = TagSerializer(many=True)

    class Meta:
        model = Book
        fields = (
            "id",
            "title",
            "isbn",
            "price",
            "pages",
            "author_id",
            "author",
            "publisher_id",
            "publisher",
            "tags",
            "rating",
            "review_count",
            "created_at",
        )
        read_only_fields = ("rating", "review_count", "created_at")

    def validate_title(self, value: str) -> str:
        if value != value.strip():
            raise ValidationError("Title may not start or end with spaces: remove them")
        return value


class ReviewSerializer(ModelSerializer[Review]):
    class Meta:
        model = Review
        fields = ("id", "book_id", "user_id", "rating", "body", "created_at")
        read_only_fields = ("user_id", "created_at")


class PublisherViewSet(ModelViewSet):
    model = Publisher
    serializer_class = PublisherSerializer
    permission_classes = CATALOGUE_PERMISSIONS
    pagination_class = ByName
    filterset_fields: ClassVar[dict[str, list[str]]] = {"country": ["exact"]}
    search_fields = ("name",)
    ordering_fields = ("name", "id")


class AuthorViewSet(ModelViewSet):
    model = Author
    serializer_class = AuthorSerializer
    permission_classes = CATALOGUE_PERMISSIONS
    pagination_class = ByName
    search_fields = ("name",)
    ordering_fields = ("name", "id")


class TagViewSet(ModelViewSet):
    model = Tag
    serializer_class = TagSerializer
    permission_classes = CATALOGUE_PERMISSIONS
    pagination_class = ByName
    search_fields = ("name",)
    ordering_fields = ("name",)


class BookViewSet(ModelViewSet):
    model = Book
    serializer_class = BookSerializer
    permission_classes = CATALOGUE_PERMISSIONS
    pagination_class = ByNewest
    filterset_fields: ClassVar[dict[str, list[str]]] = {
        "price": ["gte", "lte"],
        "pages": ["gte", "lte"],
        "rating": ["gte"],
        "author_id": ["exact", "in"],
        "publisher_id": ["exact", "in"],
    }
    search_fields = ("title", "isbn")
    ordering_fields = ("title", "price", "pages", "rating", "created_at")

    @action(methods=["PUT"], detail=True, url_path="tags", permission_classes=(IsAdminUser,))
    async def set_tags(self, request: Request, **kwargs: Any) -> Any:
        """Replace the book's tags with ``{"tag_ids": [...]}`` (staff only)."""
        book = await self.get_object()
        try:
            body = msgspec.json.decode(await request.body(), type=TagIds)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ValidationError(
                "Invalid data", errors={"tag_ids": [f'{exc}; send {{"tag_ids": [1, 2]}}']}
            ) from None
        wanted = sorted(set(body.tag_ids))
        found = {tag.id for tag in await Tag.objects.filter(id__in=wanted).all()}
        unknown = [tag_id for tag_id in wanted if tag_id not in found]
        if unknown:
            listed = ", ".join(f"`{tag_id}`" for tag_id in unknown)
            raise ValidationError(
                "Invalid data",
                errors={"tag_ids": [f"No tag with id {listed}: list them at /api/tags/"]},
            )
        async with self.write_transaction():
            await Book.tags.set(book, wanted)
        reloaded = await self.get_queryset().get(id=book.id)
        return self.get_serializer(reloaded).data


class ReviewViewSet(ModelViewSet):
    model = Review
    serializer_class = ReviewSerializer
    permission_classes = (IsAuthenticatedOrReadOnly & IsReviewerOrStaff,)
    pagination_class = ByNewest
    filterset_fields: ClassVar[dict[str, list[str]]] = {
        "book_id": ["exact"],
        "user_id": ["exact"],
        "rating": ["gte", "lte", "exact"],
    }
    ordering_fields = ("rating", "created_at")

    async def perform_create(self, serializer: ModelSerializer[Any]) -> None:
        review = await serializer.save(user_id=self.request.user["id"])
        await self._recompute_later(review.book_id)

    async def perform_update(self, serializer: ModelSerializer[Any]) -> None:
        before = serializer.instance.book_id
        review = await serializer.save()
        await self._recompute_later(review.book_id)
        if before != review.book_id:
            await self._recompute_later(before)

    async def perform_destroy(self, instance: Any) -> None:
        await super().perform_destroy(instance)
        await self._recompute_later(instance.book_id)

    async def _recompute_later(self, book_id: int) -> None:
        # Queued in the write's transaction: it runs only if the review is committed,
        # and after the commit, so the worker sees the new review.
        task = self.request.app.tasks.tasks[RECOMPUTE_RATING]
        await enqueue_on_commit(task, book_id)


def build_router() -> Router:
    """The API's routes; the app includes them under ``/api``."""
    router = Router()
    router.register("publishers", PublisherViewSet)
    router.register("authors", AuthorViewSet)
    router.register("tags", TagViewSet)
    router.register("books", BookViewSet)
    router.register("reviews", ReviewViewSet)
    return router
