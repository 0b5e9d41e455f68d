"""The `rest` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stellate.core import Plugin

if TYPE_CHECKING:
    from stellate.core import App


class RestPlugin(Plugin):
    """Enables stellate-rest in an app."""

    name: ClassVar[str] = "rest"
    requires: ClassVar[tuple[str, ...]] = ("orm",)

    def setup(self, app: App) -> None:
        pass
