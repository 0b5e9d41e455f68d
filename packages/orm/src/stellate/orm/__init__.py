"""stellate.orm."""

from __future__ import annotations

from stellate.orm.database import (
    Database,
    DatabaseConnectionError,
    DatabaseNotConfiguredError,
    QueryEvent,
    connect,
    get_db,
    on_commit,
    transaction,
)
from stellate.orm.plugin import OrmPlugin
from stellate.orm.pool import DatabaseNotConnectedError, PoolTimeoutError
from stellate.orm.settings import OrmSettings
from stellate.orm.transactions import (
    ConcurrentTransactionUseError,
    Transaction,
    TransactionClosedError,
)

__all__ = [
    "ConcurrentTransactionUseError",
    "Database",
    "DatabaseConnectionError",
    "DatabaseNotConfiguredError",
    "DatabaseNotConnectedError",
    "OrmPlugin",
    "OrmSettings",
    "PoolTimeoutError",
    "QueryEvent",
    "Transaction",
    "TransactionClosedError",
    "connect",
    "get_db",
    "on_commit",
    "transaction",
]
