"""Rows to results: the fast positional path from asyncpg records to model instances."""

# zip() without strict=: the keyword alone costs ~20% of the hot loops below, and
# every row has exactly the compiled number of columns.
# ruff: noqa: B905

from __future__ import annotations

import gc
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from stellate.orm._relations import make_loaded_key

if TYPE_CHECKING:
    from stellate.orm.compiler import SelectPlan

_GC_PAUSE_ROWS = 200


def hydrate(plan: SelectPlan, records: list[Any]) -> list[Any]:
    """Turn ``records`` into what ``plan.mode`` asks for (instances, dicts, tuples, values)."""
    mode = plan.mode
    names = plan.names
    converters = plan.converters
    if mode == "model":
        return _models(plan, records)
    if mode == "dict":
        rows = [dict(zip(names, r)) for r in records]
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
    width = len(names)
    if converters:
        index = {name: i for i, name in enumerate(names)}
        out = []
        for r in records:
            values = list(r)[:width]
            for name, convert in converters:
                values[index[name]] = convert(values[index[name]])
            out.append(tuple(values))
        return out
    return [tuple(r)[:width] for r in records]


def _models(plan: SelectPlan, records: list[Any]) -> list[Any]:
    if len(records) < _GC_PAUSE_ROWS or not gc.isenabled():
        return _build_models(plan, records)
    # Every object made here stays reachable from the result list, so the young-
    # generation collections its allocations would trigger find nothing to free;
    # pausing the collector for the loop saves ~20% of hydration time.
    gc.disable()
    try:
        return _build_models(plan, records)
    finally:
        gc.enable()


def _build_models(plan: SelectPlan, records: list[Any]) -> list[Any]:
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
                data.update(zip(names, r))
                for name, convert in converters:
                    data[name] = convert(data[name])
                append(obj)
        else:
            for r in records:
                obj = new(cls)
                obj.__dict__.update(zip(names, r))
                append(obj)
        return out
    segments = plan.related
    # Rows of one result that join the same related row share one instance (it is the
    # same data), which also saves building it again for every row.
    plans: list[tuple[Any, ...]]
    plans = [
        (
            seg.parent,
            seg.pk_index,
            _columns_getter(seg.start, seg.end),
            seg.names,
            seg.converters,
            seg.model,
            seg.attr,
            seg.fk_name if seg.as_key else None,
            {},
        )
        for seg in segments
    ]
    for r in records:
        obj = new(cls)
        data = obj.__dict__
        data.update(zip(names, r))  # stops after the main model's columns
        for name, convert in converters:
            data[name] = convert(data[name])
        objects: list[Any] = [obj]
        for parent_index, pk_index, columns, rnames, rconv, rmodel, attr, fk, cache in plans:
            parent = objects[parent_index]
            key = r[pk_index]
            if parent is None or key is None:
                if parent is not None:
                    parent.__dict__[attr] = None
                objects.append(None)
                continue
            related = cache.get(key)
            if related is None:
                related = cache[key] = new(rmodel)
                rdata = related.__dict__
                rdata.update(zip(rnames, columns(r)))
                for name, convert in rconv:
                    rdata[name] = convert(rdata[name])
            pdata = parent.__dict__
            pdata[attr] = related
            if fk is not None:
                pdata[fk] = make_loaded_key(pdata[fk], related)
            objects.append(related)
        append(obj)
    return out


def _columns_getter(start: int, end: int) -> Any:
    """A callable returning ``record[start:end]`` as a tuple, without copying the record."""
    if end - start == 1:
        return lambda record: (record[start],)
    return itemgetter(*range(start, end))
