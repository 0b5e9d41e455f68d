"""``ModelAdmin``, ``TabularInline`` and ``action``: how one model appears in the admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stellate.admin import forms
from stellate.auth.permissions import permission_label
from stellate.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from stellate.admin.site import AdminSite
    from stellate.core import Request
    from stellate.core.storage import Storage
    from stellate.orm import Field, Model, QuerySet

__all__ = ["ActionFunction", "ModelAdmin", "TabularInline", "action"]

#: ``async def action(model_admin, request, queryset) -> str | None``: the returned text
#: becomes the flash message.
ActionFunction = Callable[["ModelAdmin", "Request", "QuerySet[Any]"], Awaitable[str | None]]
A = TypeVar("A", bound=Callable[..., Any])

#: Field names that are never rendered, whatever a ModelAdmin lists (hashes, secrets).
DEFAULT_SECRET_FIELDS = frozenset(
    {"password", "password_hash", "secret", "secret_hash", "key_hash", "token_hash", "api_key"}
)
_NOT_INLINE = frozenset({forms.Kind.BINARY, forms.Kind.FILE})
_NAME_CANDIDATES = ("name", "title", "username", "label", "codename", "email", "slug")


def action(*, description: str, permissions: Sequence[str] = ("change",)) -> Callable[[A], A]:
    """Mark an async function as a bulk action of the change list.

    Args:
        description: the label shown in the action menu and on the confirmation page.
        permissions: which of ``view``, ``add``, ``change``, ``delete`` the user needs.

    Example:
        ```python
        @action(description="Mark as out of print")
        async def mark_out_of_print(model_admin, request, queryset):
            changed = await queryset.update(in_print=False)
            return f"{changed} book(s) marked out of print"
        ```
    """

    def decorate(function: A) -> A:
        function.short_description = description  # type: ignore[attr-defined]
        function.allowed_permissions = tuple(permissions)  # type: ignore[attr-defined]
        return function

    return decorate


def describe_object(obj: Model) -> str:
    """A short human label for a row: its ``__str__`` if the model defines one, else its
    first name-like field, else ``Model #pk``."""
    cls = type(obj)
    if cls.__str__ is not object.__str__:
        return str(obj)
    data = obj.__dict__
    for name in _NAME_CANDIDATES:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return f"{cls.__name__} #{obj.pk}"


class TabularInline:
    """Rows of a model pointing at the edited one (a reverse foreign key), edited as a
    table under the parent's form.

    Attributes:
        model: the related model (``Review`` under ``Book``).
        fk_name: its foreign key to the parent (found when there is only one).
        fields: the columns edited (default: every editable field but the foreign key).
        readonly_fields: columns shown but not edited.
        extra: blank rows offered for new objects.
        max_rows: at most this many existing rows are shown (the newest by primary key).
        can_delete: whether rows carry a "delete" checkbox.
    """

    model: ClassVar[type[Model]]
    fk_name: ClassVar[str | None] = None
    fields: ClassVar[Sequence[str] | None] = None
    readonly_fields: ClassVar[Sequence[str]] = ()
    extra: ClassVar[int] = 1
    max_rows: ClassVar[int] = 50
    can_delete: ClassVar[bool] = True

    def __init__(self, parent: type[Model]) -> None:
        model = getattr(type(self), "model", None)
        if model is None:
            raise ImproperlyConfigured(
                f"`{type(self).__name__}` has no `model`: set `model = <the related model>`"
            )
        self.parent = parent
        self.fk = self._find_fk(model, parent)
        self.prefix = f"inline-{model.__name__.lower()}"
        secret = DEFAULT_SECRET_FIELDS
        names = list(self.fields) if self.fields is not None else None
        if names is None:
            names = [
                f.name
                for f in model._meta.field_list
                if f is not self.fk
                and not f.primary_key
                and f.name not in secret
                and forms.field_kind(f) not in _NOT_INLINE
            ]
        for name in names:
            if name in model._meta.fields and forms.field_kind(model._meta.fields[name]) in (
                _NOT_INLINE
            ):
                raise ImproperlyConfigured(
                    f"`{type(self).__name__}` lists `{name}`: inline rows cannot edit binary "
                    "or file fields; edit it on the model's own form (or make it read-only)"
                )
        for name in [*names, *self.readonly_fields]:
            if name not in model._meta.fields or name in secret:
                raise ImproperlyConfigured(
                    f"`{type(self).__name__}` lists `{name}`, which is not an editable field of "
                    f"`{model.__name__}`; choose from {_field_list(model)}"
                )
        self.field_names = [n for n in names if n not in self.readonly_fields]
        self.readonly = list(self.readonly_fields)

    @property
    def related(self) -> type[Model]:
        return type(self).model

    def _find_fk(self, model: type[Model], parent: type[Model]) -> Field:
        meta = model._meta
        if self.fk_name is not None:
            field = meta.fields.get(self.fk_name)
            if field is None or not field.is_relation or field.related_model is not parent:
                raise ImproperlyConfigured(
                    f"`{type(self).__name__}.fk_name = {self.fk_name!r}` is not a foreign key "
                    f"from `{model.__name__}` to `{parent.__name__}`"
                )
            return field
        candidates = [f for f in meta.relations.values() if f.related_model is parent]
        if len(candidates) != 1:
            found = ", ".join(f"`{f.name}`" for f in candidates) or "none"
            raise ImproperlyConfigured(
                f"`{type(self).__name__}`: `{model.__name__}` needs exactly one foreign key to "
                f"`{parent.__name__}` (found {found}); set `fk_name`"
            )
        return candidates[0]


