"""stellate.rest: viewsets, serializers, pagination, filtering and permissions."""

from __future__ import annotations

from stellate.rest.access import AccessPolicy, PolicyContext
from stellate.rest.bulk import BulkCreateModelMixin, BulkDestroyModelMixin, BulkUpdateModelMixin
from stellate.rest.exceptions import (
    APIException,
    Conflict,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    ParseError,
    PermissionDenied,
    PreconditionFailed,
    Throttled,
    ValidationError,
    problem_response,
)
from stellate.rest.openapi import OpenAPI, mount_openapi
from stellate.rest.pagination import (
    BasePagination,
    CursorPagination,
    PageNumberPagination,
    ServerCursorPagination,
)
from stellate.rest.permissions import (
    AllowAny,
    BasePermission,
    IsAdminUser,
    IsAuthenticated,
    IsAuthenticatedOrReadOnly,
)
from stellate.rest.plugin import RestPlugin
from stellate.rest.routers import Router
from stellate.rest.serializers import ModelSerializer, ReadOnlyField, model_serializer_for
from stellate.rest.settings import RestSettings
from stellate.rest.throttling import (
    AnonRateThrottle,
    BaseThrottle,
    MemoryThrottleStore,
    PostgresThrottleStore,
    RedisThrottleStore,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)
from stellate.rest.views import APIView, action
from stellate.rest.viewsets import (
    CreateModelMixin,
    DestroyModelMixin,
    GenericViewSet,
    ListModelMixin,
    ModelViewSet,
    ReadOnlyModelViewSet,
    RetrieveModelMixin,
    UpdateModelMixin,
)

__all__ = [
    "APIException",
    "APIView",
    "AccessPolicy",
    "AllowAny",
    "AnonRateThrottle",
    "BasePagination",
    "BasePermission",
    "BaseThrottle",
    "BulkCreateModelMixin",
    "BulkDestroyModelMixin",
    "BulkUpdateModelMixin",
    "Conflict",
    "CreateModelMixin",
    "CursorPagination",
    "DestroyModelMixin",
    "GenericViewSet",
    "IsAdminUser",
    "IsAuthenticated",
    "IsAuthenticatedOrReadOnly",
    "ListModelMixin",
    "MemoryThrottleStore",
    "MethodNotAllowed",
    "ModelSerializer",
    "ModelViewSet",
    "NotAuthenticated",
    "NotFound",
    "OpenAPI",
    "PageNumberPagination",
    "ParseError",
    "PermissionDenied",
    "PolicyContext",
    "PostgresThrottleStore",
    "PreconditionFailed",
    "ReadOnlyField",
    "ReadOnlyModelViewSet",
    "RedisThrottleStore",
    "RestPlugin",
    "RestSettings",
    "RetrieveModelMixin",
    "Router",
    "ScopedRateThrottle",
    "ServerCursorPagination",
    "SimpleRateThrottle",
    "Throttled",
    "UpdateModelMixin",
    "UserRateThrottle",
    "ValidationError",
    "action",
    "model_serializer_for",
    "mount_openapi",
    "problem_response",
]
