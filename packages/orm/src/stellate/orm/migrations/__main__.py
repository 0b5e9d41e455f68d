"""``python -m stellate.orm.migrations <command>``: the migration commands without an app."""

from __future__ import annotations

import click

from stellate.orm.migrations.commands import MIGRATION_COMMANDS


@click.group()
def main() -> None:
    """Stellate migration commands."""


for _command in MIGRATION_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
