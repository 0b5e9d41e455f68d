"""Errors raised by models and querysets, and the translation of database integrity errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stellate.orm.models import Model

__all__ = [
    "CheckViolation",
    "FieldError",
    "ForeignKeyViolation",
    "IntegrityError",
    "MissingTableError",
    "MultipleObjectsReturned",
    "NotLoadedError",
    "NotNullViolation",
    "ObjectDoesNotExist",
    "OrmError",
    "QueryValueError",
    "UniqueViolation",
    "ValidationError",
    "translate_integrity_error",
]


class OrmError(Exception):
    """Base class of every error raised by stellate-orm."""


class FieldError(OrmError, AttributeError):
    """A field, relation or lookup name does not exist on a model.

    It is also an ``AttributeError`` so ``getattr(obj, name, default)`` keeps working.
    """


def unknown_name_error(
    kind: str, name: str, model_name: str, valid: Iterable[str], *, hint: str = ""
) -> FieldError:
    """Build the ``FieldError`` for an unknown name, with a did-you-mean and the valid names."""
    choices = sorted(valid)
    close = difflib.get_close_matches(name, choices, n=1)
    suggestion = f" (did you mean `{close[0]}`?)" if close else ""
    listed = ", ".join(f"`{c}`" for c in choices)
    message = f"Unknown {kind} `{name}` on `{model_name}`{suggestion}; valid names: {listed}"
    if hint:
        message += f". {hint}"
    return FieldError(message)


class ValidationError(OrmError, ValueError):
    """One or more field values are invalid; ``errors`` maps each field to its problems.

    Raised by ``Model(...)``, ``full_clean()`` and ``save()`` before any SQL runs, and it
    lists every failing field, not only the first.
    """

    def __init__(self, errors: Mapping[str, list[str]], model_name: str = "") -> None:
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in errors.items()}
        self.model_name = model_name
        where = f" for `{model_name}`" if model_name else ""
        lines = "; ".join(
            f"`{field}`: {', '.join(problems)}" for field, problems in self.errors.items()
        )
        count = len(self.errors)
        noun = "field" if count == 1 else "fields"
        super().__init__(f"{count} invalid {noun}{where}: {lines}")


class NotLoadedError(OrmError, AttributeError):
    """An attribute was read that this instance did not load; attribute access never queries."""


class MissingTableError(OrmError):
    """The model's table does not exist in the database the model is routed to."""


class QueryValueError(OrmError, ValueError):
    """A parameter value could not be sent as its column's type (the message has the SQL)."""


class ObjectDoesNotExist(OrmError, LookupError):
    """Base of every model's ``DoesNotExist``: ``get()`` found no row."""


class MultipleObjectsReturned(OrmError, LookupError):
    """Base of every model's ``MultipleObjectsReturned``: ``get()`` found more than one row."""


class IntegrityError(OrmError):
    """A database constraint rejected a write.

    Attributes:
        constraint: The constraint's name as PostgreSQL reports it (or ``None``).
        table: The table the constraint belongs to.
        detail: PostgreSQL's detail line, e.g. ``Key (isbn)=(123) already exists.``
    """

    kind = "integrity"

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        table: str | None = None,
        detail: str | None = None,
        model: type[Model] | None = None,
    ) -> None:
        super().__init__(message)
        self.constraint = constraint
        self.table = table
        self.detail = detail
        self.model = model


class UniqueViolation(IntegrityError):
    """A unique constraint or unique index was violated."""

    kind = "unique"


class CheckViolation(IntegrityError):
    """A CHECK constraint was violated."""

    kind = "check"


class ForeignKeyViolation(IntegrityError):
    """A foreign key points at a missing row, or a referenced row is still in use."""

    kind = "foreign key"


class NotNullViolation(IntegrityError):
    """NULL was written into a NOT NULL column."""

    kind = "not null"


def translate_integrity_error(exc: Exception, model: type[Model] | None = None) -> IntegrityError:
    """Turn an asyncpg integrity error into the typed ``IntegrityError`` naming the constraint."""
    sqlstate = getattr(exc, "sqlstate", None)
    cls: type[IntegrityError] = {
        "23505": UniqueViolation,
        "23514": CheckViolation,
        "23503": ForeignKeyViolation,
        "23502": NotNullViolation,
    }.get(str(sqlstate), IntegrityError)
    constraint = getattr(exc, "constraint_name", None)
    table = getattr(exc, "table_name", None)
    column = getattr(exc, "column_name", None)
    detail = getattr(exc, "detail", None)
    where = f" on table `{table}`" if table else ""
    if constraint:
        head = f"{cls.kind.capitalize()} constraint `{constraint}`{where} was violated"
    elif column:
        head = f"{cls.kind.capitalize()} constraint on column `{column}`{where} was violated"
    else:
        head = f"{cls.kind.capitalize()} constraint{where} was violated"
    message = f"{head}: {detail or getattr(exc, 'message', str(exc))}"
    return cls(message, constraint=constraint, table=table, detail=detail, model=model)
