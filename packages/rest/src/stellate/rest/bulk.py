"""Bulk create, update and delete with one result per item.

The router serves them at ``/<prefix>/bulk/``: ``POST`` a JSON array to create,
``PATCH`` an array of objects carrying their primary key to update, ``DELETE`` with
``{"ids": [...]}`` to delete. Every item is validated and written on its own (in a
savepoint), so one bad item does not sink the others; the answer lists each item's
``status`` with its ``data`` or ``errors``::

    {"results": [{"index": 0, "status": 201, "data": {...}},
                 {"index": 1, "status": 400, "detail": "Invalid data", "errors": {...}}]}

The response status is 200/201 when every item succeeded, 207 (Multi-Status) when
some failed, and 400 when all failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from stellate.core.responses import JSONResponse
from stellate.rest.exceptions import (
    APIException,
    NotFound,
    ParseError,
    ValidationError,
    as_api_exception,
)

if TYPE_CHECKING:
    from stellate.core.requests import Request

__all__ = [
    "BulkCreateModelMixin",
    "BulkDestroyModelMixin",
    "BulkUpdateModelMixin",
]


_INVALID = object()


class _DeleteBody(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[Any]


async def _array(request: Request, max_items: int) -> list[Any]:
    body = await request.body()
    try:
        items = msgspec.json.decode(body) if body else None
    except msgspec.DecodeError as exc:
        raise ParseError(f"Malformed JSON body: {exc}") from None
    if not isinstance(items, list):
        raise ValidationError(
            "Expected a JSON array of objects",
            errors={"non_field_errors": ["Send a JSON array, one object per item"]},
        )
    if len(items) > max_items:
        raise ValidationError(
            f"Too many items: {len(items)} sent, at most {max_items} per request",
            errors={"non_field_errors": [f"Send at most {max_items} items per request"]},
        )
    return items


def _failure(index: int, exc: Exception) -> dict[str, Any]:
    api: APIException | None = as_api_exception(exc)
    if api is None:
        raise exc
    result: dict[str, Any] = {"index": index, "status": api.status_code, "detail": api.detail}
    if api.errors:
        result["errors"] = api.errors
    return result


def _response(results: list[dict[str, Any]], success: int) -> JSONResponse:
    failed = sum(1 for r in results if r["status"] >= 400)
    if not failed:
        status = success
    elif failed == len(results):
        status = 400
    else:
        status = 207
    return JSONResponse({"results": results}, status_code=status)


async def _each(
    view: Any,
    items: list[Any],
    handle: Callable[[int, Any], Awaitable[dict[str, Any]]],
) -> list[dict[str, Any]]:
    results = []
    for index, item in enumerate(items):
        try:
            async with view.write_transaction():
                results.append(await handle(index, item))
        except Exception as exc:
            results.append(_failure(index, exc))
    return results


class BulkCreateModelMixin:
    """``bulk_create``: ``POST /<prefix>/bulk/`` with a JSON array of new objects."""

    #: Most items one request may carry.
    bulk_max_items: ClassVar[int] = 500

    async def bulk_create(self: Any, request: Request, **kwargs: Any) -> JSONResponse:
        items = await _array(request, self.bulk_max_items)

        async def create(index: int, item: Any) -> dict[str, Any]:
            if not isinstance(item, dict):
                raise ValidationError(
                    "Expected a JSON object", errors={"non_field_errors": ["Send an object"]}
                )
            serializer = self.get_serializer(data=item)
            await serializer.is_valid()
            await self.perform_create(serializer)
            return {"index": index, "status": 201, "data": serializer.data}

        return _response(await _each(self, items, create), 201)


class BulkUpdateModelMixin:
    """``bulk_update``: ``PATCH /<prefix>/bulk/``; each object names its primary key."""

    bulk_max_items: ClassVar[int] = 500

    async def bulk_update(self: Any, request: Request, **kwargs: Any) -> JSONResponse:
        items = await _array(request, self.bulk_max_items)
        model = self.get_model()
        pk_name = model._meta.pk.name
        pk_field = model._meta.pk
        wanted = []
        for item in items:
            if isinstance(item, dict) and pk_name in item:
                try:
                    wanted.append(msgspec.convert(item[pk_name], pk_field.python_type))
                except msgspec.ValidationError:
                    continue
        # One query loads every object the request names (within get_queryset's scope).
        found = {
            obj.pk: obj for obj in await self.get_queryset().filter(**{f"{pk_name}__in": wanted})
        }

        async def update(index: int, item: Any) -> dict[str, Any]:
            if not isinstance(item, dict) or pk_name not in item:
                raise ValidationError(
                    f"Each item needs its `{pk_name}`", errors={pk_name: ["This field is required"]}
                )
            changes = {k: v for k, v in item.items() if k != pk_name}
            try:
                key = msgspec.convert(item[pk_name], pk_field.python_type)
            except msgspec.ValidationError:
                raise ValidationError(
                    "Invalid data", errors={pk_name: [f"`{item[pk_name]}` is not a valid key"]}
                ) from None
            instance = found.get(key)
            if instance is None:
                raise NotFound(f"No `{model.__name__}` with {pk_name} `{key}`")
            self.check_object_permissions(request, instance)
            serializer = self.get_serializer(instance, data=changes, partial=True)
            await serializer.is_valid()
            await self.perform_update(serializer)
            return {"index": index, "status": 200, "data": serializer.data}

        return _response(await _each(self, items, update), 200)


class BulkDestroyModelMixin:
    """``bulk_destroy``: ``DELETE /<prefix>/bulk/`` with ``{"ids": [...]}``."""

    bulk_max_items: ClassVar[int] = 500

    async def bulk_destroy(self: Any, request: Request, **kwargs: Any) -> JSONResponse:
        body = await request.body()
        try:
            ids = msgspec.json.decode(body, type=_DeleteBody).ids
        except msgspec.DecodeError as exc:
            raise ParseError(f"Malformed JSON body: {exc}") from None
        except msgspec.ValidationError as exc:
            raise ValidationError('Expected `{"ids": [...]}`', errors={"ids": [str(exc)]}) from None
        if len(ids) > self.bulk_max_items:
            raise ValidationError(
                f"Too many ids: {len(ids)} sent, at most {self.bulk_max_items} per request",
                errors={"ids": [f"Send at most {self.bulk_max_items} ids per request"]},
            )
        model = self.get_model()
        pk_name = model._meta.pk.name
        pk_type = model._meta.pk.python_type
        keys: list[Any] = []
        for raw in ids:
            try:
                keys.append(msgspec.convert(raw, pk_type))
            except msgspec.ValidationError:
                keys.append(_INVALID)
        valid = [key for key in keys if key is not _INVALID]
        found = {
            obj.pk: obj for obj in await self.get_queryset().filter(**{f"{pk_name}__in": valid})
        }

        async def destroy(index: int, key: Any) -> dict[str, Any]:
            if key is _INVALID:
                raise ValidationError(
                    "Invalid data", errors={"ids": [f"`{ids[index]}` is not a valid key"]}
                )
            instance = found.get(key)
            if instance is None:
                raise NotFound(f"No `{model.__name__}` with {pk_name} `{key}`")
            self.check_object_permissions(request, instance)
            await self.perform_destroy(instance)
            return {"index": index, "status": 204}

        return _response(await _each(self, keys, destroy), 200)


#: Names the router looks for, with their HTTP methods.
BULK_ACTIONS = {"post": "bulk_create", "patch": "bulk_update", "delete": "bulk_destroy"}
