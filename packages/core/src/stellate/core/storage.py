"""File storage backends with one async interface.

``Storage`` is the interface file fields and upload helpers talk to;
``FileSystemStorage`` keeps files under a directory and ``MemoryStorage`` in
a dict (for tests and single-process demos). A custom backend (S3, ...)
subclasses ``Storage`` and implements its five async methods.

Names are relative POSIX paths such as ``documents/2026/report.pdf``. Every
method checks them the same way: absolute paths, ``..``/``.`` segments,
backslashes, empty segments, NUL and other control characters are refused
with a ``ValueError`` that names the name, so no name can leave the storage.
"""

from __future__ import annotations

import abc
import asyncio
import os
import re
import secrets
import string
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

__all__ = ["FileSystemStorage", "MemoryStorage", "Storage", "check_name"]

_MAX_SEGMENT_BYTES = 255  # the file-name limit of common filesystems
_SUFFIX_ALPHABET = string.ascii_letters + string.digits
_SUFFIX_LENGTH = 7
_MAX_ATTEMPTS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _invalid(name: object, reason: str) -> ValueError:
    return ValueError(
        f"Invalid storage name `{name!r}`: {reason}; use a relative path such as "
        "`documents/report.pdf`"
    )


def check_name(name: str) -> str:
    """Validate a storage name and return it unchanged.

    Args:
        name: A relative POSIX path such as ``documents/report.pdf``.

    Returns:
        ``name``.

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If ``name`` could leave the storage or is malformed.
    """
    if not isinstance(name, str):
        raise TypeError(f"Storage names are str, got `{type(name).__name__}` (`{name!r}`)")
    if not name:
        raise _invalid(name, "it is empty")
    if "\x00" in name:
        raise _invalid(name, "it contains a NUL byte")
    if _CONTROL.search(name):
        raise _invalid(name, "it contains a control character")
    if "\\" in name:
        raise _invalid(name, "it contains a backslash (separate folders with `/`)")
    if name.startswith("/") or _DRIVE.match(name):
        raise _invalid(name, "it is an absolute path")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise _invalid(
                name,
                f"it has a `{segment}` path segment" if segment else "it has an empty path segment",
            )
        if len(segment.encode()) > _MAX_SEGMENT_BYTES:
            raise _invalid(name, f"the segment `{segment[:20]}...` is over 255 bytes")
    return name


def _alternative_name(name: str) -> str:
    """``docs/report.tar.gz`` -> ``docs/report_a1B2c3D.tar.gz``."""
    folder, _, base = name.rpartition("/")
    dot = base.find(".", 1)  # a leading dot is part of the stem (`.env`)
    stem, suffix = (base, "") if dot == -1 else (base[:dot], base[dot:])
    tag = "_" + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    room = _MAX_SEGMENT_BYTES - len((tag + suffix).encode())
    while len(stem.encode()) > room:
        stem = stem[:-1]
    new_base = stem + tag + suffix
    return f"{folder}/{new_base}" if folder else new_base


def _parents(name: str) -> list[str]:
    segments = name.split("/")
    return ["/".join(segments[:i]) for i in range(1, len(segments))]


class Storage(abc.ABC):
    """Where file fields keep their bytes: one async interface for every backend.

    Args:
        base_url: The URL prefix files are served under (``/media/``,
            ``https://cdn.example.com/media/``); ``url()`` appends the name.

    Example:
        ```python
        class S3Storage(Storage):
            async def save(self, name: str, data: bytes) -> str: ...
            async def read(self, name: str) -> bytes: ...
            async def delete(self, name: str) -> None: ...
            async def exists(self, name: str) -> bool: ...
            async def size(self, name: str) -> int: ...
        ```
    """

    def __init__(self, base_url: str = "/media/") -> None:
        if not isinstance(base_url, str) or not base_url:
            raise ValueError(
                f"Storage `base_url` must be a non-empty URL prefix such as `/media/`, "
                f"got `{base_url!r}`"
            )
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"

    @property
    def base_url(self) -> str:
        """The URL prefix, always ending with ``/``."""
        return self._base_url

    @abc.abstractmethod
    async def save(self, name: str, data: bytes | bytearray | memoryview) -> str:
        """Store ``data`` under ``name`` (or a free variant of it) and return the name used.

        An existing file is never overwritten: when ``name`` is taken, a random
        suffix goes before the extension (``report_a1B2c3D.pdf``).

        Raises:
            ValueError: If ``name`` is invalid or a folder in it is a file.
            TypeError: If ``data`` is not bytes-like.
        """

    @abc.abstractmethod
    async def read(self, name: str) -> bytes:
        """Return the content of ``name``.

        Raises:
            FileNotFoundError: If there is no such file.
        """

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """Delete ``name``; deleting a missing file is not an error."""

    @abc.abstractmethod
    async def exists(self, name: str) -> bool:
        """Tell whether a file ``name`` exists."""

    @abc.abstractmethod
    async def size(self, name: str) -> int:
        """Return the size of ``name`` in bytes.

        Raises:
            FileNotFoundError: If there is no such file.
        """

    def url(self, name: str) -> str:
        """Return the URL of ``name``: ``base_url`` + the percent-encoded name."""
        return self._base_url + quote(check_name(name), safe="/")

    def _missing(self, name: str) -> FileNotFoundError:
        return FileNotFoundError(f"No file `{name}` in {self!r}")


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(
        f"Storage.save() takes bytes, got `{type(data).__name__}`"
        + ("; encode text first: `text.encode()`" if isinstance(data, str) else "")
    )


