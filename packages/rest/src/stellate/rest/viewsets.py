"""Model viewsets: ``GenericViewSet``, the CRUD mixins, ``ModelViewSet`` and friends.

A viewset groups the endpoints of one resource; a ``Router`` maps them to URLs::

    list            GET     /books/
    create          POST    /books/
    retrieve        GET     /books/{pk}/
    update          PUT     /books/{pk}/
    partial_update  PATCH   /books/{pk}/
    destroy         DELETE  /books/{pk}/
"""

from __future__ import annotations

import contextlib
import hashlib
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.responses import Response as StarletteResponse

from stellate.core.responses import JSONResponse, encode_json
from stellate.orm.database import get_db
from stellate.orm.models import Model
from stellate.rest.exceptions import NotFound, PreconditionFailed
from stellate.rest.filters import (
    FilterSpec,
    apply_filters,
    apply_search,
    normalize_filterset_fields,
    resolve_ordering,
)
from stellate.rest.pagination import BasePagination, CursorPagination, ServerCursorPagination
from stellate.rest.serializers import ModelSerializer, model_serializer_for
from stellate.rest.views import APIView

if TYPE_CHECKING:
    from stellate.core.requests import Request
    from stellate.orm.queryset import QuerySet

__all__ = [
    "CreateModelMixin",
    "DestroyModelMixin",
    "GenericViewSet",
    "ListModelMixin",
    "ModelViewSet",
    "ReadOnlyModelViewSet",
    "RetrieveModelMixin",
    "UpdateModelMixin",
]


