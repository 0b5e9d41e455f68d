"""Patterns guide: full-text search with an indexed tsvector, and uploaded files."""

from __future__ import annotations

from stellate.core.storage import MemoryStorage
from stellate.orm import Field, FileField, Model, save_uploaded_file
from stellate.orm.postgres import SearchQuery, SearchRank, SearchVectorField


# --8<-- [start:search]
class Post(Model):
    class Meta:
        table = "pattern_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str = Field(default="")
    # A generated tsvector column with a GIN index: searches never parse every row.
    search: str | None = SearchVectorField(["title", "body"], config="english")


# --8<-- [end:search]


# --8<-- [start:files]
class Document(Model):
    class Meta:
        table = "pattern_documents"

    id: int = Field(primary_key=True, auto=True)
    file: str = FileField(upload_to="documents/", max_size=1_000_000, allowed_extensions=["txt"])


# --8<-- [end:files]


async def main() -> None:
    # --8<-- [start:search-use]
    await Post.objects.create(title="Async Python", body="Running python on the event loop")
    await Post.objects.create(title="Snakes", body="A python is a snake")
    query = SearchQuery("python -snake", config="english", search_type="websearch")
    found = await (
        Post.objects.filter(search__search=query)
        .annotate(rank=SearchRank("search", query))
        .order_by("-rank")
        .values_list("title", flat=True)
    )
    assert found == ["Async Python"]
    # --8<-- [end:search-use]

    # --8<-- [start:files-use]
    storage = MemoryStorage()  # FileSystemStorage("media/") on a real server
    document = Document()
    name = await save_uploaded_file(document, "file", b"hello", "notes.txt", storage)
    await document.save()  # a failed save deletes the stored file again
    assert name == "documents/notes.txt"
    assert document.file == name
    try:
        await save_uploaded_file(Document(), "file", b"MZ...", "setup.exe", storage)
    except ValueError as exc:  # refused before anything is stored
        assert "exe" in str(exc)
    # --8<-- [end:files-use]
