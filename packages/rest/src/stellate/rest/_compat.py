"""Small bridges to stellate-orm internals, kept in one place."""

from __future__ import annotations

from typing import Any

from stellate.orm._relations import LoadedKey

__all__ = ["loaded_value"]


def loaded_value(value: Any) -> Any:
    """The raw foreign key of a ``select_related("x_id")`` value, else ``value`` itself."""
    return value.raw if isinstance(value, LoadedKey) else value
