"""stellate.tasks."""

from __future__ import annotations

from stellate.tasks.plugin import TasksPlugin

__all__ = ["TasksPlugin"]
