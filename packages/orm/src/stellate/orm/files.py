"""``FileField`` / ``ImageField``: a path column whose bytes live in a core ``Storage``.

The row stores the name the storage returned (``documents/report.pdf``); the bytes
go through :func:`save_uploaded_file` and :func:`delete_uploaded_file`, which keep
the two in the order that never leaves a row pointing at a missing file:

- **Upload before the row.** ``save_uploaded_file`` writes the file and sets the
  field; the next ``save()`` writes the row. If that save fails (validation,
  constraint), the new file is deleted again and the field gets its old value
  back, so no orphan is left.
- **Replace: new file, row, then old file.** When the field held a file, the old
  one is deleted only after the row that no longer names it is written, and inside
  a transaction only once it commits.
- **Delete files before the row** (the guide's rule): ``delete_uploaded_file``
  first, then ``delete()``; a failed file delete leaves the row to retry with.

Limits: a row written inside a transaction that later rolls back leaves its new
file behind (there is no rollback hook); sweep such orphans by listing the
storage against the table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from stellate.orm.database import get_db
from stellate.orm.exceptions import FieldError
from stellate.orm.fields import MISSING, Field

if TYPE_CHECKING:
    from stellate.core.storage import Storage
    from stellate.orm.models import Model

__all__ = ["FileField", "ImageField", "delete_uploaded_file", "save_uploaded_file"]

_PENDING = "_pending_uploads"
"""Instance attribute: uploads written to storage whose row is not saved yet."""

# Leading bytes of each image format, by extension: a renamed .exe is refused.
_IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
}
_DEFAULT_IMAGE_MAX_SIZE = 10 * 1024 * 1024


class FileField(Field):
    """A column holding the storage name of an uploaded file (``""`` when there is none).

    Args:
        upload_to: Folder prefix inside the storage (``"documents/"``).
        max_size: Largest accepted upload in bytes (``None``: no limit).
        allowed_extensions: Lower-case extensions with the dot (``{".pdf"}``);
            ``None`` accepts any.
        **options: The usual ``Field`` options (``default`` is ``""``).

    Example:
        ``document: str = FileField(upload_to="documents/")``
    """

    def __init__(
        self,
        *,
        upload_to: str = "",
        max_size: int | None = None,
        allowed_extensions: Iterable[str] | None = None,
        **options: Any,
    ) -> None:
        if options.get("default", MISSING) is MISSING:
            options["default"] = ""
        super().__init__(**options)
        if upload_to and (upload_to.startswith("/") or ".." in upload_to.split("/")):
            raise ValueError(
                f"`upload_to={upload_to!r}` must be a relative folder such as `documents/`"
            )
        if max_size is not None and (isinstance(max_size, bool) or max_size <= 0):
            raise ValueError(f"`max_size` must be a positive number of bytes, got `{max_size!r}`")
        self.upload_to = upload_to if not upload_to or upload_to.endswith("/") else upload_to + "/"
        self.max_size = max_size
        self.allowed_extensions = (
            None
            if allowed_extensions is None
            else frozenset(
                e.lower() if e.startswith(".") else f".{e.lower()}" for e in allowed_extensions
            )
        )

    def check_upload(self, data: bytes, filename: str) -> None:
        """Refuse an upload this field does not accept.

        Raises:
            ValueError: Naming the field, the file and what to send instead.
        """
        where = f"`{self.model.__name__}.{self.name}`"
        extension = os.path.splitext(filename)[1].lower()
        allowed = self.allowed_extensions
        if allowed is not None and extension not in allowed:
            listed = ", ".join(f"`{e}`" for e in sorted(allowed))
            raise ValueError(
                f"{where} does not accept `{filename}` (extension `{extension or 'none'}`): "
                f"upload one of {listed}"
            )
        if self.max_size is not None and len(data) > self.max_size:
            raise ValueError(
                f"{where}: `{filename}` is {len(data)} bytes, more than the {self.max_size} "
                "allowed; upload a smaller file"
            )


class ImageField(FileField):
    """A ``FileField`` for images: extension, size and leading-bytes checks.

    Accepts ``.jpg``, ``.jpeg``, ``.png``, ``.gif`` and ``.webp`` up to 10 MiB by
    default; the first bytes must be those of the format the extension names.
    """

    def __init__(
        self,
        *,
        upload_to: str = "",
        max_size: int | None = _DEFAULT_IMAGE_MAX_SIZE,
        allowed_extensions: Iterable[str] | None = None,
        **options: Any,
    ) -> None:
        extensions = _IMAGE_SIGNATURES if allowed_extensions is None else allowed_extensions
        super().__init__(
            upload_to=upload_to,
            max_size=max_size,
            allowed_extensions=extensions,
            **options,
        )

    def check_upload(self, data: bytes, filename: str) -> None:
        super().check_upload(data, filename)
        extension = os.path.splitext(filename)[1].lower()
        signatures = _IMAGE_SIGNATURES.get(extension)
        webp = extension != ".webp" or data[8:12] == b"WEBP"
        if signatures is not None and not (data.startswith(signatures) and webp):
            raise ValueError(
                f"`{self.model.__name__}.{self.name}`: `{filename}` is not a "
                f"{extension[1:].upper()} image (its first bytes do not match); upload the "
                "image itself"
            )


def _file_field(instance: Model, field_name: str) -> FileField:
    field = instance._meta.get_field(field_name)
    if not isinstance(field, FileField):
        raise FieldError(
            f"`{type(instance).__name__}.{field_name}` is not a FileField or ImageField; "
            "declare it as `FileField(upload_to=...)` to store uploads in it"
        )
    return field


def _clean_filename(filename: str, field: FileField) -> str:
    # Browsers may send a full client path (C:\\Users\\...\\photo.jpg): keep the last part.
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in {".", ".."}:
        raise ValueError(
            f"`{field.model.__name__}.{field.name}`: the upload has no usable file name "
            f"(`{filename!r}`); send a name such as `report.pdf`"
        )
    return base


async def save_uploaded_file(
    instance: Model,
    field_name: str,
    data: bytes | bytearray | memoryview,
    filename: str,
    storage: Storage,
) -> str:
    """Check an upload, write it to ``storage`` and set the field to the stored name.

    Call it before ``instance.save()``: if that save fails, the file is deleted and
    the field restored. A file the field held before is deleted once the new row
    is saved (after the commit inside a transaction).

    Args:
        instance: The model instance (saved or not).
        field_name: A ``FileField`` / ``ImageField`` of its model.
        data: The file's bytes.
        filename: The client's file name (only its last path part is used).
        storage: Where the bytes go (``FileSystemStorage``, ``MemoryStorage``...).

    Returns:
        The stored name (``upload_to`` + file name, suffixed if it was taken).

    Raises:
        ValueError: The extension, size or content is not accepted (nothing stored).
        FieldError: ``field_name`` is not a file field.
    """
    field = _file_field(instance, field_name)
    content = bytes(data)
    name = field.upload_to + _clean_filename(filename, field)
    field.check_upload(content, name)
    stored = await storage.save(name, content)
    data_dict = instance.__dict__
    previous = data_dict.get(field_name) or ""
    pending: dict[str, tuple[str, str, Storage]] = data_dict.setdefault(_PENDING, {})
    if field_name in pending:
        # Replaced again before any save: the intermediate upload is not referenced.
        earlier, original, _ = pending[field_name]
        await storage.delete(earlier)
        previous = original
    pending[field_name] = (stored, previous, storage)
    data_dict[field_name] = stored
    return stored


async def delete_uploaded_file(instance: Model, field_name: str, storage: Storage) -> None:
    """Delete the field's file from ``storage`` and clear the field (``""``) on the instance.

    Call it before deleting the row (or save the instance afterwards to store the
    empty field). Deleting when the field is empty, or the file is already gone,
    does nothing.

    Raises:
        FieldError: ``field_name`` is not a file field.
    """
    _file_field(instance, field_name)
    data = instance.__dict__
    name = data.get(field_name)
    if name:
        await storage.delete(name)
    data[field_name] = ""
    pending = data.get(_PENDING)
    if pending:
        pending.pop(field_name, None)


async def after_save(instance: Model, error: BaseException | None) -> None:
    """Settle the uploads of ``instance`` once its ``save()`` succeeded or failed."""
    data = instance.__dict__
    pending: dict[str, tuple[str, str, Storage]] | None = data.pop(_PENDING, None)
    if not pending:
        return
    if error is not None:
        # The row does not name the new files: remove them and restore the old names.
        for field_name, (stored, previous, storage) in pending.items():
            await storage.delete(stored)
            data[field_name] = previous
        return
    db = get_db(instance._meta.database)
    for stored, previous, storage in pending.values():
        if previous and previous != stored:
            db.on_commit(_deleter(storage, previous))


def _deleter(storage: Storage, name: str) -> Any:
    async def delete() -> None:
        await storage.delete(name)

    return delete
