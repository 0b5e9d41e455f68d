"""The `tasks` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stellate.core import Plugin

if TYPE_CHECKING:
    from stellate.core import App


class TasksPlugin(Plugin):
    """Enables stellate-tasks in an app."""

    name: ClassVar[str] = "tasks"
    requires: ClassVar[tuple[str, ...]] = ()

    def setup(self, app: App) -> None:
        pass
