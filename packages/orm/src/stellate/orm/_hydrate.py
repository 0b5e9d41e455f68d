"""Rows to results: the fast positional path from asyncpg records to model instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.orm._relations import make_loaded_key

if TYPE_CHECKING:
    from stellate.orm.compiler import SelectPlan


def hydrate(plan: SelectPlan, records: list[Any]) -> list[Any]:
    """Turn ``records`` into what ``plan.mode`` asks for (instances, dicts, tuples, values)."""
    mode = plan.mode
    names = plan.names
    converters = plan.converters
    if mode == "model":
        return _models(plan, records)
    if mode == "dict":
        rows = [dict(zip(names, r, strict=False)) for r in records]
        if converters:
            for row in rows:
                for name, convert in converters:
                    row[name] = convert(row[name])
        return rows
    if mode == "flat":
        if converters:
            convert = converters[0][1]
            return [convert(r[0]) for r in records]
        return [r[0] for r in records]
    # values_list: tuples
    if converters:
        index = {name: i for i, name in enumerate(names)}
        out = []
        for r in records:
            values = list(r)[: len(names)]
            for name, convert in converters:
                values[index[name]] = convert(values[index[name]])
            out.append(tuple(values))
        return out
    width = len(names)
    return [tuple(r)[:width] for r in records]


def _models(plan: SelectPlan, records: list[Any]) -> list[Any]:
    cls: Any = plan.model
    names = plan.names
    converters = plan.converters
    new = object.__new__
    out: list[Any] = []
    append = out.append
    if not plan.related:
        # The hot path: one dict per row filled positionally, no per-field Python calls
        # unless a field converts its database value.
        if converters:
            for r in records:
                obj = new(cls)
                data = obj.__dict__
                data.update(zip(names, r, strict=False))
                for name, convert in converters:
                    data[name] = convert(data[name])
                append(obj)
        else:
            for r in records:
                obj = new(cls)
                obj.__dict__.update(zip(names, r, strict=False))
                append(obj)
        return out
    count = len(names)
    segments = plan.related
    for r in records:
        values = tuple(r)
        obj = new(cls)
        data = obj.__dict__
        data.update(zip(names, values[:count], strict=False))
        for name, convert in converters:
            data[name] = convert(data[name])
        objects: list[Any] = [obj]
        for seg in segments:
            parent = objects[seg.parent]
            if parent is None or values[seg.pk_index] is None:
                if parent is not None:
                    parent.__dict__[seg.attr] = None
                objects.append(None)
                continue
            related = new(seg.model)
            rdata = related.__dict__
            rdata.update(zip(seg.names, values[seg.start : seg.end], strict=False))
            for name, convert in seg.converters:
                rdata[name] = convert(rdata[name])
            pdata = parent.__dict__
            pdata[seg.attr] = related
            if seg.as_key:
                pdata[seg.fk_name] = make_loaded_key(pdata[seg.fk_name], related)
            objects.append(related)
        append(obj)
    return out