class GenericViewSet(APIView):
    """The hooks every model endpoint uses; add mixins for the actual endpoints.

    Class attributes:
        model: The model (or set ``queryset``).
        queryset: The base queryset (``Book.objects.filter(published=True)``).
        serializer_class: A ``ModelSerializer``; derived from ``model`` when omitted.
        pagination_class: ``CursorPagination`` by default; ``None`` for no pagination.
        filterset_fields: ``{"price": ["gte", "lte"]}`` or ``["category_id"]``.
        search_fields: Fields ``?search=`` matches: ``"title"`` case-insensitive
            substring, ``"@title"`` full-text, ``"$search"`` a ``tsvector`` column.
        ordering_fields: Fields ``?ordering=`` may use.
        ordering: The default ordering (``"-created_at"``); the paginator's otherwise.
        lookup_field: The model field the URL's ``{pk}`` matches.

    Example:
        ```python
        class BookViewSet(ModelViewSet):
            model = Book
            serializer_class = BookSerializer
            filterset_fields = {"price": ["gte", "lte"]}
            ordering_fields = ["price", "title"]

            def get_queryset(self):
                return super().get_queryset().filter(owner_id=self.request.user["id"])
        ```
    """

    model: ClassVar[type[Model] | None] = None
    queryset: ClassVar[QuerySet[Any] | None] = None
    serializer_class: ClassVar[type[ModelSerializer[Any]] | None] = None
    pagination_class: ClassVar[type[BasePagination] | None] = CursorPagination
    filterset_fields: ClassVar[Mapping[str, Sequence[str]] | Sequence[str]] = ()
    search_fields: ClassVar[Sequence[str]] = ()
    search_param: ClassVar[str] = "search"
    #: PostgreSQL text search configuration for ``@field`` / ``$vector`` search fields.
    search_config: ClassVar[str] = "simple"
    ordering_fields: ClassVar[Sequence[str]] = ()
    ordering_param: ClassVar[str] = "ordering"
    ordering: ClassVar[str | Sequence[str] | None] = None
    lookup_field: ClassVar[str] = "pk"
    lookup_url_kwarg: ClassVar[str] = "pk"
    #: Run each create/update/destroy (with its perform_* hook) in one transaction.
    atomic_writes: ClassVar[bool] = True
    #: ETags on reads (``If-None-Match`` -> 304) and ``If-Match`` checks on writes (412).
    etags: ClassVar[bool] = True

    def __init__(self, request: Request, action: str | None = None) -> None:
        super().__init__(request, action)
        #: The ordering chosen for this request (client's or default), for the paginator.
        self.current_ordering: tuple[str, ...] | None = None
        self._paginator: BasePagination | None = None

    # -- model, queryset, serializer ---------------------------------------------------

    @classmethod
    def get_model(cls) -> type[Model]:
        """The model of this viewset (``model``, else ``queryset.model``)."""
        if cls.model is not None:
            return cls.model
        if cls.queryset is not None:
            return cls.queryset.model
        raise TypeError(
            f"`{cls.__qualname__}` needs `model = <Model class>` or `queryset = Model.objects...`"
        )

    def get_queryset(self) -> QuerySet[Any]:
        """The base queryset, with the relations the serializer's nested fields read.

        Override to scope by user (call ``super().get_queryset()`` to keep the joins).
        """
        qs = self.queryset if self.queryset is not None else self.get_model().objects
        select, prefetch = self.get_serializer_class().related_loads()
        if select:
            qs = qs.select_related(*select)
        if prefetch:
            qs = qs.prefetch_related(*prefetch)
        return qs

    def get_serializer_class(self) -> type[ModelSerializer[Any]]:
        """``serializer_class``, or a serializer derived from ``model`` (cached)."""
        if self.serializer_class is not None:
            return self.serializer_class
        cls = type(self)
        derived = cls.__dict__.get("_derived_serializer")
        if derived is None:
            derived = model_serializer_for(cls.get_model())
            cls._derived_serializer = derived  # type: ignore[attr-defined]
        return typing.cast("type[ModelSerializer[Any]]", derived)

    def get_serializer_context(self) -> dict[str, Any]:
        """What serializers receive as ``context``."""
        return {"request": self.request, "view": self}

    def get_serializer(self, *args: Any, **kwargs: Any) -> ModelSerializer[Any]:
        """An instance of ``get_serializer_class()`` with the context set."""
        kwargs.setdefault("context", self.get_serializer_context())
        return self.get_serializer_class()(*args, **kwargs)

    # -- objects --------------------------------------------------------------------

    async def get_object(self) -> Any:
        """The object the URL names, after object permission checks.

        Raises:
            NotFound: No such object in ``get_queryset()``.
            PermissionDenied: A permission refuses the object.
        """
        value = self.kwargs.get(self.lookup_url_kwarg)
        model = self.get_model()
        field = model._meta.pk.name if self.lookup_field == "pk" else self.lookup_field
        bounds = (
            model._meta.get_field(field).integer_range() if field in model._meta.fields else None
        )
        if bounds is not None and type(value) is int and not bounds[0] <= value <= bounds[1]:
            # No row can hold a key outside the column's range: a 404, not a query error.
            raise NotFound(f"No `{model.__name__}` with {self.lookup_field} `{value}`")
        obj = await self.get_queryset().filter(**{field: value}).first()
        if obj is None:
            raise NotFound(f"No `{model.__name__}` with {self.lookup_field} `{value}`")
        self.check_object_permissions(self.request, obj)
        return obj

    # -- filtering and pagination ---------------------------------------------------

    def _filter_spec(self) -> FilterSpec:
        cls = type(self)
        spec = cls.__dict__.get("_filter_spec_cache")
        if spec is None:
            spec = normalize_filterset_fields(
                cls.get_model(), cls.filterset_fields, cls.__qualname__
            )
            cls._filter_spec_cache = spec  # type: ignore[attr-defined]
        return typing.cast("FilterSpec", spec)

    def get_ordering(self) -> tuple[str, ...] | None:
        """The client's ``?ordering=`` (checked against ``ordering_fields``), else ``ordering``."""
        chosen = resolve_ordering(self.request, self.ordering_fields, self.ordering_param)
        if chosen is not None:
            return chosen
        default = self.ordering
        if default is None:
            return None
        if isinstance(default, str):
            return tuple(p.strip() for p in default.split(",") if p.strip())
        return tuple(default)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Apply ``filterset_fields``, ``search_fields`` and the ordering to ``queryset``.

        Raises:
            ValidationError: A filter value of the wrong type or an ordering outside
                ``ordering_fields`` (400 naming the parameter).
        """
        queryset = apply_filters(queryset, self.request, self._filter_spec())
        queryset = apply_search(
            queryset,
            self.request,
            self.search_fields,
            self.search_param,
            config=self.search_config,
        )
        self.current_ordering = self.get_ordering()
        if self.current_ordering:
            queryset = queryset.order_by(*self.current_ordering)
        return queryset

    @property
    def paginator(self) -> BasePagination | None:
        """This request's paginator (``None`` without ``pagination_class``)."""
        if self._paginator is None and self.pagination_class is not None:
            self._paginator = self.pagination_class()
        return self._paginator

    async def paginate_queryset(self, queryset: QuerySet[Any]) -> list[Any] | None:
        """One page of ``queryset``, or ``None`` when the view does not paginate."""
        paginator = self.paginator
        if paginator is None:
            return None
        return await paginator.paginate_queryset(queryset, self.request, view=self)

    def get_paginated_response(self, data: Any) -> StarletteResponse:
        """The paginated envelope around ``data``."""
        paginator = self.paginator
        assert paginator is not None  # only called after paginate_queryset returned a page
        return paginator.get_paginated_response(data)

    # -- writes ------------------------------------------------------------------------

    async def perform_create(self, serializer: ModelSerializer[Any]) -> None:
        """Save a new object; override to set server-side values.

        Example:
            ```python
            async def perform_create(self, serializer):
                await serializer.save(owner_id=self.request.user["id"])
            ```
        """
        await serializer.save()

    async def perform_update(self, serializer: ModelSerializer[Any]) -> None:
        """Save the changes to an existing object."""
        await serializer.save()

    async def perform_destroy(self, instance: Any) -> None:
        """Delete ``instance``."""
        await instance.delete()

    def write_transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The transaction a write runs in (a savepoint inside an outer transaction).

        A failing write (say a unique violation) then leaves the connection usable,
        and the writes of a ``perform_*`` hook land together or not at all.
        """
        if not self.atomic_writes:
            return contextlib.nullcontext()
        return get_db(self.get_model()._meta.database).transaction()

    # -- conditional requests ---------------------------------------------------------

    def get_etag(self, instance: Any) -> str:
        """The ETag of ``instance``'s stored state (its loaded field values).

        Override to use a version column (``f'"{instance.version}"'``) instead.
        """
        digest = hashlib.blake2b(encode_json(instance.to_dict()), digest_size=12).hexdigest()
        return f'"{digest}"'

    async def check_preconditions(self, instance: Any) -> None:
        """Refuse a write whose ``If-Match`` does not name the object's current ETag.

        Called inside the write transaction: the row is re-read with ``FOR UPDATE``, so
        two clients holding the same ETag cannot both pass (the second waits, then sees
        the changed row and gets 412).

        Raises:
            PreconditionFailed: 412, the object changed since the client read it.
            NotFound: The object was deleted meanwhile.
        """
        if not self.etags:
            return
        header = self.request.headers.get("if-match")
        if header is None or header.strip() == "*":
            return
        model = type(instance)
        current = (
            await model.objects.filter(**{model._meta.pk.name: instance.pk})
            .select_for_update()
            .first()
        )
        if current is None:
            raise NotFound(f"No `{model.__name__}` with pk `{instance.pk}`")
        if not _etag_matches(header, self.get_etag(current), weak=False):
            raise PreconditionFailed(
                f"`If-Match` does not match the current version of this "
                f"`{model.__name__}`: it changed since you read it; GET it again, "
                "reapply your change and retry with the new ETag"
            )

    def conditional_response(
        self, response: StarletteResponse, etag: str | None = None
    ) -> StarletteResponse:
        """Add an ETag (of the body unless given); 304 for a matching ``If-None-Match``."""
        if not self.etags or response.status_code != 200:
            return response
        if etag is None:
            etag = f'W/"{hashlib.blake2b(response.body, digest_size=12).hexdigest()}"'
        response.headers["ETag"] = etag
        header = self.request.headers.get("if-none-match")
        if header is not None and _etag_matches(header, etag, weak=True):
            return StarletteResponse(status_code=304, headers={"ETag": etag})
        return response

    async def _reload_for_output(self, instance: Any) -> Any:
        # Nested output reads relations a fresh INSERT/UPDATE did not load: fetch them
        # with the same joins a read uses (one query), only when there are any.
        select, prefetch = self.get_serializer_class().related_loads()
        if not (select or prefetch) or instance.pk is None:
            return instance
        model = type(instance)
        found = await self.get_queryset().filter(**{model._meta.pk.name: instance.pk}).first()
        return found if found is not None else instance


def _etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    tags = [tag.strip() for tag in header.split(",")]
    if weak:
        bare = etag.removeprefix("W/")
        return any(tag.removeprefix("W/") == bare for tag in tags)
    return etag in tags and not etag.startswith("W/")


class ListModelMixin:
    """``list``: the filtered, ordered, paginated collection."""

    async def list(self: Any, request: Request, **kwargs: Any) -> StarletteResponse:
        queryset = self.filter_queryset(self.get_queryset())
        paginator = self.paginator
        if isinstance(paginator, ServerCursorPagination):
            render = self.get_serializer_class().compiled().render
            return paginator.streaming_response(queryset, render, view=self)
        page = await self.paginate_queryset(queryset)
        if page is not None:
            data = self.get_serializer(page, many=True).data
            response = self.get_paginated_response(data)
        else:
            data = self.get_serializer(await queryset, many=True).data
            response = JSONResponse(data)
        if not self.etags:
            return typing.cast("StarletteResponse", response)
        # The rows (not the body: each cursor link is a fresh token) and the query.
        digest = hashlib.blake2b(encode_json(data), digest_size=12)
        digest.update(str(request.url.query).encode())
        etag = f'W/"{digest.hexdigest()}"'
        return typing.cast("StarletteResponse", self.conditional_response(response, etag))


class RetrieveModelMixin:
    """``retrieve``: one object."""

    async def retrieve(self: Any, request: Request, **kwargs: Any) -> StarletteResponse:
        instance = await self.get_object()
        response = JSONResponse(self.get_serializer(instance).data)
        return typing.cast(
            "StarletteResponse", self.conditional_response(response, self.get_etag(instance))
        )


class CreateModelMixin:
    """``create``: validate the body and INSERT (201 with the new object)."""

    async def create(self: Any, request: Request, **kwargs: Any) -> StarletteResponse:
        serializer = self.get_serializer(data=await request.body())
        await serializer.is_valid()
        async with self.write_transaction():
            await self.perform_create(serializer)
        instance = await self._reload_for_output(serializer.instance)
        headers = {"ETag": self.get_etag(instance)} if self.etags else None
        return JSONResponse(self.get_serializer(instance).data, status_code=201, headers=headers)


class UpdateModelMixin:
    """``update`` (PUT, every writable field) and ``partial_update`` (PATCH, fields sent)."""

    async def update(
        self: Any, request: Request, *, partial: bool = False, **kwargs: Any
    ) -> StarletteResponse:
        instance = await self.get_object()
        serializer = self.get_serializer(instance, data=await request.body(), partial=partial)
        await serializer.is_valid()
        async with self.write_transaction():
            await self.check_preconditions(instance)
            await self.perform_update(serializer)
        instance = await self._reload_for_output(serializer.instance)
        headers = {"ETag": self.get_etag(instance)} if self.etags else None
        return JSONResponse(self.get_serializer(instance).data, headers=headers)

    async def partial_update(self: Any, request: Request, **kwargs: Any) -> StarletteResponse:
        return typing.cast("StarletteResponse", await self.update(request, partial=True, **kwargs))


class DestroyModelMixin:
    """``destroy``: DELETE the object (204)."""

    async def destroy(self: Any, request: Request, **kwargs: Any) -> StarletteResponse:
        instance = await self.get_object()
        async with self.write_transaction():
            await self.check_preconditions(instance)
            await self.perform_destroy(instance)
        return StarletteResponse(status_code=204)


class ReadOnlyModelViewSet(RetrieveModelMixin, ListModelMixin, GenericViewSet):
    """``list`` and ``retrieve``."""


class ModelViewSet(
    CreateModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
    DestroyModelMixin,
    ListModelMixin,
    GenericViewSet,
):
    """``list``, ``create``, ``retrieve``, ``update``, ``partial_update`` and ``destroy``."""
