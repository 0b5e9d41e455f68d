"""``python -m stellate.tasks worker|tasks MODULE:APP [options]``.

The same commands as ``stellate worker`` / ``stellate tasks``, for when the app is
named on the command line (process managers, containers).
"""

from __future__ import annotations

import importlib
import sys

import click


def main(argv: list[str] | None = None) -> None:
    """Run ``worker`` or ``tasks`` for the app at ``MODULE:ATTRIBUTE``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("worker", "tasks"):
        raise SystemExit("usage: python -m stellate.tasks worker|tasks MODULE:APP [options]")
    command_name, target, rest = args[0], args[1], args[2:]
    module_name, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    command: click.Command = app.commands[command_name]
    command.main(rest, prog_name=f"stellate {command_name}")


if __name__ == "__main__":
    main()
