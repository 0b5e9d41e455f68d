"""Instance persistence: save (INSERT/UPDATE), delete, refresh and explicit fetch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.orm import _execute
from stellate.orm._relations import LoadedKey
from stellate.orm.cache import write_sql
from stellate.orm.exceptions import FieldError, unknown_name_error
from stellate.orm.models import quote_name
from stellate.orm.signals import post_delete, post_save, pre_delete, pre_save
from stellate.orm.views import check_writable

if TYPE_CHECKING:
    from stellate.orm.models import Model


def _db_value(field: Any, value: Any) -> Any:
    if isinstance(value, LoadedKey):
        value = value.raw
    return field.to_db_value(value)


async def save(obj: Model, update_fields: list[str] | None) -> None:
    if "_pending_uploads" not in obj.__dict__:
        await _save(obj, update_fields)
        return
    from stellate.orm import files

    try:
        await _save(obj, update_fields)
    except BaseException as exc:
        await files.after_save(obj, exc)
        raise
    await files.after_save(obj, None)


async def _save(obj: Model, update_fields: list[str] | None) -> None:
    cls = type(obj)
    meta = obj._meta
    if meta.materialized_view is not None:
        check_writable(cls, "save")
    data = obj.__dict__
    pk = data.get(meta.pk.name)
    creating = pk is None or data.get("_adding", False)
    if update_fields is not None:
        if not update_fields:
            return
        if creating:
            raise ValueError(
                f"save(update_fields=...) needs a saved `{cls.__name__}`; call save() first"
            )
    update_fields = obj._prepare_save(creating, update_fields)
    if pre_save.has_receivers(cls):
        await pre_save.send(cls, instance=obj)
    if update_fields is not None:
        obj.full_clean(update_fields)
        await _update(obj, update_fields)
    elif creating:
        obj.full_clean()
        await _insert(obj)
    else:
        # A loaded instance may lack deferred fields: validate and write what it holds.
        names = [
            f.name
            for f in meta.field_list
            if not f.primary_key and f.name in data and not f.generated
        ]
        obj.full_clean(names)
        if names and not await _update(obj, names):
            # A loaded instance whose row is gone: insert it again, as Django does.
            creating = True
            await _insert(obj)
    if post_save.has_receivers(cls):
        await post_save.send(cls, instance=obj, created=creating)


def _apply_row(obj: Model, record: Any) -> None:
    meta = obj._meta
    data = obj.__dict__
    for field in meta.field_list:
        name = field.name
        value = record[name]
        if field.needs_from_db:
            value = field.from_db_value(value)
        current = data.get(name)
        if isinstance(current, LoadedKey) and current.raw == value:
            continue
        data[name] = value
    data.pop("_adding", None)


async def insert(obj: Model, *, on_conflict_do_nothing: bool = False) -> bool:
    """Save ``obj`` as a new row (hooks and signals included); False when ON CONFLICT skipped it.

    ``post_save`` is sent only when the row was inserted.
    """
    cls = type(obj)
    obj._prepare_save(True, None)
    if pre_save.has_receivers(cls):
        await pre_save.send(cls, instance=obj)
    inserted = await _insert(obj, on_conflict_do_nothing=on_conflict_do_nothing)
    if inserted and post_save.has_receivers(cls):
        await post_save.send(cls, instance=obj, created=True)
    return inserted


async def _insert(obj: Model, *, on_conflict_do_nothing: bool = False) -> bool:
    """INSERT ``obj`` and load back every column; False when ON CONFLICT skipped it."""
    meta = obj._meta
    data = obj.__dict__
    fields = [
        f
        for f in meta.field_list
        if f.name in data
        and not (f.primary_key and f.auto and data[f.name] is None)
        and not f.generated
    ]
    missing = [f.name for f in meta.field_list if f.name not in data and f.required]
    if missing:
        from stellate.orm.exceptions import ValidationError

        raise ValidationError({name: ["is required"] for name in missing}, type(obj).__name__)
    key = ("insert", tuple(f.name for f in fields), on_conflict_do_nothing)
    from stellate.orm.compiler import _cache

    cache = _cache(type(obj))
    sql = cache.get(key)
    if sql is None:
        columns = ", ".join(quote_name(f.column) for f in fields)
        placeholders = ", ".join(f.placeholder(i) for i, f in enumerate(fields, 1))
        body = f"({columns}) VALUES ({placeholders})" if fields else "DEFAULT VALUES"
        conflict = " ON CONFLICT DO NOTHING" if on_conflict_do_nothing else ""
        sql = f"INSERT INTO {meta.qtable} {body}{conflict} RETURNING {meta.columns_sql}"
        sql = cache[key] = write_sql(meta, sql)
    params = [_db_value(f, data[f.name]) for f in fields]
    record = await _execute.fetchrow(type(obj), sql, params)
    if record is None:
        return False
    _apply_row(obj, record)
    return True


async def _update(obj: Model, names: list[str]) -> bool:
    meta = obj._meta
    data = obj.__dict__
    fields = [meta.get_field(n) for n in names]
    for field in fields:
        if field.name not in data:
            raise FieldError(
                f"`{type(obj).__name__}.{field.name}` is not loaded, so it cannot be saved; "
                f"`await obj.fetch({field.name!r})` first or leave it out of update_fields"
            )
    version = obj._version_field
    if version is not None:
        return await _update_versioned(obj, [f for f in fields if f.name != version], version)
    sets = ", ".join(
        f"{quote_name(f.column)} = {f.placeholder(i)}" for i, f in enumerate(fields, 2)
    )
    sql = f"UPDATE {meta.qtable} SET {sets} WHERE {quote_name(meta.pk.column)} = $1"
    sql = write_sql(meta, sql)
    params = [_db_value(meta.pk, data[meta.pk.name]), *(_db_value(f, data[f.name]) for f in fields)]
    return await _execute.execute(type(obj), sql, params) > 0


async def _update_versioned(obj: Model, fields: list[Any], version_name: str) -> bool:
    # The expected version is part of the WHERE clause, so the check and the write
    # are one statement: of two concurrent saves from the same version, the second
    # waits for the first's row lock, re-reads the row and matches nothing.
    cls = type(obj)
    meta = obj._meta
    data = obj.__dict__
    version = meta.get_field(version_name)
    column = quote_name(version.column)
    if version_name not in data:
        raise FieldError(
            f"`{cls.__name__}.{version_name}` is not loaded, so the save cannot be checked "
            f"for concurrent changes; do not defer `{version_name}` (or `await "
            f"obj.fetch({version_name!r})` first)"
        )
    expected = data[version_name]
    sets = [f"{quote_name(f.column)} = {f.placeholder(i)}" for i, f in enumerate(fields, 3)]
    sets.append(f"{column} = {column} + 1")
    sql = (
        f"UPDATE {meta.qtable} SET {', '.join(sets)} "
        f"WHERE {quote_name(meta.pk.column)} = $1 AND {column} = $2 RETURNING {column}"
    )
    sql = write_sql(meta, sql)
    pk = _db_value(meta.pk, data[meta.pk.name])
    params = [pk, expected, *(_db_value(f, data[f.name]) for f in fields)]
    new_version = await _execute.fetchval(cls, sql, params)
    if new_version is None:
        current = await _execute.fetchval(
            cls,
            f"SELECT {column} FROM {meta.qtable} WHERE {quote_name(meta.pk.column)} = $1",
            [pk],
        )
        from stellate.orm.mixins import StaleObjectError

        raise StaleObjectError(cls.__name__, data[meta.pk.name], expected, current)
    data[version_name] = new_version
    return True


async def delete(obj: Model) -> None:
    meta = obj._meta
    check_writable(type(obj), "delete")
    pk = obj.pk
    if pk is None:
        raise ValueError(
            f"Cannot delete an unsaved `{type(obj).__name__}` (its primary key is None)"
        )
    cls = type(obj)
    if pre_delete.has_receivers(cls):
        await pre_delete.send(cls, instance=obj, soft=False)
    sql = write_sql(meta, f"DELETE FROM {meta.qtable} WHERE {quote_name(meta.pk.column)} = $1")
    await _execute.execute(cls, sql, [_db_value(meta.pk, pk)])
    obj.__dict__["_adding"] = True
    if post_delete.has_receivers(cls):
        await post_delete.send(cls, instance=obj, soft=False)


async def refresh(obj: Model, names: list[str] | None) -> None:
    meta = obj._meta
    pk = obj.pk
    if pk is None:
        raise ValueError(f"Cannot refresh an unsaved `{type(obj).__name__}`")
    fields = meta.field_list if names is None else [meta.get_field(n) for n in names]
    columns = ", ".join(quote_name(f.column) for f in fields)
    sql = f"SELECT {columns} FROM {meta.qtable} WHERE {quote_name(meta.pk.column)} = $1"
    record = await _execute.fetchrow(type(obj), sql, [_db_value(meta.pk, pk)])
    if record is None:
        raise type(obj).DoesNotExist(
            f"`{type(obj).__name__}` with {meta.pk.name}={pk!r} no longer exists"
        )
    data = obj.__dict__
    for index, field in enumerate(fields):
        value = record[index]
        data[field.name] = field.from_db_value(value) if field.needs_from_db else value
        if field.is_relation and field.relation_name != field.name:
            data.pop(field.relation_name, None)  # the cached instance may be stale now


async def fetch(obj: Model, name: str) -> Any:
    cls = type(obj)
    meta = cls._meta
    data = obj.__dict__
    if name in meta.fields:
        await refresh(obj, [name])
        return data[name]
    if name in meta.relations:
        field = meta.relations[name]
        key = data.get(field.name)
        if key is None:
            data[name] = None
            return None
        related_model = field.related_model
        related = await related_model.objects.get(pk=key.raw if isinstance(key, LoadedKey) else key)
        data[name] = related
        return related
    if name in meta.many_to_many:
        await meta.many_to_many[name].load([obj])
        return data[name]
    if name in meta.reverse_relations:
        source, field = meta.reverse_relations[name]
        rows = await source.objects.filter(**{field.name: obj.pk}).order_by(source._meta.pk.name)
        data[name] = (rows[0] if rows else None) if field.unique else rows
        return data[name]
    valid = [*meta.fields, *meta.relations, *meta.reverse_relations]
    raise unknown_name_error("field or relation", name, cls.__name__, valid)
