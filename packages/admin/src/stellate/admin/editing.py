"""The change form: inputs built from a model admin, and the posted form parsed back.

Parsing never raises for bad input: every problem is collected per field (and per
inline row) so the page can show them all next to their inputs, with the text the
user typed kept in each input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile

from stellate.admin import forms
from stellate.admin.changelist import display_value
from stellate.admin.forms import BoundField, InputError, Kind
from stellate.admin.options import label_of
from stellate.core.storage import check_name
from stellate.orm import FileField, IntegrityError, ValidationError, get_db, save_uploaded_file

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from stellate.admin.options import ModelAdmin, TabularInline
    from stellate.admin.site import AdminSite
    from stellate.core.storage import Storage
    from stellate.orm import Database, Field, ManyToManyField, Model

__all__ = ["FormResult", "InlineForm", "build_form", "parse_form"]

_AUTOCOMPLETE_PRESET = 20
_NULL_BOOLEAN = [("unknown", "Unknown"), ("true", "Yes"), ("false", "No")]
_KEY_DETAIL = re.compile(r"Key \(([^)]+)\)")


@dataclass(slots=True)
class InlineRow:
    pk: str
    fields: list[BoundField]
    readonly: list[str]
    errors: list[str] = field(default_factory=list)
    delete: bool = False


@dataclass(slots=True)
class InlineForm:
    """One tabular inline of the change form."""

    title: str
    prefix: str
    pk_name: str
    columns: list[str]
    readonly_columns: list[str]
    rows: list[InlineRow]
    can_delete: bool


@dataclass(slots=True)
class ParsedInlineRow:
    index: int
    pk: Any
    values: dict[str, Any]
    delete: bool
    obj: Model | None = None


@dataclass(slots=True)
class FormResult:
    """The posted form: values per field, errors, inline rows."""

    values: dict[str, Any] = field(default_factory=dict)
    many: dict[str, list[Any]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    inlines: dict[str, list[ParsedInlineRow]] = field(default_factory=dict)
    inline_errors: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    uploads: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.errors or self.general or self.inline_errors)


def editable_names(admin: ModelAdmin, *, creating: bool) -> list[str]:
    """Form fields the user may write (not read-only, not an auto primary key)."""
    meta = admin.model._meta
    names: list[str] = []
    for _, group in admin.form_sets:
        for name in group:
            if name in admin.readonly_fields:
                continue
            model_field = meta.fields.get(name)
            if (
                model_field is not None
                and model_field.primary_key
                and (model_field.auto or not creating)
            ):
                continue
            names.append(name)
    return names


async def build_form(
    site: AdminSite,
    admin: ModelAdmin,
    obj: Model | None,
    *,
    data: FormData | None = None,
    result: FormResult | None = None,
    initial: dict[str, str] | None = None,
) -> list[tuple[str | None, list[BoundField]]]:
    """The fieldsets of the change form, each a list of bound inputs.

    Args:
        obj: the edited row (``None`` on the add form).
        data: the posted form, whose text wins over ``obj``'s values (re-display).
        result: the parse result whose errors go next to their inputs.
        initial: text for the add form (``?author_id=3`` in the URL).
    """
    meta = admin.model._meta
    writable = set(editable_names(admin, creating=obj is None))
    errors = result.errors if result is not None else {}
    out: list[tuple[str | None, list[BoundField]]] = []
    for title, names in admin.form_sets:
        bound: list[BoundField] = []
        for name in names:
            m2m = meta.many_to_many.get(name)
            if m2m is not None:
                bound.append(
                    await _many_input(site, admin, m2m, obj, data, name in writable, errors)
                )
                continue
            model_field = meta.fields[name]
            value = obj.__dict__.get(name) if obj is not None else None
            if name not in writable:
                text = display_value(model_field, value) if obj is not None else "—"
                if model_field.is_relation and obj is not None:
                    related = obj.__dict__.get(model_field.relation_name)
                    text = site.label(related) if related is not None else text
                bound.append(
                    BoundField(
                        name=name, label=label_of(name), kind="readonly", text=text, readonly=True
                    )
                )
                continue
            if name in admin.file_fields:
                current = str(obj.__dict__.get(name) or "") if obj is not None else ""
                bound.append(_file_input(admin, model_field, current, errors.get(name, [])))
                continue
            if data is not None:
                text = _text_of(data, name)
                if forms.field_kind(model_field) == Kind.BOOLEAN:
                    text = "true" if data.get(name) is not None else ""
            elif obj is not None:
                text = forms.value_text(model_field, value)
            elif initial is not None and name in initial:
                text = initial[name]
            else:
                default = model_field.get_default() if model_field.has_default else None
                text = forms.value_text(model_field, default)
            bound.append(await _input(site, admin, model_field, name, text, errors.get(name, [])))
        out.append((title, bound))
    return out


async def _input(
    site: AdminSite,
    admin: ModelAdmin,
    model_field: Field,
    name: str,
    text: str,
    errors: list[str],
    preset: list[tuple[str, str]] | None = None,
) -> BoundField:
    kind = forms.field_kind(model_field)
    bound = BoundField(
        name=name,
        label=label_of(name),
        kind=kind.value,
        text=text,
        errors=list(errors),
        required=forms.is_required(model_field),
        attrs=forms.input_attrs(model_field),
    )
    if kind == Kind.ENUM:
        assert model_field.enum_type is not None
        bound.choices = [
            (str(m.value), str(m.value).replace("_", " ").capitalize())
            for m in model_field.enum_type
        ]
    elif kind == Kind.NULL_BOOLEAN:
        bound.choices = list(_NULL_BOOLEAN)
        bound.text = text or "unknown"
    elif kind == Kind.FOREIGN_KEY:
        related = model_field.related_model
        if preset is not None:
            bound.choices = list(preset)
        elif name in admin.autocomplete_fields:
            bound.choices = await site.related_choices(model_field, _AUTOCOMPLETE_PRESET)
            related_admin = site.admin_for(related)
            if related_admin is not None:
                bound.autocomplete_url = f"{related_admin.url}autocomplete/"
        else:
            bound.choices = await site.related_choices(model_field, admin.choices_limit)
        if text and all(value != text for value, _ in bound.choices):
            current = await related.objects.filter(pk=_pk_or_text(model_field, text)).first()
            if current is not None:
                bound.choices.insert(0, (str(current.pk), site.label(current)))
    elif kind == Kind.JSON:
        bound.help = "JSON"
    elif kind == Kind.DATETIME:
        bound.help = "UTC"
    return bound


def _file_input(
    admin: ModelAdmin, model_field: Field, current: str, errors: list[str]
) -> BoundField:
    storage = admin.file_storage
    bound = BoundField(
        name=model_field.name,
        label=label_of(model_field.name),
        kind=Kind.FILE.value,
        text=current,
        errors=list(errors),
        required=forms.is_required(model_field),
        file_url=storage.url(current) if current and storage is not None else "",
    )
    allowed = getattr(model_field, "allowed_extensions", None)
    if allowed:
        bound.attrs["accept"] = ",".join(sorted(allowed))
    return bound


def _text_of(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _pk_or_text(model_field: Field, text: str) -> Any:
    try:
        return forms.parse_value(model_field, text)
    except InputError:
        return None


async def _many_input(
    site: AdminSite,
    admin: ModelAdmin,
    m2m: ManyToManyField,
    obj: Model | None,
    data: FormData | None,
    writable: bool,
    errors: dict[str, list[str]],
) -> BoundField:
    target = m2m.target
    name = m2m.name
    if data is not None:
        selected = {str(v) for v in data.getlist(name)}
    elif obj is not None:
        if name not in obj.__dict__:
            await m2m.load([obj])
        selected = {str(t.pk) for t in obj.__dict__[name]}
    else:
        selected = set()
    rows = await target.objects.order_by(target._meta.pk.name).limit(admin.choices_limit)
    choices = [(str(r.pk), site.label(r)) for r in rows]
    if not writable:
        text = ", ".join(label for value, label in choices if value in selected) or "—"
        return BoundField(
            name=name, label=label_of(name), kind="readonly", text=text, readonly=True
        )
    return BoundField(
        name=name,
        label=label_of(name),
        kind=Kind.MANY_TO_MANY.value,
        choices=choices,
        selected=selected,
        errors=list(errors.get(name, [])),
    )


async def parse_form(admin: ModelAdmin, data: FormData, *, creating: bool) -> FormResult:
    """Parse the posted form of ``admin``'s model into values and per-field errors.

    Uploads are read and checked (extension, size, content) here; they are stored
    only when the whole form is valid (:func:`store_files`).
    """
    meta = admin.model._meta
    result = FormResult()
    for name in editable_names(admin, creating=creating):
        if name in admin.file_fields:
            await _parse_file(meta.fields[name], data, result)
            continue
        m2m = meta.many_to_many.get(name)
        if m2m is not None:
            pk_field = m2m.target._meta.pk
            keys = []
            for raw in data.getlist(name):
                try:
                    keys.append(forms.parse_value(pk_field, str(raw)))
                except InputError:
                    result.errors.setdefault(name, []).append(f"`{raw}` is not a valid choice.")
            result.many[name] = keys
            continue
        model_field = meta.fields[name]
        try:
            result.values[name] = forms.parse_value(
                model_field, _text_of(data, name) if name in data else None
            )
        except InputError as exc:
            result.errors.setdefault(name, []).append(str(exc))
    return result


async def _parse_file(model_field: Field, data: FormData, result: FormResult) -> None:
    name = model_field.name
    upload = data.get(name)
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read()
        try:
            assert isinstance(model_field, FileField)
            model_field.check_upload(content, upload.filename)
        except ValueError as exc:
            result.errors.setdefault(name, []).append(_sentence(str(exc)))
            return
        # The storage refuses some names (too long, control characters) only when it
        # writes, inside the save: check the name it will be given here, with the form.
        base = upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
        try:
            check_name(model_field.upload_to + base)
        except ValueError:
            result.errors.setdefault(name, []).append(
                "Rename the file before uploading it: its name must be at most 255 bytes "
                "without control characters."
            )
            return
        result.uploads[name] = (content, upload.filename)
    elif data.get(f"{name}-clear") is not None:
        result.cleared.append(name)
    elif forms.is_required(model_field) and not data.get(f"{name}-current"):
        result.errors.setdefault(name, []).append("Choose a file to upload.")


async def store_files(admin: ModelAdmin, obj: Model, result: FormResult) -> list[str]:
    """Write the form's uploads to storage and clear cleared files; returns changed names.

    Called inside the save's transaction, before the row is written: a failed row
    write deletes the new files again (stellate-orm), and replaced or cleared files
    are deleted only once the transaction commits.
    """
    storage = admin.file_storage
    assert storage is not None  # checked when the admin was registered
    db = get_db(admin.model._meta.database)
    for name in result.cleared:
        old = obj.__dict__.get(name)
        if old:
            await delete_after_commit(db, storage, old)
        obj.__dict__[name] = ""
    for name, (content, filename) in result.uploads.items():
        await save_uploaded_file(obj, name, content, filename, storage)
    return [*result.cleared, *result.uploads]


async def delete_after_commit(db: Database, storage: Storage, name: str) -> None:
    async def delete() -> None:
        await storage.delete(name)

    db.on_commit(delete)


def apply_values(
    admin: ModelAdmin, obj: Model | None, result: FormResult
) -> tuple[Model, list[str]]:
    """Build (add) or update (change) the instance; returns it and the changed field names.

    Model validation problems (ranges, lengths, patterns, required fields) join
    ``result.errors`` under their field, or ``result.general`` for fields not on the form.
    """
    model = admin.model
    values = {k: v for k, v in result.values.items() if k not in result.errors}
    changed: list[str] = []
    if obj is None:
        try:
            obj = model(**values)
        except ValidationError as exc:
            _merge(admin, result, exc.errors)
            obj = model.__new__(model)
            obj.__dict__.update(values)
            obj.__dict__["_adding"] = True
            return obj, list(values)
        try:
            obj.full_clean()
        except ValidationError as exc:
            _merge(admin, result, {k: v for k, v in exc.errors.items() if k not in result.errors})
        return obj, list(values)
    data = obj.__dict__
    for name, value in values.items():
        old = data.get(name)
        if getattr(old, "raw", old) != value:
            changed.append(name)
        data[name] = value
        relation = model._meta.fields[name]
        if relation.is_relation:
            data.pop(relation.relation_name, None)  # the cached related row is stale
    try:
        obj.full_clean(fields=list(values))
    except ValidationError as exc:
        _merge(admin, result, exc.errors)
    return obj, changed


def _merge(admin: ModelAdmin, result: FormResult, errors: dict[str, list[str]]) -> None:
    on_form = {name for _, group in admin.form_sets for name in group}
    for name, problems in errors.items():
        messages = [_sentence(p) for p in problems]
        if name in on_form and name not in admin.readonly_fields:
            result.errors.setdefault(name, []).extend(messages)
        else:
            result.general.extend(f"{label_of(name)}: {m}" for m in messages)


def _sentence(problem: str) -> str:
    text = problem.replace("`", "")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def integrity_problem(admin: ModelAdmin, exc: IntegrityError, result: FormResult) -> None:
    """Put a database refusal next to the field it names, or at the top of the form."""
    match = _KEY_DETAIL.search(exc.detail or "")
    names = [n.strip() for n in match.group(1).split(",")] if match else []
    on_form = {name for _, group in admin.form_sets for name in group}
    kind = type(exc).__name__
    for name in names:
        if name in on_form:
            if kind == "UniqueViolation":
                noun, column = admin.verbose_name.lower(), label_of(name).lower()
                message = f"A {noun} with this {column} already exists."
            elif kind == "ForeignKeyViolation":
                message = "Choose an existing object: this one was not found."
            else:
                message = (exc.detail or str(exc)).strip()
            result.errors.setdefault(name, []).append(message)
            return
    result.general.append(f"The database refused the change: {exc.detail or exc}")


# -- inlines -----------------------------------------------------------------------------------


async def build_inlines(
    site: AdminSite,
    admin: ModelAdmin,
    obj: Model | None,
    *,
    data: FormData | None = None,
    result: FormResult | None = None,
) -> list[InlineForm]:
    """The tabular inlines of the form: existing rows (one query each) plus blank ones."""
    out: list[InlineForm] = []
    for inline in admin.inline_admins:
        related = inline.related
        meta = related._meta
        rows: list[InlineRow] = []
        existing: list[Model] = []
        if obj is not None and obj.pk is not None:
            existing = (
                await related.objects.filter(**{inline.fk.name: obj.pk})
                .order_by(meta.pk.name)
                .limit(inline.max_rows)
            )
        # Foreign-key choices are loaded once per inline, not once per row.
        choices = {
            name: await site.related_choices(meta.fields[name], admin.choices_limit)
            for name in inline.field_names
            if meta.fields[name].is_relation
        }
        total = len(existing) + inline.extra
        if data is not None:
            total = _total(data, inline)
        for index in range(total):
            row_obj = existing[index] if index < len(existing) and data is None else None
            pk_text = str(row_obj.pk) if row_obj is not None else ""
            if data is not None:
                pk_text = str(data.get(f"{inline.prefix}-{index}-{meta.pk.name}") or "")
            fields: list[BoundField] = []
            for name in inline.field_names:
                model_field = meta.fields[name]
                input_name = f"{inline.prefix}-{index}-{name}"
                if data is not None:
                    text = _text_of(data, input_name)
                    if forms.field_kind(model_field) == Kind.BOOLEAN:
                        text = "true" if data.get(input_name) is not None else ""
                elif row_obj is not None:
                    text = forms.value_text(model_field, row_obj.__dict__.get(name))
                else:
                    text = ""
                bound = await _input(
                    site, admin, model_field, input_name, text, [], choices.get(name)
                )
                bound.label = label_of(name)
                fields.append(bound)
            readonly = [
                display_value(meta.fields[name], row_obj.__dict__.get(name))
                if row_obj is not None
                else ""
                for name in inline.readonly
            ]
            row = InlineRow(pk=pk_text, fields=fields, readonly=readonly)
            if data is not None:
                row.delete = data.get(f"{inline.prefix}-{index}-DELETE") is not None
            if result is not None:
                row.errors = result.inline_errors.get((inline.prefix, index), [])
            rows.append(row)
        out.append(
            InlineForm(
                title=label_of(inline.fk.related_name or related.__name__),
                prefix=inline.prefix,
                pk_name=meta.pk.name,
                columns=[label_of(n) for n in inline.field_names],
                readonly_columns=[label_of(n) for n in inline.readonly],
                rows=rows,
                can_delete=inline.can_delete,
            )
        )
    return out


def _total(data: FormData, inline: TabularInline) -> int:
    raw = data.get(f"{inline.prefix}-TOTAL")
    try:
        total = int(str(raw))
    except ValueError:
        return 0
    return max(0, min(total, inline.max_rows + inline.extra))


async def parse_inlines(
    admin: ModelAdmin, data: FormData, result: FormResult, parent: Model | None
) -> None:
    """Parse the inline rows into ``result.inlines``; blank new rows are skipped."""
    for inline in admin.inline_admins:
        related = inline.related
        meta = related._meta
        parsed: list[ParsedInlineRow] = []
        existing: dict[str, Model] = {}
        total = _total(data, inline)
        pks = [str(data.get(f"{inline.prefix}-{i}-{meta.pk.name}") or "") for i in range(total)]
        wanted = [p for p in pks if p]
        if wanted and parent is not None and parent.pk is not None:
            keys = []
            for text in wanted:
                try:
                    keys.append(forms.parse_value(meta.pk, text))
                except InputError:
                    result.inline_errors[(inline.prefix, pks.index(text))] = ["Unknown row."]
            rows = await related.objects.filter(
                **{inline.fk.name: parent.pk, f"{meta.pk.name}__in": keys}
            )
            existing = {str(r.pk): r for r in rows}
        for index in range(total):
            prefix = f"{inline.prefix}-{index}-"
            pk_text = pks[index]
            delete = inline.can_delete and data.get(f"{prefix}DELETE") is not None
            texts = {
                name: _text_of(data, prefix + name) if prefix + name in data else None
                for name in inline.field_names
            }
            if not pk_text and all(not t for t in texts.values()):
                continue
            row_obj = existing.get(pk_text) if pk_text else None
            if pk_text and row_obj is None:
                result.inline_errors[(inline.prefix, index)] = [
                    "This row no longer exists: reload the page."
                ]
                continue
            row = ParsedInlineRow(
                index=index, pk=pk_text or None, values={}, delete=delete, obj=row_obj
            )
            problems: list[str] = []
            if not delete:
                for name in inline.field_names:
                    model_field = meta.fields[name]
                    try:
                        row.values[name] = forms.parse_value(model_field, texts[name])
                    except InputError as exc:
                        problems.append(f"{label_of(name)}: {exc}")
                problems.extend(_check_inline_row(inline, row))
            if problems:
                result.inline_errors[(inline.prefix, index)] = problems
            parsed.append(row)
        result.inlines[inline.prefix] = parsed


def _check_inline_row(inline: TabularInline, row: ParsedInlineRow) -> list[str]:
    related = inline.related
    try:
        if row.obj is None:
            # The parent's key is not known before it is saved: validate with a stand-in.
            placeholder = {inline.fk.name: 1, **row.values}
            row.obj = related(**placeholder)
            row.obj.full_clean()
        else:
            row.obj.__dict__.update(row.values)
            row.obj.full_clean(fields=list(row.values))
    except ValidationError as exc:
        return [f"{label_of(n)}: {_sentence(p)}" for n, ps in exc.errors.items() for p in ps]
    return []


async def save_inlines(admin: ModelAdmin, result: FormResult, parent: Model) -> list[str]:
    """Write the parsed inline rows; returns change notes for the admin log."""
    notes: list[str] = []
    for inline in admin.inline_admins:
        for row in result.inlines.get(inline.prefix, []):
            obj = row.obj
            if obj is None:
                continue
            if row.delete:
                if row.pk is not None:
                    await obj.delete()
                    notes.append(f"deleted {inline.related.__name__} #{row.pk}")
                continue
            obj.__dict__[inline.fk.name] = parent.pk
            await obj.save()
            verb = "changed" if row.pk is not None else "added"
            notes.append(f"{verb} {inline.related.__name__} #{obj.pk}")
    return notes
