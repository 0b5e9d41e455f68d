"""stellate.orm."""

from __future__ import annotations

from stellate.orm.compiler import CompiledQuery
from stellate.orm.constraints import CheckConstraint, Index, UniqueConstraint
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
from stellate.orm.exceptions import (
    CheckViolation,
    FieldError,
    ForeignKeyViolation,
    IntegrityError,
    MissingTableError,
    MultipleObjectsReturned,
    NotLoadedError,
    NotNullViolation,
    ObjectDoesNotExist,
    OrmError,
    QueryValueError,
    UniqueViolation,
    ValidationError,
)
from stellate.orm.expressions import (
    Avg,
    Coalesce,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
)
from stellate.orm.fields import (
    ArrayField,
    Field,
    GeneratedField,
    JSONField,
    OnDelete,
    OneToOneField,
)
from stellate.orm.files import FileField, ImageField, delete_uploaded_file, save_uploaded_file
from stellate.orm.many_to_many import ManyToManyField
from stellate.orm.mixins import (
    OwnershipMixin,
    SoftDeleteMixin,
    StaleObjectError,
    TimestampMixin,
    VersionedMixin,
)
from stellate.orm.models import Model
from stellate.orm.plugin import OrmPlugin
from stellate.orm.pool import DatabaseNotConnectedError, PoolTimeoutError
from stellate.orm.queryset import Prefetch, QuerySet
from stellate.orm.settings import OrmSettings
from stellate.orm.signals import post_delete, post_save, pre_delete, pre_save
from stellate.orm.transactions import (
    ConcurrentTransactionUseError,
    Transaction,
    TransactionClosedError,
)
from stellate.orm.vector import VectorField
from stellate.orm.views import ReadOnlyModelError

__all__ = [
    "ArrayField",
    "Avg",
    "CheckConstraint",
    "CheckViolation",
    "Coalesce",
    "CompiledQuery",
    "ConcurrentTransactionUseError",
    "Count",
    "Database",
    "DatabaseConnectionError",
    "DatabaseNotConfiguredError",
    "DatabaseNotConnectedError",
    "Exists",
    "F",
    "Field",
    "FieldError",
    "FileField",
    "ForeignKeyViolation",
    "GeneratedField",
    "ImageField",
    "Index",
    "IntegrityError",
    "JSONField",
    "ManyToManyField",
    "Max",
    "Min",
    "MissingTableError",
    "Model",
    "MultipleObjectsReturned",
    "NotLoadedError",
    "NotNullViolation",
    "ObjectDoesNotExist",
    "OnDelete",
    "OneToOneField",
    "OrmError",
    "OrmPlugin",
    "OrmSettings",
    "OuterRef",
    "OwnershipMixin",
    "PoolTimeoutError",
    "Prefetch",
    "Q",
    "QueryEvent",
    "QuerySet",
    "QueryValueError",
    "ReadOnlyModelError",
    "SoftDeleteMixin",
    "StaleObjectError",
    "Sum",
    "TimestampMixin",
    "Transaction",
    "TransactionClosedError",
    "UniqueConstraint",
    "UniqueViolation",
    "ValidationError",
    "Value",
    "VectorField",
    "VersionedMixin",
    "connect",
    "delete_uploaded_file",
    "get_db",
    "on_commit",
    "post_delete",
    "post_save",
    "pre_delete",
    "pre_save",
    "save_uploaded_file",
    "transaction",
]
