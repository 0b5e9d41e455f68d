"""FileField / ImageField with the core storages, on PostgreSQL: checks and write order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stellate.core.storage import FileSystemStorage, MemoryStorage
from stellate.orm import (
    Database,
    Field,
    FieldError,
    FileField,
    ImageField,
    Model,
    UniqueViolation,
    ValidationError,
    delete_uploaded_file,
    save_uploaded_file,
)
from stellate.orm.database import activate, restore
from stellate.orm.testing import create_tables

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


class FileDoc(Model):
    class Meta:
        table = "file_docs"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(unique=True)
    document: str = FileField(upload_to="documents/", max_size=1000)
    thumbnail: str = ImageField(upload_to="thumbs/", max_size=100)
    pdf: str = FileField(upload_to="pdfs", allowed_extensions=["PDF"])


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(FileDoc)
    return db


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage(base_url="/files/")


async def test_upload_then_save_stores_the_name(tables: Database, storage: MemoryStorage) -> None:
    doc = FileDoc(title="Report")
    assert doc.document == ""  # no file yet
    name = await save_uploaded_file(doc, "document", b"hello", "C:\\Users\\me\\report.txt", storage)
    assert name == "documents/report.txt"
    assert doc.document == name
    assert await storage.read(name) == b"hello"
    await doc.save()
    loaded = await FileDoc.objects.get(pk=doc.pk)
    assert loaded.document == "documents/report.txt"
    assert storage.url(loaded.document) == "/files/documents/report.txt"
    # A second upload of the same name gets a free variant, never overwrites.
    other = FileDoc(title="Other")
    second = await save_uploaded_file(other, "document", b"other", "report.txt", storage)
    assert second != name
    assert second.startswith("documents/report_")
    assert await storage.read(name) == b"hello"


async def test_a_failed_row_write_removes_the_new_file(
    tables: Database, storage: MemoryStorage
) -> None:
    await FileDoc.objects.create(title="Taken")
    doc = FileDoc(title="Taken")
    name = await save_uploaded_file(doc, "document", b"x", "a.txt", storage)
    with pytest.raises(UniqueViolation):
        await doc.save()
    assert not await storage.exists(name)
    assert doc.document == ""
    # Validation errors (before any SQL) clean up as well.
    bad = FileDoc(title="Fine")
    name = await save_uploaded_file(bad, "document", b"x", "b.txt", storage)
    bad.title = 5  # type: ignore[assignment]
    with pytest.raises(ValidationError):
        await bad.save()
    assert not await storage.exists(name)


async def test_replacing_deletes_the_old_file_only_after_commit(
    tables: Database, storage: MemoryStorage
) -> None:
    doc = FileDoc(title="Doc")
    first = await save_uploaded_file(doc, "document", b"v1", "v.txt", storage)
    await doc.save()
    second = await save_uploaded_file(doc, "document", b"v2", "v.txt", storage)
    await doc.save()
    assert (await FileDoc.objects.get(pk=doc.pk)).document == second
    # The test transaction never commits, so the old file is still there: deleting
    # it earlier would leave a rolled-back row pointing at nothing.
    assert await storage.exists(first)
    # Two uploads before one save: the intermediate one is dropped at once.
    third = await save_uploaded_file(doc, "document", b"v3", "v.txt", storage)
    fourth = await save_uploaded_file(doc, "document", b"v4", "v.txt", storage)
    assert not await storage.exists(third)
    # A failed save restores the name the row still has.
    doc.title = 5  # type: ignore[assignment]
    with pytest.raises(ValidationError):
        await doc.save()
    assert doc.document == second
    assert not await storage.exists(fourth)


async def test_replacing_outside_a_transaction_deletes_the_old_file(
    own_db: Database, tmp_path: Path
) -> None:
    storage = FileSystemStorage(root=tmp_path, base_url="/media/")
    previous = activate({"default": own_db})
    try:
        await own_db.execute("DROP TABLE IF EXISTS file_docs")
        await create_tables(FileDoc)
        doc = FileDoc(title="Committed")
        first = await save_uploaded_file(doc, "document", b"v1", "v.txt", storage)
        await doc.save()
        await save_uploaded_file(doc, "document", b"v2", "v.txt", storage)
        await doc.save()
        # Outside a transaction the deletion runs as a task right after the write.
        for _ in range(100):
            if not await storage.exists(first):
                break
            await asyncio.sleep(0.01)
        assert not await storage.exists(first)
    finally:
        await own_db.execute("DROP TABLE IF EXISTS file_docs")
        restore(previous)


async def test_delete_files_before_the_row(tables: Database, storage: MemoryStorage) -> None:
    doc = FileDoc(title="Gone")
    name = await save_uploaded_file(doc, "document", b"x", "gone.txt", storage)
    thumb = await save_uploaded_file(doc, "thumbnail", PNG, "t.png", storage)
    await doc.save()
    await delete_uploaded_file(doc, "document", storage)
    await delete_uploaded_file(doc, "thumbnail", storage)
    assert doc.document == ""
    assert not await storage.exists(name)
    assert not await storage.exists(thumb)
    await delete_uploaded_file(doc, "document", storage)  # idempotent
    await doc.delete()
    assert await FileDoc.objects.count() == 0


async def test_image_checks_extension_size_and_content(
    tables: Database, storage: MemoryStorage
) -> None:
    doc = FileDoc(title="Img")
    assert await save_uploaded_file(doc, "thumbnail", JPEG, "ok.JPG", storage) == "thumbs/ok.JPG"
    with pytest.raises(ValueError, match=r"`FileDoc.thumbnail` does not accept `thumbs/x.exe`"):
        await save_uploaded_file(doc, "thumbnail", PNG, "x.exe", storage)
    with pytest.raises(ValueError, match="not a PNG image"):
        await save_uploaded_file(doc, "thumbnail", b"MZ\x90\x00 pretending", "evil.png", storage)
    with pytest.raises(ValueError, match="more than the 100 allowed"):
        await save_uploaded_file(doc, "thumbnail", PNG + b"\x00" * 100, "big.png", storage)
    with pytest.raises(ValueError, match="more than the 1000 allowed"):
        await save_uploaded_file(doc, "document", b"x" * 1001, "big.txt", storage)
    with pytest.raises(ValueError, match="no usable file name"):
        await save_uploaded_file(doc, "document", b"x", "dir/", storage)
    with pytest.raises(ValueError, match=r"upload one of `\.pdf`"):
        await save_uploaded_file(doc, "pdf", b"x", "notes.txt", storage)
    assert await save_uploaded_file(doc, "pdf", b"%PDF", "a.PDF", storage) == "pdfs/a.PDF"
    # Refused uploads stored nothing.
    assert sorted(storage._files) == ["pdfs/a.PDF", "thumbs/ok.JPG"]
    with pytest.raises(FieldError, match="not a FileField"):
        await save_uploaded_file(doc, "title", b"x", "a.txt", storage)
    with pytest.raises(ValueError, match="relative folder"):
        FileField(upload_to="../up")


async def test_file_columns_are_text(tables: Database) -> None:
    rows = await tables.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'file_docs' AND column_name IN ('document', 'thumbnail')"
    )
    assert {r["data_type"] for r in rows} == {"text"}


async def test_filesystem_storage_round_trip(tables: Database, tmp_path: Path) -> None:
    storage = FileSystemStorage(root=tmp_path)
    doc = FileDoc(title="Disk")
    name = await save_uploaded_file(doc, "thumbnail", PNG, "p.png", storage)
    await doc.save()
    assert (tmp_path / name).read_bytes() == PNG
