"""stellate.orm."""

from __future__ import annotations

from stellate.orm.plugin import OrmPlugin

__all__ = ["OrmPlugin"]
