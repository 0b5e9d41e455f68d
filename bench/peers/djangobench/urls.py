from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from djangobench.views import AuthorViewSet, BookViewSet, hello, openapi, params

router = DefaultRouter()
router.register("authors", AuthorViewSet)
router.register("books", BookViewSet)

urlpatterns = [
    path("", hello),
    path("params/<int:item_id>", params),
    path("api/", include(router.urls)),
    path("openapi.json", openapi),
    path("admin/", admin.site.urls),
]
