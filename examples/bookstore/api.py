"""The bookstore's REST API: serializers, viewsets and the router serving them under ``/api``.

Reads are public; every write needs a logged-in user (session cookie + CSRF token, or
an API key). Catalogue changes (publishers, authors, tags, books) need a staff user;
any user may review a book, and only the reviewer (or staff) may change the review.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from examples.bookstore.models import Author, Book, Category, Publisher, Review, Tag
from examples.bookstore.tasks import RECOMPUTE_RATING
from stellate.core import ImproperlyConfigured, Request
from stellate.core.dataloader import DataLoader
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


class CategorySerializer(ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ("id", "name")


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
            "category_id",
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


class NamedCatalogueViewSet(ModelViewSet):
    """Publishers, authors, categories and tags: staff writes, pages and search by name."""

    permission_classes = CATALOGUE_PERMISSIONS
    pagination_class = ByName
    search_fields: ClassVar[tuple[str, ...]] = ("name",)
    ordering_fields: ClassVar[tuple[str, ...]] = ("name", "id")


class PublisherViewSet(NamedCatalogueViewSet):
    model = Publisher
    serializer_class = PublisherSerializer
    filterset_fields: ClassVar[dict[str, list[str]]] = {"country": ["exact"]}


class AuthorViewSet(NamedCatalogueViewSet):
    model = Author
    serializer_class = AuthorSerializer


class CategoryViewSet(NamedCatalogueViewSet):
    model = Category
    serializer_class = CategorySerializer


class TagViewSet(NamedCatalogueViewSet):
    model = Tag
    serializer_class = TagSerializer
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
        "category_id": ["exact", "in", "isnull"],
    }
    search_fields = ("title", "isbn")
    ordering_fields = ("title", "price", "pages", "rating", "created_at")

    @action(methods=["GET"], detail=False, url_path="enriched")
    async def list_enriched(self, request: Request, **kwargs: Any) -> Any:
        """A cursor page of books with their author's and category's names, three queries.

        The page is read without joins; two per-request ``DataLoader``s then fetch the
        page's authors and categories in one query each, however many books share
        them. Takes the list's filters, search, ordering and cursor.
        """
        author_loader: DataLoader[int, Author | None] = DataLoader(batch_fn=_batch_authors)
        category_loader: DataLoader[int, Category | None] = DataLoader(batch_fn=_batch_categories)
        paginator = self.paginator
        if paginator is None:
            raise ImproperlyConfigured(
                f"`{type(self).__name__}.list_enriched` pages its results: set `pagination_class`"
            )
        books = await paginator.paginate_queryset(
            self.filter_queryset(Book.objects.all()), request, self
        )
        authors = await author_loader.load_many([book.author_id for book in books])
        # Uncategorised books have no key to load: ask only for the ones that do.
        categorised = [book.category_id for book in books if book.category_id is not None]
        loaded = await category_loader.load_many(categorised)
        categories = dict(zip(categorised, loaded, strict=True))
        data = []
        for book, author in zip(books, authors, strict=True):
            category = categories.get(book.category_id) if book.category_id else None
            data.append(
                {
                    "id": book.id,
                    "title": book.title,
                    "isbn": book.isbn,
                    "price": book.price,
                    "author_id": book.author_id,
                    "author_name": author.name if author else "",
                    "category_id": book.category_id,
                    "category_name": category.name if category else "",
                }
            )
        return paginator.get_paginated_response(data)

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


async def _batch_authors(keys: list[int]) -> list[Author | None]:
    # One value per key in key order, as DataLoader requires; a missing row is None.
    by_id = {author.id: author for author in await Author.objects.filter(id__in=keys).all()}
    return [by_id.get(key) for key in keys]


async def _batch_categories(keys: list[int]) -> list[Category | None]:
    by_id = {cat.id: cat for cat in await Category.objects.filter(id__in=keys).all()}
    return [by_id.get(key) for key in keys]


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
    router.register("categories", CategoryViewSet)
    router.register("tags", TagViewSet)
    router.register("books", BookViewSet)
    router.register("reviews", ReviewViewSet)
    return router
