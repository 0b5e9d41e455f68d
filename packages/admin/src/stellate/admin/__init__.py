"""stellate.admin."""

from __future__ import annotations

from stellate.admin.plugin import AdminPlugin

__all__ = ["AdminPlugin"]
