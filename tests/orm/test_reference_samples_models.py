"""The inheritance, mixin, file, cache and materialized-view samples of the reference guides.

Sources: ``Models & Fields Guide`` (001) and ``Patterns & Best Practices`` (000).
Each sample is pasted as written with only its imports changed:
``hyperdjango.models`` -> ``stellate.orm``, ``hyperdjango.mixins`` ->
``stellate.orm.mixins``, ``hyperdjango.storage`` -> ``stellate.core.storage``.
What a sample leaves implicit (the ``app`` its routes hang on, rows to read, the
checks of what it promises) is set up around it and marked "setup".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stellate.core import App, HTTPException, Response  # setup: the guide's implicit names
from stellate.core.storage import FileSystemStorage, MemoryStorage
from stellate.core.testing import AppClient
from stellate.orm import (
    Field,
    FieldError,
    FileField,
    ImageField,
    Model,
    delete_uploaded_file,
    save_uploaded_file,
)
from stellate.orm.mixins import (
    OwnershipMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionedMixin,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # setup: a file with a PNG signature


async def test_single_table_inheritance(db: Any) -> None:
    class Vehicle(Model):
        class Meta:
            table = "vehicles"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        type: str = Field(default="vehicle")  # discriminator

    class Car(Vehicle):
        class Meta:
            sti = True
            sti_type = "car"

        doors: int = Field(default=4)

    class Truck(Vehicle):
        class Meta:
            sti = True
            sti_type = "truck"

        payload_tons: int = Field(default=0)

    await create_tables(Vehicle)  # setup
    car = Car(name="Golf")  # setup
    await car.save()
    await Truck.objects.create(name="Actros", payload_tons=20)
    await Vehicle.objects.create(name="Cart")
    # • Car.objects.all() auto-filters to WHERE type = 'car'
    assert [c.name for c in await Car.objects.all()] == ["Golf"]
    assert '"type" = $1' in Car.objects.all().to_sql().sql
    # • Vehicle.objects.all() returns all rows (cars + trucks + base vehicles)
    rows = await Vehicle.objects.order_by("id")
    assert [type(r) for r in rows] == [Car, Truck, Vehicle]
    # • car.save() auto-sets type = 'car'
    assert car.type == "car"
    assert await db.fetchval("SELECT type FROM vehicles WHERE id = $1", car.id) == "car"
    # • All child columns are nullable on the shared table
    nullable = await db.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'vehicles' AND is_nullable = 'YES' ORDER BY column_name"
    )
    assert [r["column_name"] for r in nullable] == ["doors", "payload_tons"]


async def test_abstract_models(db: Any) -> None:
    class Author(Model):  # setup
        class Meta:
            table = "authors"

        id: int = Field(primary_key=True, auto=True)

    class BaseContent(Model):
        class Meta:
            abstract = True

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        slug: str = Field(unique=True, index=True)
        created_at: datetime | None = Field(default=None)
        updated_at: datetime | None = Field(default=None)

    class BlogPost(BaseContent):
        class Meta:
            table = "blog_posts"

        body: str = Field(default="")
        author_id: int = Field(foreign_key=Author)

    class NewsArticle(BaseContent):
        class Meta:
            table = "news_articles"

        summary: str = Field(default="")
        source_url: str = Field(default="")

    # "Both BlogPost and NewsArticle inherit id, title, slug, created_at, and
    # updated_at from BaseContent. Each maps to its own table."
    await create_tables(Author, BlogPost, NewsArticle)
    assert create_table_sql(BaseContent) == []
    inherited = ["id", "title", "slug", "created_at", "updated_at"]
    assert list(BlogPost._meta.fields)[:5] == inherited
    assert list(NewsArticle._meta.fields)[:5] == inherited
    author = await Author.objects.create()
    await BlogPost.objects.create(title="t", slug="same", author_id=author.id)
    await NewsArticle.objects.create(title="t", slug="same")  # another table


async def test_proxy_models(db: Any) -> None:
    class BlogPost(Model):  # setup: the guide's BlogPost plus the `published` it filters on
        class Meta:
            table = "blog_posts"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        published: bool = Field(default=False)

    class PublishedPost(BlogPost):
        class Meta:
            proxy = True
            table = "blog_posts"

        # Custom manager that only returns published posts
        @classmethod
        def get_queryset(cls):
            return cls.objects.filter(published=True)

    await create_tables(BlogPost)
    await BlogPost.objects.create(title="draft")
    await BlogPost.objects.create(title="live", published=True)
    assert [p.title for p in await PublishedPost.get_queryset()] == ["live"]
    assert create_table_sql(PublishedPost) == []


async def test_proxy_of_the_guides_blog_post_names_the_missing_field(db: Any) -> None:
    # setup: in the guide, BlogPost (abstract sample) has no `published` field; the
    # proxy's filter then fails with an error naming it.
    class BlogPost(Model):
        class Meta:
            table = "blog_posts"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()

    class PublishedPost(BlogPost):
        class Meta:
            proxy = True
            table = "blog_posts"

        # Custom manager that only returns published posts
        @classmethod
        def get_queryset(cls):
            return cls.objects.filter(published=True)

    await create_tables(BlogPost)
    with pytest.raises(FieldError, match="published"):
        await PublishedPost.get_queryset()


async def test_multi_level_inheritance(db: Any) -> None:
    class TimestampedModel(Model):
        class Meta:
            abstract = True

        created_at: datetime | None = Field(default=None)
        updated_at: datetime | None = Field(default=None)

    class SluggedModel(TimestampedModel):
        class Meta:
            abstract = True

        slug: str = Field(unique=True, index=True)

    class Page(SluggedModel):
        class Meta:
            table = "pages"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        body: str = Field(default="")

    # "Page inherits created_at, updated_at from TimestampedModel and slug from SluggedModel."
    await create_tables(Page)
    page = await Page.objects.create(slug="home", title="Home")
    loaded = await Page.objects.get(slug="home")
    assert (loaded.id, loaded.created_at, loaded.slug) == (page.id, None, "home")


async def test_meta_options_cache_ttl(db: Any) -> None:
    class Product(Model):
        class Meta:
            table = "products"  # Required: PostgreSQL table name
            abstract = False  # True = no table, share fields only
            proxy = False  # True = same table, different Python class
            unlogged = False  # True = UNLOGGED table (no WAL, fast, lost on crash)
            cache_ttl = 60  # Query cache TTL in seconds (None = no cache)
            database = "default"  # Database alias for multi-db routing

        id: int = Field(primary_key=True, auto=True)  # setup
        name: str = Field(default="")  # setup

    await create_tables(Product)
    await Product.objects.create(name="Widget")
    assert [p.name for p in await Product.objects.all()] == ["Widget"]
    await db.execute("UPDATE products SET name = 'raw'")  # bypasses the ORM
    assert [p.name for p in await Product.objects.all()] == ["Widget"]  # cached
    await Product.objects.filter(name="raw").update(name="Gadget")  # an ORM write
    assert [p.name for p in await Product.objects.all()] == ["Gadget"]


async def test_mixins(db: Any) -> None:
    assert OwnershipMixin.__name__ == "OwnershipMixin"  # imported by the sample

    class Document(TimestampMixin, SoftDeleteMixin, VersionedMixin, Model):
        class Meta:
            table = "documents"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        body: str = Field(default="")

    await create_tables(Document)
    document = await Document.objects.create(title="Spec")  # setup
    assert document.created_at is not None
    assert document.version == 1
    await document.delete()
    assert await Document.objects.count() == 0
    assert await Document.objects.unscoped().count() == 1


async def test_file_and_image_fields(db: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # setup: "media/" is relative to the working directory

    class Product(Model):
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        manual: str = FileField(upload_to="manuals/")
        photo: str = ImageField(upload_to="products/photos/")

    await create_tables(Product)
    product = await Product.objects.create(name="Lamp")  # setup
    file_content = b"\xff\xd8\xff\xe0 a JPEG"  # setup

    storage = FileSystemStorage(root="media/")

    path = await save_uploaded_file(product, "photo", file_content, "product.jpg", storage)
    await Product.objects.filter(id=product.id).update(photo=path)

    assert path == "products/photos/product.jpg"
    assert (tmp_path / "media" / path).read_bytes() == file_content
    assert (await Product.objects.get(id=product.id)).photo == path


async def test_filefield_lifecycle(db: Any) -> None:
    app = App()  # setup

    _storage = MemoryStorage(base_url="/files/")

    class Attachment(TimestampMixin, Model):
        class Meta:
            table = "attachments"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        document: str = FileField(upload_to="documents/")
        thumbnail: str = ImageField(upload_to="thumbnails/")

    @app.post("/api/attachments")
    async def create_attachment(request):
        files = await request.files()
        form = await request.form()

        doc = files.get("document")
        if not doc or not doc.filename:
            raise HTTPException(400, "document required")

        att = Attachment(title=form.get("title", "Untitled"))

        # save_uploaded_file: persists bytes, sets att.document to the stored path
        await save_uploaded_file(att, "document", doc.data, doc.filename, _storage)

        # Optional thumbnail — ImageField validates extensions, cleanup on failure
        thumb = files.get("thumbnail")
        if thumb and thumb.filename:
            try:
                await save_uploaded_file(att, "thumbnail", thumb.data, thumb.filename, _storage)
            except ValueError as e:
                # Cleanup the already-saved document to avoid orphans
                await delete_uploaded_file(att, "document", _storage)
                raise HTTPException(400, str(e))  # noqa: B904 - as the guide writes it

        await att.save()  # Now persist the database row — files are already on disk
        return Response.json({"id": att.id, "document_url": _storage.url(att.document)}, status=201)

    @app.delete("/api/attachments/{att_id:int}")
    async def delete_attachment(request, att_id: int):
        att = await Attachment.objects.filter(id=att_id).first()
        if not att:
            raise HTTPException(404, "Not found")

        # Delete files FIRST — if DB delete fails later we re-do file delete (idempotent).
        # If we deleted DB first and file delete failed, we'd have orphan files.
        if att.document:
            await delete_uploaded_file(att, "document", _storage)
        if att.thumbnail:
            await delete_uploaded_file(att, "thumbnail", _storage)

        await Attachment.objects.filter(id=att_id).delete()
        return Response.json({"deleted": True})

    # setup: the flow the guide's e2e script runs.
    await create_tables(Attachment)
    async with AppClient(app) as client:
        created = await client.post(
            "/api/attachments",
            data={"title": "Spec"},
            files={"document": ("spec.pdf", b"%PDF-1.7"), "thumbnail": ("t.png", PNG)},
        )
        assert created.status_code == 201
        body = created.json()
        assert body["document_url"] == "/files/documents/spec.pdf"
        att = await Attachment.objects.get(id=body["id"])
        assert att.thumbnail == "thumbnails/t.png"
        assert att.created_at is not None
        assert await _storage.read("documents/spec.pdf") == b"%PDF-1.7"

        # A bad thumbnail: 400, and the document saved before it is removed again.
        refused = await client.post(
            "/api/attachments",
            files={"document": ("other.pdf", b"%PDF"), "thumbnail": ("t.exe", b"MZ")},
        )
        assert refused.status_code == 400
        assert "`.png`" in refused.json()["detail"]
        assert not await _storage.exists("documents/other.pdf")
        assert await Attachment.objects.count() == 1

        missing = await client.post("/api/attachments", data={"title": "x"})
        assert missing.status_code == 400

        deleted = await client.delete(f"/api/attachments/{att.id}")
        assert deleted.json() == {"deleted": True}
        assert not await _storage.exists("documents/spec.pdf")
        assert not await _storage.exists("thumbnails/t.png")
        assert await Attachment.objects.count() == 0
        assert (await client.delete(f"/api/attachments/{att.id}")).status_code == 404
