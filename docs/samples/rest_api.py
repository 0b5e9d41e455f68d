"""REST guide: a model, a serializer, a viewset, a router, OpenAPI, over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stellate.core import App, Request
from stellate.core.testing import AppClient
from stellate.orm import Field, Model
from stellate.rest import (
    CursorPagination,
    IsAuthenticatedOrReadOnly,
    ModelSerializer,
    ModelViewSet,
    Router,
    ValidationError,
    action,
    mount_openapi,
)


# --8<-- [start:api]
class Album(Model):
    class Meta:
        table = "rest_albums"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1)
    price: Decimal = Field(ge=0)
    owner_id: int = Field(default=0)


class AlbumSerializer(ModelSerializer[Album]):
    class Meta:
        model = Album
        fields = ("id", "title", "price", "owner_id")
        read_only_fields = ("owner_id",)

    def validate_title(self, value: str) -> str:
        if value != value.strip():
            raise ValidationError("Title may not start or end with spaces")
        return value


class AlbumPagination(CursorPagination):
    page_size = 2
    ordering = "-id"


class AlbumViewSet(ModelViewSet):
    model = Album
    serializer_class = AlbumSerializer
    permission_classes = (IsAuthenticatedOrReadOnly,)  # the default is IsAuthenticated
    pagination_class = AlbumPagination
    filterset_fields = {"price": ["gte", "lte"]}
    search_fields = ("title",)
    ordering_fields = ("price", "title")

    async def perform_create(self, serializer: AlbumSerializer) -> None:
        await serializer.save(owner_id=self.request.user["id"])

    @action(methods=["POST"], detail=True, url_path="discount")
    async def discount(self, request: Request, **kwargs: Any) -> dict[str, str]:
        album = await self.get_object()
        album.price = album.price / 2
        await album.save(update_fields=["price"])
        return {"price": str(album.price)}


router = Router()
router.register("albums", AlbumViewSet)
app = App(plugins=["orm", "rest", "auth"])
app.include(router, prefix="/api")
mount_openapi(app, title="Records", version="1.0.0")  # /openapi.json and /docs
# --8<-- [end:api]


async def main() -> None:
    async with AppClient(app) as client:
        await app.auth.users.create_user("ada", "correct horse battery staple")
        # --8<-- [start:http]
        refused = await client.post("/api/albums/", json={"title": "Blue", "price": "9.99"})
        assert refused.status_code == 401  # writes need a login

        login = await client.post(
            "/auth/login", json={"username": "ada", "password": "correct horse battery staple"}
        )
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}  # session writes need it
        for title, price in [("Blue", "9.99"), ("Hejira", "12.00"), ("Court and Spark", "8.50")]:
            created = await client.post(
                "/api/albums/", json={"title": title, "price": price}, headers=csrf
            )
            assert created.status_code == 201

        bad = await client.post("/api/albums/", json={"title": " x", "price": -1}, headers=csrf)
        assert bad.status_code == 400  # every failing field at once
        assert set(bad.json()["errors"]) == {"title", "price"}

        page = (await client.get("/api/albums/")).json()  # cursor pagination
        assert [a["title"] for a in page["results"]] == ["Court and Spark", "Hejira"]
        rest = (await client.get("/api/albums/" + page["next"])).json()
        assert [a["title"] for a in rest["results"]] == ["Blue"]

        found = await client.get("/api/albums/", params={"search": "blue", "price__lte": "10"})
        assert [a["title"] for a in found.json()["results"]] == ["Blue"]

        album_id = rest["results"][0]["id"]
        halved = await client.post(f"/api/albums/{album_id}/discount/", headers=csrf)
        assert halved.json() == {"price": "4.995"}

        schema = (await client.get("/openapi.json")).json()
        assert "/api/albums/" in schema["paths"]
        # --8<-- [end:http]