class ModelAdmin:
    """How one model is listed, filtered, searched and edited in the admin.

    Every option has a default derived from the model, so ``site.register(Book)``
    alone gives a working change list and form.

    Attributes:
        list_display: columns of the change list (field names, foreign keys show the
            related row, or names of methods ``def column(self, obj) -> str``).
        list_filter: fields offered as filters (bool, enum, foreign key, date,
            datetime; any nullable field also gets "empty / not empty").
        search_fields: text fields searched with ``ILIKE`` (``author__name`` spans a
            foreign key).
        ordering: the default order (``"-created_at"``); the primary key breaks ties.
        list_per_page: rows per page of the change list.
        fields: fields of the change form, in order (default: every editable field).
        fieldsets: ``[("Title", {"fields": [...]}), ...]`` instead of ``fields``.
        readonly_fields: shown on the form but never written.
        secret_fields: never rendered anywhere (password hashes and the like are
            always hidden, see ``DEFAULT_SECRET_FIELDS``).
        inlines: ``TabularInline`` subclasses for reverse foreign keys.
        actions: bulk actions (functions decorated with :func:`action`).
        autocomplete_fields: foreign keys whose select is filled by the JSON search
            endpoint instead of listing the related table.
        storage: where uploads of ``FileField``/``ImageField`` go (default: the site's
            ``storage``).
        choices_limit: at most this many rows are offered by a foreign-key select or
            filter (searchable ones fetch more through the autocomplete endpoint).
        change_list_template, change_form_template, delete_template: template names
            that win over ``admin/<app>/<model>/<page>.html`` and the default.
    """

    list_display: ClassVar[Sequence[str] | None] = None
    list_filter: ClassVar[Sequence[str]] = ()
    search_fields: ClassVar[Sequence[str]] = ()
    ordering: ClassVar[Sequence[str]] = ()
    list_per_page: ClassVar[int] = 50
    fields: ClassVar[Sequence[str] | None] = None
    fieldsets: ClassVar[Sequence[tuple[str | None, dict[str, Sequence[str]]]] | None] = None
    readonly_fields: ClassVar[Sequence[str]] = ()
    secret_fields: ClassVar[Sequence[str]] = ()
    inlines: ClassVar[Sequence[type[TabularInline]]] = ()
    actions: ClassVar[Sequence[ActionFunction]] = ()
    autocomplete_fields: ClassVar[Sequence[str]] = ()
    choices_limit: ClassVar[int] = 200
    storage: ClassVar[Storage | None] = None
    change_list_template: ClassVar[str | None] = None
    change_form_template: ClassVar[str | None] = None
    delete_template: ClassVar[str | None] = None

    def __init__(self, model: type[Model], site: AdminSite) -> None:
        meta = model._meta
        self.model = model
        self.site = site
        # The label of the model's RBAC codenames (``bookstore`` for ``bookstore.change_book``).
        self.app_label = permission_label(model)
        self.model_name = model.__name__.lower()
        self.verbose_name = _words(model.__name__)
        self.secret = DEFAULT_SECRET_FIELDS | set(self.secret_fields)
        self.pk_name = meta.pk.name
        where = f"`{type(self).__name__}` (admin of `{model.__name__}`)"

        display = list(self.list_display) if self.list_display is not None else None
        if display is None:
            display = [
                f.name
                for f in meta.field_list
                if f.name not in self.secret and forms.field_kind(f) not in forms.LONG_KINDS
            ][:6]
        for name in display:
            if name in self.secret:
                raise ImproperlyConfigured(f"{where}: `{name}` is secret and cannot be listed")
            if name not in meta.fields and not callable(getattr(self, name, None)):
                raise ImproperlyConfigured(
                    f"{where}: list_display names `{name}`, which is neither a field of "
                    f"`{model.__name__}` nor a method of the admin; choose from "
                    f"{_field_list(model)}"
                )
        self.display = display
        self.related_columns = tuple(
            meta.fields[n].relation_name
            for n in display
            if n in meta.fields and meta.fields[n].is_relation
        )
        for name in self.list_filter:
            field = self._field(name, "list_filter", where)
            if forms.filter_kind(field) is None and not field.nullable:
                raise ImproperlyConfigured(
                    f"{where}: cannot filter on `{name}` ({forms.field_kind(field)}); filters "
                    "take bool, enum, foreign key, date, datetime or nullable fields"
                )
        for name in self.search_fields:
            head = name.split("__", 1)[0]
            if head not in meta.fields and head not in meta.relations:
                raise ImproperlyConfigured(
                    f"{where}: search_fields names `{name}`; choose from {_field_list(model)}"
                )
        for item in self.ordering:
            self._field(item.lstrip("-"), "ordering", where)
        if self.list_per_page < 1:
            raise ImproperlyConfigured(f"{where}: list_per_page must be at least 1")

        if self.fieldsets is not None and self.fields is not None:
            raise ImproperlyConfigured(f"{where}: set `fields` or `fieldsets`, not both")
        if self.fieldsets is not None:
            sets = [(title, list(opts.get("fields", ()))) for title, opts in self.fieldsets]
        else:
            names = list(self.fields) if self.fields is not None else self._default_form_fields()
            sets = [(None, names)]
        for _, names in sets:
            for name in names:
                if name in self.secret:
                    raise ImproperlyConfigured(f"{where}: `{name}` is secret and cannot be edited")
                if name not in meta.fields and name not in meta.many_to_many:
                    raise ImproperlyConfigured(
                        f"{where}: the form names `{name}`; choose from {_field_list(model)}"
                    )
        self.form_sets: list[tuple[str | None, list[str]]] = sets
        for name in self.readonly_fields:
            if name not in meta.fields and name not in meta.many_to_many:
                raise ImproperlyConfigured(
                    f"{where}: readonly_fields names `{name}`; choose from {_field_list(model)}"
                )
        for name in self.autocomplete_fields:
            field = self._field(name, "autocomplete_fields", where)
            if not field.is_relation:
                raise ImproperlyConfigured(
                    f"{where}: autocomplete_fields names `{name}`, which is not a foreign key"
                )
        self.file_fields = [
            name
            for _, names in sets
            for name in names
            if name in meta.fields and forms.field_kind(meta.fields[name]) == forms.Kind.FILE
        ]
        self.file_storage = self.storage or site.storage
        if self.file_fields and self.file_storage is None:
            raise ImproperlyConfigured(
                f"{where}: the form has file fields "
                + ", ".join(f"`{n}`" for n in self.file_fields)
                + " but no storage: pass `AdminSite(storage=...)` (`app.admin.storage = "
                "FileSystemStorage(...)` before registering) or set `storage` on the admin"
            )
        self.inline_admins = [inline(model) for inline in self.inlines]
        self.action_map: dict[str, ActionFunction] = {}
        for function in self.actions:
            if not hasattr(function, "short_description"):
                raise ImproperlyConfigured(
                    f"{where}: action `{getattr(function, '__name__', function)}` needs the "
                    "`@action(description=...)` decorator"
                )
            self.action_map[function.__name__] = function

    def _field(self, name: str, option: str, where: str) -> Field:
        field = self.model._meta.fields.get(name)
        if field is None:
            raise ImproperlyConfigured(
                f"{where}: {option} names `{name}`, which is not a field of "
                f"`{self.model.__name__}`; choose from {_field_list(self.model)}"
            )
        return field

    def _default_form_fields(self) -> list[str]:
        meta = self.model._meta
        names = [
            f.name
            for f in meta.field_list
            if not (f.primary_key and f.auto)
            and f.name not in self.secret
            and forms.field_kind(f) != forms.Kind.BINARY
        ]
        names.extend(name for name in meta.many_to_many)
        return names

    # -- hooks users override ------------------------------------------------------------

    def object_label(self, obj: Model) -> str:
        """The text that names ``obj`` in titles, links, selects and the admin log."""
        return describe_object(obj)

    def get_queryset(self, request: Request) -> QuerySet[Any]:
        """The rows this admin shows (override to hide soft-deleted rows, say)."""
        return self.model.objects.all()

    async def save_model(self, request: Request, obj: Model, *, creating: bool) -> None:
        """Write ``obj`` (override to set audit fields, for instance)."""
        await obj.save()

    async def delete_model(self, request: Request, obj: Model) -> None:
        """Delete ``obj``."""
        await obj.delete()

    # -- helpers used by the views -----------------------------------------------------

    def permission(self, verb: str) -> str:
        """The RBAC codename for ``verb`` on this model (``bookstore.change_book``)."""
        return f"{self.app_label}.{verb}_{self.model_name}"

    @property
    def url(self) -> str:
        return f"{self.site.prefix}/{self.app_label}/{self.model_name}/"

    def object_url(self, pk: Any, page: str = "change") -> str:
        return f"{self.url}{pk}/{page}/"

    def column_label(self, name: str) -> str:
        method = getattr(self, name, None)
        if name not in self.model._meta.fields and callable(method):
            return str(getattr(method, "short_description", _words(name)))
        field = self.model._meta.fields[name]
        return _words(field.relation_name if field.is_relation else name)


def _words(name: str) -> str:
    spaced = "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(name))
    return spaced.replace("_", " ").strip().capitalize()


def label_of(name: str) -> str:
    """``publisher_id`` -> ``Publisher``, ``created_at`` -> ``Created at``."""
    return _words(name[:-3] if name.endswith("_id") and len(name) > 3 else name)


def _field_list(model: type[Model]) -> str:
    names = [n for n in model._meta.fields if n not in DEFAULT_SECRET_FIELDS]
    return ", ".join(f"`{n}`" for n in names)
