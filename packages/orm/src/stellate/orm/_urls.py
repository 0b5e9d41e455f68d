"""PostgreSQL URLs: validation, masking for logs, and connection errors explained."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from stellate.orm._registry import DatabaseNotConfiguredError

__all__ = ["check_url", "describe_connect_error", "mask_url"]

_SCHEMES = ("postgresql", "postgres")


def check_url(url: str, *, source: str) -> None:
    """Raise a clear error when ``url`` is not a PostgreSQL URL."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in _SCHEMES:
        raise DatabaseNotConfiguredError(
            f"{source} `{mask_url(url)}` is not a PostgreSQL URL: write it as "
            "postgresql://user:password@host:5432/dbname"
        )


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{exc}; create it (createdb) or fix the database name in the URL"
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return f"{exc}; check the user and password in the URL"
    if isinstance(exc, socket.gaierror):
        return f"the host name does not resolve ({exc.strerror}); fix the host in the URL"
    if isinstance(exc, ConnectionRefusedError | OSError) and not isinstance(exc, TimeoutError):
        return f"{exc.strerror or exc}; is PostgreSQL running and listening on that host and port?"
    if isinstance(exc, TimeoutError):
        return "no answer before the connect timeout; check the host, port and firewall"
    message = re.sub(r"\s+", " ", str(exc)).strip()
    return f"{type(exc).__name__}: {message}"
