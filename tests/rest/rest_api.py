"""The API under test: serializers, viewsets, a router and a standalone paginated route."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_models import Account, Author, Book, Format, Item, PrincipalFromHeader, Publisher, Review

from stellate.core import App, HTTPException, Request
from stellate.core.dataloader import DataLoader
from stellate.orm import Count
from stellate.rest import (
    AllowAny,
    CursorPagination,
    IsAdminUser,
    IsAuthenticatedOrReadOnly,
    ModelSerializer,
    ModelViewSet,
    PageNumberPagination,
    ReadOnlyField,
    ReadOnlyModelViewSet,
    Router,
    ValidationError,
    action,
)

SECRET_KEY = "rest-tests-secret-key"


class AuthorSerializer(ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name")


class ReviewSummarySerializer(ModelSerializer[Review]):
    class Meta:
        model = Review
        fields = ("id", "rating", "body")


class BookSerializer(ModelSerializer[Book]):
    author = AuthorSerializer(source="author")

    class Meta:
        model = Book
        fields = (
            "id",
            "title",
            "isbn",
            "price",
            "pages",
            "format",
            "author_id",
            "author",
            "owner_id",
            "created_at",
        )
        read_only_fields = ("owner_id", "created_at")

    def validate_title(self, value: str) -> str:
        if value != value.strip():
            raise ValidationError("Title may not start or end with spaces")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("format") is Format.HARDCOVER and attrs.get("pages", 100) < 48:
            raise ValidationError(errors={"pages": ["A hardcover needs at least 48 pages"]})
        return attrs


class BookDetailSerializer(BookSerializer):
    reviews = ReviewSummarySerializer(many=True)
    review_count = ReadOnlyField(int)

    class Meta(BookSerializer.Meta):
        fields = (*BookSerializer.Meta.fields, "reviews", "review_count")


class BookViewSet(ModelViewSet):
    model = Book
    serializer_class = BookSerializer
    permission_classes = (IsAuthenticatedOrReadOnly,)
    filterset_fields: ClassVar[dict[str, list[str]]] = {
        "price": ["gte", "lte"],
        "format": ["exact"],
        "author_id": ["exact", "in"],
    }
    search_fields = ("title",)
    ordering_fields = ("price", "title", "created_at")

    def get_serializer_class(self) -> type[ModelSerializer[Any]]:
        if self.action == "retrieve" or self.request_wants_detail():
            return BookDetailSerializer
        return super().get_serializer_class()

    def request_wants_detail(self) -> bool:
        request = self.request
        return request is not None and request.query_params.get("expand") == "reviews"

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()
        if self.get_serializer_class() is BookDetailSerializer:
            # The computed field reads this annotation: no query per row.
            queryset = queryset.annotate(review_count=Count("reviews"))
        return queryset

    async def perform_create(self, serializer: ModelSerializer[Any]) -> None:
        await serializer.save(owner_id=self.request.user["id"])

    @action(methods=["GET"], detail=False, url_path="enriched")
    async def list_enriched(self, request: Request, **kwargs: Any) -> Any:
        # The reference guide's DataLoader sample, with only imports changed.
        async def _batch_authors(keys: list[int]) -> list[Author | None]:
            authors = await Author.objects.filter(id__in=keys).all()
            by_id = {a.id: a for a in authors}
            return [by_id.get(k) for k in keys]

        author_loader = DataLoader(batch_fn=_batch_authors)

        paginator = self.pagination_class()
        qs = self.filter_queryset(Book.objects)
        books = await paginator.paginate_queryset(qs, request)
        authors = await author_loader.load_many([b.author_id for b in books])

        data = []
        for book, author in zip(books, authors, strict=True):
            d = book.to_dict()
            d["author_name"] = author.name if author else ""
            data.append(d)
        return paginator.get_paginated_response(data)

    @action(methods=["POST"], detail=True, url_path="publish", permission_classes=[IsAdminUser])
    async def publish(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        book = await self.get_object()
        return {"published": book.id}

    @action(methods=["POST"], detail=True, url_path="reserve")
    async def reserve(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        book = await self.get_object()
        if book.pages > 500:
            # A core HTTPException inside a viewset is rendered, not a 500.
            raise HTTPException(409, f"Book `{book.id}` is too heavy to reserve")
        return {"reserved": book.id}


class ReviewCursorPagination(CursorPagination):
    page_size = 20
    ordering = "-id"


class ReviewViewSet(ModelViewSet):
    # The reference guide's sample (`model` and `pagination_class`), opened up for the
    # tests: viewsets require authentication unless told otherwise.
    pagination_class = ReviewCursorPagination
    model = Review
    permission_classes = (AllowAny,)


class AccountViewSet(ModelViewSet):
    model = Account
    permission_classes = (AllowAny,)


class PublisherPages(PageNumberPagination):
    page_size = 2


class PublisherViewSet(ReadOnlyModelViewSet):
    model = Publisher
    permission_classes = (AllowAny,)
    pagination_class = PublisherPages
    ordering = "name"


def make_app() -> App:
    router = Router()
    router.register("books", BookViewSet)
    router.register("reviews", ReviewViewSet)
    router.register("accounts", AccountViewSet)
    router.register("publishers", PublisherViewSet)
    app = App(plugins=["orm", "rest"], settings={"secret_key": SECRET_KEY})
    app.use(PrincipalFromHeader)

    @app.get("/api/items/")
    async def list_items(request: Request) -> Any:
        # The reference guide's standalone sample, with only imports changed.
        paginator = CursorPagination()
        paginator.page_size = 50
        paginator.ordering = "-id"

        items = await paginator.paginate_queryset(Item.objects, request)
        data = [{"id": i.id, "name": i.name} for i in items]
        return paginator.get_paginated_response(data)

    @app.post("/api/items/")
    async def create_item(request: Request) -> Any:
        body = await request.json()
        # stellate-orm errors raised by a plain handler still get the API error shape.
        return await Item.objects.create(**body)

    # After the routes above: the `/api` mount answers every path under it.
    app.include(router, prefix="/api")
    return app
