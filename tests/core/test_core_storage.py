"""Storage: one suite run against FileSystemStorage (real files) and MemoryStorage."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from stellate.core.storage import FileSystemStorage, MemoryStorage, Storage, check_name


@pytest.fixture(params=["filesystem", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "filesystem":
        return FileSystemStorage(tmp_path / "media", base_url="/files/")
    return MemoryStorage(base_url="/files/")


async def test_save_read_size_exists_url_delete(storage: Storage) -> None:
    stored = await storage.save("documents/2026/report.pdf", b"%PDF-1.7 content")
    assert stored == "documents/2026/report.pdf"
    assert await storage.read(stored) == b"%PDF-1.7 content"
    assert await storage.size(stored) == 16
    assert await storage.exists(stored)
    assert storage.url(stored) == "/files/documents/2026/report.pdf"
    await storage.delete(stored)
    assert not await storage.exists(stored)


async def test_bytes_like_data_and_empty_files(storage: Storage) -> None:
    buffer = bytearray(b"mutable")
    name = await storage.save("a.bin", buffer)
    buffer[:] = b"changed"
    assert await storage.read(name) == b"mutable"
    assert await storage.read(await storage.save("b.bin", memoryview(b"view"))) == b"view"
    empty = await storage.save("empty.txt", b"")
    assert await storage.read(empty) == b""
    assert await storage.size(empty) == 0


async def test_text_data_is_refused(storage: Storage) -> None:
    with pytest.raises(TypeError, match=r"takes bytes, got `str`; encode text first"):
        await storage.save("note.txt", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes bytes, got `int`"):
        await storage.save("note.txt", 5)  # type: ignore[arg-type]
    assert not await storage.exists("note.txt")


async def test_collision_gets_a_unique_name_and_keeps_the_original(storage: Storage) -> None:
    first = await storage.save("documents/archive.tar.gz", b"one")
    second = await storage.save("documents/archive.tar.gz", b"two")
    third = await storage.save("documents/archive.tar.gz", b"three")
    assert first == "documents/archive.tar.gz"
    assert len({first, second, third}) == 3
    for other in (second, third):
        assert other.startswith("documents/archive_")
        assert other.endswith(".tar.gz")
        assert len(other) == len(first) + 8
    assert [await storage.read(n) for n in (first, second, third)] == [b"one", b"two", b"three"]


async def test_collision_naming_edge_cases(storage: Storage) -> None:
    await storage.save(".env", b"a")
    hidden = await storage.save(".env", b"b")
    assert hidden.startswith(".env_")
    assert "." not in hidden[1:]
    long_name = "x" * 250 + ".txt"
    await storage.save(long_name, b"a")
    renamed = await storage.save(long_name, b"b")
    assert len(renamed.encode()) <= 255
    assert renamed.endswith(".txt")
    assert await storage.read(renamed) == b"b"


async def test_concurrent_saves_of_one_name_never_overwrite(storage: Storage) -> None:
    names = await asyncio.gather(*(storage.save("up.txt", f"{i}".encode()) for i in range(20)))
    assert len(set(names)) == 20
    contents = sorted([await storage.read(n) for n in names])
    assert contents == sorted(f"{i}".encode() for i in range(20))


async def test_delete_is_idempotent(storage: Storage) -> None:
    name = await storage.save("x/y.txt", b"1")
    await storage.delete(name)
    await storage.delete(name)
    await storage.delete("never/existed.txt")
    assert not await storage.exists(name)


async def test_missing_files(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError, match=r"No file `missing/file.txt` in"):
        await storage.read("missing/file.txt")
    with pytest.raises(FileNotFoundError, match=r"No file `missing.txt`"):
        await storage.size("missing.txt")
    assert not await storage.exists("missing.txt")


async def test_folders_are_not_files(storage: Storage) -> None:
    await storage.save("documents/a.txt", b"a")
    assert not await storage.exists("documents")
    with pytest.raises(FileNotFoundError):
        await storage.read("documents")
    with pytest.raises(FileNotFoundError):
        await storage.size("documents")
    await storage.delete("documents")  # not a file: nothing to delete
    assert await storage.exists("documents/a.txt")
    # A file cannot take a folder's name: it gets a free variant.
    renamed = await storage.save("documents", b"file")
    assert renamed.startswith("documents_")
    assert await storage.read(renamed) == b"file"


async def test_a_file_cannot_become_a_folder(storage: Storage) -> None:
    await storage.save("report", b"file")
    with pytest.raises(ValueError, match=r"`'report/page1.txt'`: a folder in it is an existing"):
        await storage.save("report/page1.txt", b"x")
    with pytest.raises(ValueError, match=r"a folder in it is an existing file"):
        await storage.save("report/deeper/page1.txt", b"x")
    assert await storage.read("report") == b"file"


BAD_NAMES = [
    ("../escape.txt", r"has a `\.\.` path segment"),
    ("documents/../../escape.txt", r"has a `\.\.` path segment"),
    ("./here.txt", r"has a `\.` path segment"),
    ("/etc/passwd", r"is an absolute path"),
    ("C:/Windows/win.ini", r"is an absolute path"),
    ("a\\..\\b.txt", r"contains a backslash"),
    ("a\x00b.txt", r"contains a NUL byte"),
    ("a\nb.txt", r"contains a control character"),
    ("", r"it is empty"),
    ("a//b.txt", r"has an empty path segment"),
    ("folder/", r"has an empty path segment"),
    ("x" * 256, r"is over 255 bytes"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_NAMES)
async def test_bad_names_are_refused_by_every_method(
    storage: Storage, name: str, reason: str
) -> None:
    pattern = r"Invalid storage name `.*`: .*" + reason + r".*relative path"
    with pytest.raises(ValueError, match=pattern):
        await storage.save(name, b"x")
    with pytest.raises(ValueError, match=pattern):
        await storage.read(name)
    with pytest.raises(ValueError, match=pattern):
        await storage.delete(name)
    with pytest.raises(ValueError, match=pattern):
        await storage.exists(name)
    with pytest.raises(ValueError, match=pattern):
        await storage.size(name)
    with pytest.raises(ValueError, match=pattern):
        storage.url(name)


def test_error_names_the_name() -> None:
    with pytest.raises(ValueError, match=r"^Invalid storage name `'\.\./secret'`"):
        check_name("../secret")
    with pytest.raises(TypeError, match=r"Storage names are str, got `bytes`"):
        check_name(b"a.txt")  # type: ignore[arg-type]


async def test_url_encoding_and_base_urls(storage: Storage) -> None:
    name = await storage.save("my files/résumé #1.pdf", b"x")
    assert storage.url(name) == "/files/my%20files/r%C3%A9sum%C3%A9%20%231.pdf"
    assert MemoryStorage(base_url="/media").url("a.txt") == "/media/a.txt"
    cdn = MemoryStorage(base_url="https://cdn.example.com/media/")
    assert cdn.url("a b.txt") == "https://cdn.example.com/media/a%20b.txt"
    assert cdn.base_url == "https://cdn.example.com/media/"


def test_empty_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match=r"`base_url` must be a non-empty URL prefix"):
        MemoryStorage(base_url="")


# -- FileSystemStorage only ---------------------------------------------------


async def test_files_land_on_disk_without_leftovers(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / "media")
    first = await storage.save("documents/a.txt", b"alpha")
    second = await storage.save("documents/a.txt", b"beta")
    folder = tmp_path / "media" / "documents"
    assert (folder / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "media" / second).read_bytes() == b"beta"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [first.split("/")[1], second.split("/")[1]]
    )
    assert storage.path(first) == folder / "a.txt"
    assert storage.location == tmp_path / "media"
    await storage.delete(first)
    assert not (folder / "a.txt").exists()


async def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"top secret")
    media = tmp_path / "media"
    media.mkdir()
    (media / "link").symlink_to(outside)
    storage = FileSystemStorage(media)
    with pytest.raises(ValueError, match=r"resolves outside .* through a symlink"):
        await storage.read("link/secret.txt")
    with pytest.raises(ValueError, match=r"through a symlink"):
        await storage.save("link/new/planted.txt", b"x")
    with pytest.raises(ValueError, match=r"through a symlink"):
        await storage.delete("link/secret.txt")
    with pytest.raises(ValueError, match=r"through a symlink"):
        await storage.exists("link/secret.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"top secret"


async def test_relative_location_and_root_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = FileSystemStorage(root="media/")
    monkeypatch.chdir("/")
    name = await storage.save("a.txt", b"a")
    assert (tmp_path / "media" / name).read_bytes() == b"a"
    assert "FileSystemStorage(" in repr(storage)
    assert str(tmp_path / "media") in repr(storage)


def test_location_must_be_given_once(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"needs a directory"):
        FileSystemStorage()
    with pytest.raises(TypeError, match=r"both `location` and `root`"):
        FileSystemStorage(tmp_path, root=tmp_path)


async def test_file_io_runs_off_the_event_loop(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path)
    payload = os.urandom(1024 * 1024) * 16  # 16 MiB: milliseconds of disk I/O
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    started = time.perf_counter()
    name = await storage.save("big.bin", payload)
    content = await storage.read(name)
    elapsed = time.perf_counter() - started
    stop = True
    await task
    assert content == payload
    # Blocking I/O on the loop would leave the ticker no turn until it finished.
    assert ticks > 10, f"only {ticks} loop turns during {elapsed:.3f} s of file I/O"


async def test_memory_storages_are_separate() -> None:
    first, second = MemoryStorage(), MemoryStorage()
    await first.save("a.txt", b"a")
    assert not await second.exists("a.txt")
    assert "files=1" in repr(first)
