"""An embedded PostgreSQL 16 for development and tests (the ``pgserver`` wheel).

Installed with ``pip install "stellate-orm[embedded]"``. The data directory survives
restarts: the second start reuses it (about 0.1 s) with its data.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import shlex
import warnings
from pathlib import Path
from typing import Any

from stellate.core.exceptions import ImproperlyConfigured

__all__ = ["EmbeddedPostgres"]

logger = logging.getLogger("stellate.orm")


class EmbeddedPostgres:
    """A PostgreSQL server run from ``directory`` by pgserver.

    Starts and stops are counted, so two users of one directory in one process (an
    app and a test fixture, say) share the server and it stops with the last one.

    Args:
        directory: the data directory; created (with its parents) when missing.

    Example:
        ```python
        server = EmbeddedPostgres(".stellate/pgdata")
        url = await server.start()
        ...
        await server.stop()
        ```
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self._server: Any = None

    @property
    def url(self) -> str:
        """The connection URL (a Unix socket in the data directory)."""
        if self._server is None:
            raise RuntimeError(
                f"The embedded PostgreSQL in `{self.directory}` is not started: await start()"
            )
        return str(self._server.get_uri())

    @property
    def psql_command(self) -> str:
        """A shell command that opens psql on this server."""
        psql = importlib.import_module("pgserver._commands").POSTGRES_BIN_PATH / "psql"
        return f"{shlex.quote(str(psql))} {shlex.quote(self.url)}"

    async def start(self) -> str:
        """Start the server (or join the one running in the directory); return its URL.

        Raises:
            ImproperlyConfigured: pgserver is not installed.
        """
        if self._server is not None:
            return self.url
        try:
            pgserver = _pgserver()
        except ImportError:
            raise ImproperlyConfigured(
                "No database URL is set and the embedded PostgreSQL is not installed: "
                'pip install "stellate-orm[embedded]", or set STELLATE_DATABASE_URL to '
                "postgresql://user:password@host:5432/dbname"
            ) from None
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # pgserver blocks (initdb, pg_ctl) for up to a second: keep the event loop free.
        server = await asyncio.to_thread(pgserver.get_server, self.directory, cleanup_mode="stop")
        server.__enter__()
        self._server = server
        logger.info(
            "Embedded PostgreSQL running with its data in %s; connect with: %s",
            self.directory,
            self.psql_command,
        )
        return self.url

    async def stop(self) -> None:
        """Stop the server unless another user in this process still has it."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.__exit__, None, None, None)
            logger.info("Embedded PostgreSQL in %s released", self.directory)


def _pgserver() -> Any:
    # Imported on use: pgserver is an optional extra and loads psutil and friends.
    with warnings.catch_warnings():
        # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset (containers,
        # CI) and falls back to /tmp/runtime-<uid>, which suits pgserver's lock file.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        return importlib.import_module("pgserver")
