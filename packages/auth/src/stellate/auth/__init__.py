"""stellate.auth."""

from __future__ import annotations

from stellate.auth.plugin import AuthPlugin

__all__ = ["AuthPlugin"]