class FileSystemStorage(Storage):
    """Files under a directory on disk; all file I/O runs in a worker thread.

    Saving writes a temporary file next to the target and hard-links it into
    place, so a file appears complete or not at all and two concurrent saves
    of one name cannot overwrite each other. Names that would resolve outside
    the directory (through a symlink inside it) are refused.

    Args:
        location: The directory (created on first save). Relative paths are
            resolved against the working directory at construction.
        base_url: The URL prefix the directory is served under.
        root: Another name for ``location``.

    Raises:
        TypeError: If neither or both of ``location`` and ``root`` are given.
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        base_url: str = "/media/",
        *,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        if location is None:
            if root is None:
                raise TypeError(
                    "FileSystemStorage needs a directory: `FileSystemStorage('media/')` "
                    "or `FileSystemStorage(root='media/')`"
                )
            location = root
        elif root is not None:
            raise TypeError(
                "FileSystemStorage got both `location` and `root`, which are one setting: "
                "pass only one"
            )
        super().__init__(base_url)
        self._root = Path(location).resolve()

    @property
    def location(self) -> Path:
        """The absolute directory files live in."""
        return self._root

    def __repr__(self) -> str:
        return f"FileSystemStorage({str(self._root)!r}, base_url={self.base_url!r})"

    def path(self, name: str) -> Path:
        """Return the absolute path ``name`` is stored at (no file access)."""
        return self._root.joinpath(*check_name(name).split("/"))

    def _contained(self, name: str, path: Path) -> Path:
        real = Path(os.path.realpath(path))
        if real != self._root and self._root not in real.parents:
            raise _invalid(name, f"it resolves outside `{self._root}` through a symlink")
        return real

    async def save(self, name: str, data: bytes | bytearray | memoryview) -> str:
        check_name(name)
        return await asyncio.to_thread(self._save, name, _as_bytes(data))

    def _save(self, name: str, data: bytes) -> str:
        target = self.path(name)
        folder = target.parent
        # Before mkdir, so a symlinked folder cannot make us create folders elsewhere.
        self._contained(name, folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _invalid(name, "a folder in it is an existing file") from None
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".stellate-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            candidate = name
            for _ in range(_MAX_ATTEMPTS):
                try:
                    # link() fails if the name exists: an atomic "create if absent".
                    os.link(temporary, self.path(candidate))
                except FileExistsError:
                    candidate = _alternative_name(name)
                else:
                    return candidate
            raise FileExistsError(
                f"Could not find a free name for `{name}` in {self!r} "
                f"after {_MAX_ATTEMPTS} attempts"
            )
        finally:
            os.unlink(temporary)

    async def read(self, name: str) -> bytes:
        check_name(name)
        return await asyncio.to_thread(self._read, name)

    def _read(self, name: str) -> bytes:
        path = self._contained(name, self.path(name))
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(name) from None

    async def delete(self, name: str) -> None:
        check_name(name)
        await asyncio.to_thread(self._delete, name)

    def _delete(self, name: str) -> None:
        path = self._contained(name, self.path(name))
        if path.is_file():
            # Another request may delete it between the check and here.
            path.unlink(missing_ok=True)

    async def exists(self, name: str) -> bool:
        check_name(name)
        return await asyncio.to_thread(self._exists, name)

    def _exists(self, name: str) -> bool:
        return self._contained(name, self.path(name)).is_file()

    async def size(self, name: str) -> int:
        check_name(name)
        return await asyncio.to_thread(self._size, name)

    def _size(self, name: str) -> int:
        path = self._contained(name, self.path(name))
        if not path.is_file():
            raise self._missing(name)
        return path.stat().st_size


class MemoryStorage(Storage):
    """Files in a dict of this instance: for tests and single-process demos.

    It follows ``FileSystemStorage`` exactly (same names refused, same
    renaming on collision, a file cannot also be a folder), so code tested
    against it behaves the same on disk. Contents are lost with the instance
    and are not shared between worker processes.

    Args:
        base_url: The URL prefix files would be served under.
    """

    def __init__(self, base_url: str = "/media/") -> None:
        super().__init__(base_url)
        self._files: dict[str, bytes] = {}
        self._folders: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"MemoryStorage(base_url={self.base_url!r}, files={len(self._files)})"

    async def save(self, name: str, data: bytes | bytearray | memoryview) -> str:
        check_name(name)
        content = _as_bytes(data)
        parents = _parents(name)
        if any(parent in self._files for parent in parents):
            raise _invalid(name, "a folder in it is an existing file")
        candidate = name
        for _ in range(_MAX_ATTEMPTS):
            if candidate not in self._files and candidate not in self._folders:
                break
            candidate = _alternative_name(name)
        else:
            raise FileExistsError(
                f"Could not find a free name for `{name}` in {self!r} "
                f"after {_MAX_ATTEMPTS} attempts"
            )
        self._files[candidate] = content
        self._folders.update(parents)
        return candidate

    async def read(self, name: str) -> bytes:
        check_name(name)
        try:
            return self._files[name]
        except KeyError:
            raise self._missing(name) from None

    async def delete(self, name: str) -> None:
        check_name(name)
        if self._files.pop(name, None) is not None:
            self._folders.subtract(_parents(name))
            self._folders += Counter()  # drop folders that are now empty

    async def exists(self, name: str) -> bool:
        return check_name(name) in self._files

    async def size(self, name: str) -> int:
        return len(await self.read(name))
