"""The `admin` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stellate.core import Plugin

if TYPE_CHECKING:
    from stellate.core import App


class AdminPlugin(Plugin):
    """Enables stellate-admin in an app."""

    name: ClassVar[str] = "admin"
    requires: ClassVar[tuple[str, ...]] = ("orm", "auth")

    def setup(self, app: App) -> None:
        pass
