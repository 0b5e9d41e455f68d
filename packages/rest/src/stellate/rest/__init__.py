"""stellate.rest."""

from __future__ import annotations

from stellate.rest.plugin import RestPlugin

__all__ = ["RestPlugin"]
