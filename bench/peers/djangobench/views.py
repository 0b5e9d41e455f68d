"""DRF serializers and viewsets of the bookstore peer, plus the plain Django views."""

from __future__ import annotations

import threading
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from djangobench.models import Author, Book, Publisher, Tag


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"hello": "world"})


class ParamsSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(min_length=1, max_length=50)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


@extend_schema(parameters=[ParamsSerializer], responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def params(request: Request, item_id: int) -> Response:
    query = ParamsSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return Response({"item_id": item_id, **query.validated_data})


class AuthorSerializer(serializers.ModelSerializer[Author]):
    name = serializers.CharField(min_length=1, max_length=100)
    bio = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")

    class Meta:
        model = Author
        fields = ("id", "name", "bio")


class AuthorSummarySerializer(serializers.ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ("id", "name")


class PublisherSerializer(serializers.ModelSerializer[Publisher]):
    class Meta:
        model = Publisher
        fields = ("id", "name", "country")


class TagSerializer(serializers.ModelSerializer[Tag]):
    class Meta:
        model = Tag
        fields = ("id", "name")


class BookSerializer(serializers.ModelSerializer[Book]):
    author_id = serializers.IntegerField(read_only=True)
    author = AuthorSummarySerializer(read_only=True)
    publisher_id = serializers.IntegerField(read_only=True)
    publisher = PublisherSerializer(read_only=True)
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = Book
        fields = (
            "id", "title", "isbn", "price", "pages", "author_id", "author", "publisher_id",
            "publisher", "category_id", "tags", "rating", "review_count", "created_at",
        )  # fmt: skip


class ByNewest(CursorPagination):
    page_size = 20
    ordering = "-id"


class AuthorViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    queryset = Author.objects.all()
    serializer_class = AuthorSerializer


class BookViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    queryset = Book.objects.select_related("author", "publisher").prefetch_related("tags")
    serializer_class = BookSerializer
    pagination_class = ByNewest


_schema_lock = threading.Lock()
_schema: list[bytes] = []


def openapi(request: HttpRequest) -> HttpResponse:
    """The drf-spectacular document, generated once and then served as bytes.

    drf-spectacular's docs advise a static schema in production; its generator is not
    thread-safe either (under ASGI concurrent requests failed with 500s), so it runs
    once, under a lock. Stellate also builds its document once.
    """
    if not _schema:
        with _schema_lock:
            if not _schema:
                document = SchemaGenerator().get_schema(request=None, public=True)
                _schema.append(OpenApiJsonRenderer().render(document))
    return HttpResponse(_schema[0], content_type="application/vnd.oai.openapi+json")
