"""``Model``: declarative classes mapped to PostgreSQL tables."""

from __future__ import annotations

import sys
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stellate.orm import exceptions
from stellate.orm._relations import ForwardRelation, LoadedKey, ReverseRelation
from stellate.orm.exceptions import (
    FieldError,
    ValidationError,
    unknown_name_error,
)
from stellate.orm.expressions import Q
from stellate.orm.fields import MISSING, Field

if TYPE_CHECKING:
    from typing import Self

    from stellate.orm.constraints import CheckConstraint, Index, UniqueConstraint
    from stellate.orm.many_to_many import ManyToManyField
    from stellate.orm.queryset import QuerySet

__all__ = ["Model", "Options", "resolve_model_name"]

M = TypeVar("M", bound="Model")

_META_OPTIONS = frozenset(
    {
        "table",
        "abstract",
        "proxy",
        "unlogged",
        "database",
        "indexes",
        "constraints",
        "cache_ttl",
        "renamed_from",
        "default_filter",
        "sti",
        "sti_type",
        "sti_field",
        "materialized_view",
    }
)


def quote_name(name: str) -> str:
    """Quote an SQL identifier (``public.books`` becomes ``"public"."books"``)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class Options:
    """Metadata of one model class, reachable as ``Model._meta``."""

    def __init__(self, model: type[Model], meta: type | None, parent: Options | None) -> None:
        values: dict[str, Any] = {}
        if meta is not None:
            for key, value in vars(meta).items():
                if key.startswith("__"):
                    continue
                if key not in _META_OPTIONS:
                    raise unknown_name_error(
                        "Meta option",
                        key,
                        model.__name__,
                        _META_OPTIONS,
                        hint="Remove it or fix its spelling",
                    )
                values[key] = value
        self.model = model
        self.abstract: bool = bool(values.get("abstract", False))
        self.proxy: bool = bool(values.get("proxy", False))
        concrete_parent = parent if parent is not None and not parent.abstract else None
        self._init_sti(model, values, parent, concrete_parent)
        shares_table = self.proxy or self.sti_parent is not None
        if shares_table and concrete_parent is None:
            kind = "a proxy" if self.proxy else "a single-table-inheritance child"
            raise TypeError(
                f"`{model.__name__}` is {kind} but has no concrete model to share a table "
                f"with: subclass a model that has `Meta.table` (not an abstract one)"
            )
        inherited_table = concrete_parent.table if shares_table and concrete_parent else None
        # The Options of the model that owns the table (itself, or the proxied / STI root).
        self.table_owner: Options = (
            concrete_parent.table_owner if shares_table and concrete_parent else self
        )
        # Whether a `cache_ttl` model reads this table, so writes must invalidate (cache.py).
        self.cache_watched = False
        self.table: str = values.get("table") or inherited_table or ""
        if concrete_parent is not None and inherited_table and self.table != inherited_table:
            raise TypeError(
                f"`{model.__name__}` shares the table `{inherited_table}` of "
                f"`{concrete_parent.model.__name__}` (proxy / STI) but says "
                f'`table = "{self.table}"`: remove `Meta.table` or make it match'
            )
        if not self.table and not self.abstract:
            raise TypeError(
                f"Model `{model.__name__}` has no table: add `class Meta: table = "
                f'"{model.__name__.lower()}s"` (or `abstract = True` for a base class)'
            )
        self.unlogged: bool = bool(values.get("unlogged", False))
        default_db = parent.database if parent is not None else "default"
        self.database: str = values.get("database") or default_db
        self.indexes: list[Index] = list(values.get("indexes", ()))
        self.constraints: list[UniqueConstraint | CheckConstraint] = list(
            values.get("constraints", ())
        )
        self.cache_ttl: int | None = _cache_ttl(model, values, parent)
        self.renamed_from: str | None = values.get("renamed_from")
        view = values.get("materialized_view")
        if view is None and self.proxy and concrete_parent is not None:
            view = concrete_parent.materialized_view
        if view is not None and (not isinstance(view, str) or not view.strip()):
            raise TypeError(
                f"`{model.__name__}.Meta.materialized_view` must be the SELECT that fills "
                f"the view, as a non-empty string; got `{view!r}`"
            )
        self.materialized_view: str | None = view
        # Conditions every `Model.objects` queryset starts with: inherited ones, this
        # model's `Meta.default_filter` and, for an STI child, its discriminator.
        where: tuple[Q, ...] = parent.default_where if parent is not None else ()
        if "default_filter" in values:
            where = (*where, _as_q(model, values["default_filter"]))
        if self.sti_type is not None:
            where = (*where, Q(**{self.sti_field: self.sti_type}))
        self.default_where: tuple[Q, ...] = where
        self.fields: dict[str, Field] = {}
        self.field_list: list[Field] = []
        self.pk: Field = None  # type: ignore[assignment]  # set once fields are known
        self.relations: dict[str, Field] = {}
        self.reverse_relations: dict[str, tuple[type[Model], Field]] = {}
        self.many_to_many: dict[str, ManyToManyField] = {}
        self.qtable = quote_name(self.table) if self.table else ""
        # Compiled SQL per queryset shape (see compiler.py); bounded there.
        self.sql_cache: dict[Any, Any] = {}
        # Cached query results of `Meta.cache_ttl` models (see cache.py); bounded there.
        self.result_cache: dict[Any, Any] = {}
        # The columns a query selects (set by finish(); an STI root adds its children's)
        # and, per STI class, the columns of other children to drop from its rows.
        self.select_fields: list[Field] = []
        self.sti_foreign: dict[type[Model], tuple[str, ...]] = {}
        self.ready = False

    def _init_sti(
        self,
        model: type[Model],
        values: dict[str, Any],
        parent: Options | None,
        concrete_parent: Options | None,
    ) -> None:
        inherited_field = parent.sti_field if parent is not None else "type"
        self.sti_field: str = values.get("sti_field") or inherited_field
        # On an STI root: discriminator value -> class, and the columns its children add.
        self.sti_classes: dict[Any, type[Model]] = {}
        self.sti_child_fields: dict[str, Field] = {}
        self.sti_parent: Options | None = None
        self.sti_type: str | None = None
        sti_type = values.get("sti_type")
        if not values.get("sti") and sti_type is None:
            return
        if self.proxy:
            raise TypeError(
                f"`{model.__name__}` is both a proxy and an STI child: choose `proxy = True` "
                "(same rows, other behaviour) or `sti_type` (its own rows in the shared table)"
            )
        if concrete_parent is None:
            if sti_type is not None:
                raise TypeError(
                    f"`{model.__name__}.Meta.sti_type` needs a concrete base model whose table "
                    "it shares; subclass the STI root (a model with `Meta.table`)"
                )
            return  # `sti = True` on the root itself: its children register below
        if not isinstance(sti_type, str) or not sti_type:
            raise TypeError(
                f"`{model.__name__}` is an STI child of `{concrete_parent.model.__name__}` "
                f'but has no discriminator value: add `sti_type = "{model.__name__.lower()}"` '
                "to its Meta"
            )
        if concrete_parent.sti_parent is not None:
            raise TypeError(
                f"`{model.__name__}` subclasses the STI child "
                f"`{concrete_parent.model.__name__}`: single-table inheritance is one level "
                f"deep; subclass the root `{concrete_parent.sti_parent.model.__name__}`"
            )
        self.sti_parent = concrete_parent
        self.sti_type = sti_type

    def register_sti_child(self, child: type[Model]) -> None:
        """Record an STI child of this root: its discriminator value and extra columns."""
        child_meta = child._meta
        sti_type = child_meta.sti_type
        field = self.fields.get(self.sti_field)
        if field is None:
            raise TypeError(
                f"STI root `{self.model.__name__}` has no discriminator field "
                f"`{self.sti_field}` for `{child.__name__}`: add "
                f'`{self.sti_field}: str = Field(default="{self.model.__name__.lower()}")` '
                "to it (or name another field with `Meta.sti_field`)"
            )
        if sti_type == field.default:
            raise TypeError(
                f'`{child.__name__}.Meta.sti_type = "{sti_type}"` is the default of '
                f"`{self.model.__name__}.{self.sti_field}`, which marks rows of the root "
                "itself: choose another value"
            )
        existing = self.sti_classes.get(sti_type)
        if existing is not None and existing.__qualname__ != child.__qualname__:
            raise TypeError(
                f"`{child.__name__}` and `{existing.__name__}` both say "
                f'`sti_type = "{sti_type}"`: give each STI child its own value'
            )
        added: dict[str, Field] = {}
        for name, child_field in child_meta.fields.items():
            if name in self.fields:
                continue
            other = self.sti_child_fields.get(name)
            if (
                other is not None
                and other.model.__qualname__ != child.__qualname__
                and other.db_type() != child_field.db_type()
            ):
                raise TypeError(
                    f"STI children `{other.model.__name__}` and `{child.__name__}` both add "
                    f"a column `{name}` to `{self.table}` with different types "
                    f"(`{other.db_type()}`, `{child_field.db_type()}`): rename one"
                )
            added[name] = child_field
        # Checked first, recorded after: a child that fails leaves the root unchanged.
        self.sti_child_fields.update(added)
        self.sti_classes[sti_type] = child
        if isinstance(field.default, str):
            self.sti_classes.setdefault(field.default, self.model)
        self.select_fields = [*self.field_list, *self.sti_child_fields.values()]
        self.sti_foreign = {}
        # Plans compiled before this child existed select too few columns.
        self.sql_cache = {}

    def foreign_sti_columns(self, cls: type[Model]) -> tuple[str, ...]:
        """Columns a root query loads that ``cls`` (root or child) does not have."""
        names = self.sti_foreign.get(cls)
        if names is None:
            own = cls._meta.fields
            names = self.sti_foreign[cls] = tuple(n for n in self.sti_child_fields if n not in own)
        return names

    def column_nullable(self, field: Field) -> bool:
        """Whether the column of ``field`` allows NULL (STI child columns always do)."""
        return field.nullable or field.name in self.sti_child_fields

    @property
    def table_fields(self) -> list[Field]:
        """The fields whose columns the table has: this model's and its STI children's."""
        return [*self.field_list, *self.sti_child_fields.values()]

    @property
    def owns_table(self) -> bool:
        """Whether migrations create a table or view for this model (not abstract/shared)."""
        return not (self.abstract or self.proxy or self.sti_parent is not None)

    def add_field(self, field: Field) -> None:
        self.fields[field.name] = field
        self.field_list = list(self.fields.values())
        if field.primary_key:
            self.pk = field
        if field.foreign_key is not None:
            self.relations[field.relation_name] = field

    def finish(self) -> None:
        # The columns a query of this model selects; an STI root adds its children's.
        self.select_fields = self.field_list
        self.sti_foreign = {}
        self.field_names: tuple[str, ...] = tuple(self.fields)
        self.columns_sql = ", ".join(quote_name(f.column) for f in self.field_list)
        self.from_db_converters: tuple[tuple[str, Any], ...] = tuple(
            (f.name, f.from_db_value) for f in self.field_list if f.needs_from_db
        )

    def get_field(self, name: str) -> Field:
        """The field called ``name``, or a ``FieldError`` listing the valid names."""
        try:
            return self.fields[name]
        except KeyError:
            raise unknown_name_error("field", name, self.model.__name__, self.fields) from None

    @property
    def concrete(self) -> bool:
        return not self.abstract


class _QuerySetDescriptor:
    """``Model.objects``: a new QuerySet of the model it is read from."""

    __slots__ = ("_queryset_class",)

    def __init__(self) -> None:
        self._queryset_class: type[QuerySet[Any]] | None = None

    def __get__(self, instance: object, owner: type[M]) -> QuerySet[M]:
        if instance is not None:
            raise AttributeError(
                f"`objects` is reached through the class: `{owner.__name__}.objects`"
            )
        # queryset.py imports this module, so the class is looked up on first use; it is
        # kept here because every query starts with `Model.objects` (a hot path).
        queryset_class = self._queryset_class
        if queryset_class is None:
            from stellate.orm.queryset import QuerySet

            queryset_class = self._queryset_class = QuerySet
        qs = queryset_class(owner)
        where = owner._meta.default_where
        if where:
            qs._query.where = where
        return qs


def _model_classes(root: type[Model]) -> Iterator[type[Model]]:
    stack = list(root.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # Classes whose definition raised still appear as subclasses: skip them.
        meta = vars(cls).get("_meta")
        if isinstance(meta, Options) and meta.ready:
            yield cls


def resolve_model_name(name: str, origin: type[Model]) -> type[Model]:
    """Find the concrete model class called ``name`` (for forward-reference foreign keys)."""
    candidates = [
        cls
        for cls in _model_classes(Model)
        if (cls.__name__ == name or f"{cls.__module__}.{cls.__name__}" == name)
        and not cls._meta.abstract
        and not cls._meta.proxy
    ]
    if len(candidates) > 1:
        same_module = [c for c in candidates if c.__module__ == origin.__module__]
        if len(same_module) == 1:
            return same_module[0]
        scope = origin.__qualname__.rsplit(".", 1)[0] if "." in origin.__qualname__ else ""
        same_scope = [
            c
            for c in same_module
            if (c.__qualname__.rsplit(".", 1)[0] if "." in c.__qualname__ else "") == scope
        ]
        if len(same_scope) == 1:
            return same_scope[0]
        where = ", ".join(f"`{c.__module__}.{c.__name__}`" for c in candidates)
        raise FieldError(
            f"Foreign key on `{origin.__name__}` refers to `{name}`, which names several "
            f"models ({where}); pass the model class instead of a string"
        )
    if not candidates:
        raise FieldError(
            f"Foreign key on `{origin.__name__}` refers to model `{name}`, which is not "
            f"defined (yet); define a model class named `{name}` or pass the class itself"
        )
    return candidates[0]


def _cache_ttl(model: type[Model], values: dict[str, Any], parent: Options | None) -> int | None:
    if "cache_ttl" not in values:
        return parent.cache_ttl if parent is not None else None
    ttl = values["cache_ttl"]
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        raise TypeError(
            f"`{model.__name__}.Meta.cache_ttl` must be a positive number of seconds or None, "
            f"got `{ttl!r}`"
        )
    return ttl


def _as_q(model: type[Model], value: Any) -> Q:
    if isinstance(value, Q):
        return value
    if isinstance(value, typing.Mapping) and value:
        return Q(**value)
    raise TypeError(
        f"`{model.__name__}.Meta.default_filter` must be a Q or a mapping of lookups such as "
        f"`{{'published': True}}`, got `{value!r}`"
    )


def _evaluate(annotation: Any, globalns: dict[str, Any], localns: dict[str, Any]) -> Any:
    if isinstance(annotation, str):
        return eval(annotation, globalns, localns)  # noqa: S307 - annotations are code
    return annotation


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


class ModelMeta(type):
    """Builds ``_meta``, binds fields, installs relations and per-model exceptions."""

    _meta: Options

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> ModelMeta:
        if not any(isinstance(base, ModelMeta) for base in bases):
            return super().__new__(mcs, name, bases, namespace, **kwargs)
        meta = namespace.pop("Meta", None)
        annotations: dict[str, Any] = dict(namespace.get("__annotations__", {}))
        declared: dict[str, Field] = {}
        for attr, annotation in annotations.items():
            if attr.startswith("_") or _is_classvar(annotation):
                continue
            value = namespace.get(attr, MISSING)
            if isinstance(value, Field):
                declared[attr] = value
            else:
                declared[attr] = Field(default=value)
                namespace.pop(attr, None)
        for attr, value in list(namespace.items()):
            if isinstance(value, Field) and attr not in declared:
                raise TypeError(
                    f"`{name}.{attr}` is a Field without a type annotation; write "
                    f"`{attr}: <type> = ...`"
                )
        cls = typing.cast("type[Model]", super().__new__(mcs, name, bases, namespace, **kwargs))
        parent = next(
            (b._meta for b in cls.__mro__[1:] if isinstance(b, ModelMeta) and "_meta" in vars(b)),
            None,
        )
        options = Options(cls, meta, parent)
        cls._meta = options

        # Fields of bases first, in MRO order (furthest base first), then this class's own.
        frame = sys._getframe(1)
        localns_base = {k: v for k, v in namespace.items() if not isinstance(v, Field)}
        localns = {**localns_base, **frame.f_locals, name: cls}
        globalns = sys.modules[cls.__module__].__dict__ if cls.__module__ in sys.modules else {}
        for base in reversed(cls.__mro__[1:]):
            base_meta = vars(base).get("_meta")
            if isinstance(base_meta, Options):
                for field in base_meta.field_list:
                    if field.name in declared:
                        continue
                    clone = field.copy()
                    clone.contribute(cls, field.name, field.annotation)
                    clone.annotation = field.annotation
                    options.add_field(clone)
                    setattr(cls, field.name, clone)
        for attr, field in declared.items():
            if attr in {"pk", "objects"} or "__" in attr:
                raise TypeError(
                    f"`{name}.{attr}`: field names may not be `pk`, `objects` or contain `__`"
                )
            try:
                annotation = _evaluate(annotations[attr], globalns, localns)
            except Exception as exc:
                raise TypeError(
                    f"Cannot evaluate the annotation `{annotations[attr]}` of `{name}.{attr}`: "
                    f"{exc}; import the type at module level"
                ) from None
            field.annotation = annotation
            field.contribute(cls, attr, annotation)
            options.add_field(field)
            setattr(cls, attr, field)
        if options.proxy and declared:
            raise TypeError(
                f"Proxy model `{name}` declares fields ({', '.join(sorted(declared))}), but a "
                "proxy shares its base's table and columns: move them to the base model, or "
                "use an STI child (`Meta.sti_type`) for rows with extra columns"
            )
        if not options.abstract and options.pk is None:
            raise TypeError(
                f"Model `{name}` has no primary key: add "
                "`id: int = Field(primary_key=True, auto=True)`"
            )
        options.finish()

        parent_cls = parent.model if parent is not None and not parent.abstract else None
        dne_base = parent_cls.DoesNotExist if parent_cls else exceptions.ObjectDoesNotExist
        mor_base = (
            parent_cls.MultipleObjectsReturned if parent_cls else exceptions.MultipleObjectsReturned
        )
        cls.DoesNotExist = type("DoesNotExist", (dne_base,), {"__module__": cls.__module__})
        cls.MultipleObjectsReturned = type(
            "MultipleObjectsReturned", (mor_base,), {"__module__": cls.__module__}
        )
        cls.DoesNotExist.__qualname__ = f"{name}.DoesNotExist"
        cls.MultipleObjectsReturned.__qualname__ = f"{name}.MultipleObjectsReturned"

        for field in options.relations.values():
            if field.relation_name != field.name and field.relation_name not in namespace:
                setattr(cls, field.relation_name, ForwardRelation(field))
        from stellate.orm.many_to_many import ManyToManyField

        for attr, value in namespace.items():
            if isinstance(value, ManyToManyField):
                value.contribute(cls, attr)
                options.many_to_many[attr] = value
        if options.cache_ttl is not None and not options.abstract:
            owner = options.table_owner
            owner.cache_watched = True
            owner.sql_cache = {}  # cached write SQL must now move the generation
        if options.sti_parent is not None:
            options.sti_parent.register_sti_child(cls)
            # New instances of the child carry its discriminator from construction on.
            options.fields[options.sti_field].default = options.sti_type
        options.ready = True
        if not options.abstract:
            _link_relations(cls)
        return cls


def _install_reverse(field: Field) -> None:
    meta = field.model._meta
    if field.related_name is None or meta.abstract or meta.proxy:
        return  # a proxy shares its concrete model's table and reverse relations
    if meta.sti_parent is not None and field.name in meta.sti_parent.fields:
        return  # an STI child's inherited key: the root's reverse relation covers it
    target = field.related_model
    existing = target._meta.reverse_relations.get(field.related_name)
    if existing is not None and existing[1] is not field:
        if existing[0].__name__ == field.model.__name__:
            pass  # the same model defined again (tests, reloads): the newer one wins
        elif existing[1].model not in field.model.__mro__:
            raise TypeError(
                f"Reverse relation `{target.__name__}.{field.related_name}` is declared by "
                f"both `{existing[0].__name__}.{existing[1].name}` and "
                f"`{field.model.__name__}.{field.name}`; give one a different related_name"
            )
    target._meta.reverse_relations[field.related_name] = (field.model, field)
    setattr(target, field.related_name, ReverseRelation(field))


def _link_relations(cls: type[Model]) -> None:
    # Resolve this model's foreign keys that can be resolved now, then the forward
    # references elsewhere that were waiting for this class's name.
    for field in cls._meta.relations.values():
        if isinstance(field.foreign_key, str):
            try:
                field.related_model  # noqa: B018 - resolves and caches
            except FieldError:
                continue
        _install_reverse(field)
    for other in _model_classes(Model):
        if other is cls or other._meta.abstract:
            continue
        for field in other._meta.relations.values():
            if (
                isinstance(field.foreign_key, str)
                and field._related_model is None
                and field.foreign_key.rsplit(".", 1)[-1] == cls.__name__
            ):
                try:
                    field.related_model  # noqa: B018
                except FieldError:
                    continue
                _install_reverse(field)


class Model(metaclass=ModelMeta):
    """Base class of database models.

    Example:
        ```python
        class Book(Model):
            class Meta:
                table = "books"

            id: int = Field(primary_key=True, auto=True)
            title: str = Field(min_length=1)
            author_id: int = Field(foreign_key=Author, related_name="books")
        ```
    """

    _meta: ClassVar[Options]
    objects: ClassVar[_QuerySetDescriptor] = _QuerySetDescriptor()
    DoesNotExist: ClassVar[type[exceptions.ObjectDoesNotExist]]
    MultipleObjectsReturned: ClassVar[type[exceptions.MultipleObjectsReturned]]
    _adding: ClassVar[bool] = False
    _version_field: ClassVar[str | None] = None
    """The optimistic-locking counter column (set by ``VersionedMixin``)."""

    def __init__(self, **values: Any) -> None:
        meta = self._meta
        if meta.abstract:
            raise TypeError(f"`{type(self).__name__}` is abstract and cannot be instantiated")
        data = self.__dict__
        errors: dict[str, list[str]] | None = None
        fields = meta.fields
        if not values.keys() <= fields.keys():
            if "pk" in values and "pk" not in fields:
                values[meta.pk.name] = values.pop("pk")
            for key in values:
                if key not in fields and key not in meta.relations:
                    raise unknown_name_error("field", key, type(self).__name__, fields)
            for name, relation in meta.relations.items():
                if name in values and name != relation.name:
                    related = values[name]
                    data[name] = related
                    values.setdefault(relation.name, related.pk if related is not None else None)
        for field in meta.field_list:
            name = field.name
            if name in values:
                value = values[name]
                if type(value) not in field._fast_types:
                    if isinstance(value, Model):
                        data[field.relation_name] = value
                        value = value.pk
                    value, problems = field.clean(value)
                    if problems:
                        if errors is None:
                            errors = {}
                        errors[name] = problems
                data[name] = value
            elif field.has_default:
                data[name] = field.get_default()
            elif field.auto or field.nullable:
                data[name] = None
        if errors:
            raise ValidationError(errors, type(self).__name__)
        data["_adding"] = True

    # -- identity --------------------------------------------------------------------------

    @property
    def pk(self) -> Any:
        """The primary key value."""
        return self.__dict__.get(self._meta.pk.name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model) or other._meta.table != self._meta.table:
            return NotImplemented
        pk = self.pk
        return pk is not None and pk == other.pk if pk is not None else self is other

    def __hash__(self) -> int:
        pk = self.pk
        if pk is None:
            raise TypeError(f"Unsaved `{type(self).__name__}` instances are unhashable")
        return hash((self._meta.table, pk))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._meta.pk.name}={self.pk!r}>"

    # -- validation and serialisation ------------------------------------------------------

    def full_clean(self, fields: typing.Iterable[str] | None = None) -> None:
        """Validate every (or the named) field and raise one ``ValidationError`` listing all.

        Raises:
            ValidationError: With every failing field and its problems.
        """
        meta = self._meta
        data = self.__dict__
        errors: dict[str, list[str]] = {}
        selected = meta.field_list if fields is None else [meta.get_field(f) for f in fields]
        for field in selected:
            name = field.name
            if name not in data:
                if field.required and fields is None:
                    errors[name] = ["is required"]
                continue
            current = data[name]
            if type(current) in field._fast_types:
                continue
            value, problems = field.clean(current)
            if problems:
                errors[field.name] = problems
            else:
                data[field.name] = value
        if errors:
            raise ValidationError(errors, type(self).__name__)

    def to_dict(self) -> dict[str, Any]:
        """The loaded field values by name (deferred fields are left out)."""
        data = self.__dict__
        out: dict[str, Any] = {}
        for name in self._meta.field_names:
            if name in data:
                value = data[name]
                out[name] = value.raw if isinstance(value, LoadedKey) else value
        return out

    def __json__(self) -> dict[str, Any]:
        """What the core JSON encoder emits for this instance (``to_dict()``)."""
        return self.to_dict()

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def get_queryset(cls) -> QuerySet[Self]:
        """The queryset this model's queries start from (``cls.objects``).

        Override it on a model (a proxy, typically) to give it other default
        filtering or ordering; ``Meta.default_filter`` does the same declaratively
        for ``objects`` itself.
        """
        return typing.cast("QuerySet[Self]", cls.objects)

    def _prepare_save(self, creating: bool, update_fields: list[str] | None) -> list[str] | None:
        """Hook for mixins: adjust the instance before ``save()`` validates and writes it.

        Called by ``save()`` and ``get_or_create()`` before ``pre_save`` is sent.
        Overrides call ``super()._prepare_save(...)`` and return the (possibly
        extended) ``update_fields``. Here: an STI child writes its discriminator.
        """
        meta = self._meta
        if meta.sti_type is not None:
            self.__dict__[meta.sti_field] = meta.sti_type
        return update_fields

    @classmethod
    def _prepare_update(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Hook for mixins: adjust the values of ``QuerySet.update(**values)``."""
        return values

    async def save(self, update_fields: typing.Iterable[str] | None = None) -> None:
        """INSERT a new instance or UPDATE a loaded one, after validating it.

        Args:
            update_fields: Only write these fields (UPDATE only).

        Raises:
            ValidationError: Before any SQL, listing every invalid field.
            IntegrityError: A database constraint rejected the row (typed subclass).
        """
        from stellate.orm import _persist

        await _persist.save(self, None if update_fields is None else list(update_fields))

    @classmethod
    async def refresh(cls, *, concurrently: bool = False) -> None:
        """Recompute a materialized view (``Meta.materialized_view``).

        Args:
            concurrently: Rebuild without blocking readers (``REFRESH ...
                CONCURRENTLY``; uses the unique index migrations create on the key).

        Raises:
            TypeError: The model is a table, not a materialized view.
            OrmError: PostgreSQL refused the concurrent refresh (the message says why).
        """
        from stellate.orm import views

        await views.refresh(cls, concurrently=concurrently)

    async def delete(self) -> None:
        """DELETE this row by primary key."""
        from stellate.orm import _persist

        await _persist.delete(self)

    async def refresh_from_db(self, fields: typing.Iterable[str] | None = None) -> None:
        """Reload field values from the database.

        Raises:
            DoesNotExist: The row is gone.
        """
        from stellate.orm import _persist

        await _persist.refresh(self, None if fields is None else list(fields))

    async def fetch(self, name: str) -> Any:
        """Load a deferred field or a relation explicitly and return it.

        ``await book.fetch("content")``, ``await book.fetch("author")``,
        ``await author.fetch("books")``.
        """
        from stellate.orm import _persist

        return await _persist.fetch(self, name)

    @classmethod
    def from_row(cls, row: typing.Mapping[str, Any]) -> Self:
        """Build a loaded instance from a mapping of column values (no validation)."""
        obj = cls.__new__(cls)
        data = obj.__dict__
        for name in cls._meta.field_names:
            if name in row:
                data[name] = row[name]
        for name, convert in cls._meta.from_db_converters:
            if name in data:
                data[name] = convert(data[name])
        return obj
