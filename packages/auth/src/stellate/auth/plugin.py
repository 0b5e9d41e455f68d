"""The `auth` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stellate.core import Plugin

if TYPE_CHECKING:
    from stellate.core import App


class AuthPlugin(Plugin):
    """Enables stellate-auth in an app."""

    name: ClassVar[str] = "auth"
    requires: ClassVar[tuple[str, ...]] = ("orm",)

    def setup(self, app: App) -> None:
        pass
