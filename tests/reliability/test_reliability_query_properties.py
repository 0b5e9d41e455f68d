"""Property tests of the query compiler against PostgreSQL.

Random ``Q`` trees (``&``, ``|``, ``~``, nested) of lookups over integer, decimal,
text, boolean and date columns, NULLs included, are compiled, run on a real table and
compared with a Python evaluation of the same tree under SQL's three-valued logic
(``None`` is "unknown": ``NOT unknown`` is unknown, a row is selected only when its
condition is true). ``exclude()`` is checked too: it must select exactly the rows
where the tree is false, since rows where it is unknown match neither.

``tests/rest/test_rest_properties.py`` covers body validation and
``tests/orm/test_orm_compiler.py`` the SQL cache; neither runs the SQL.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stellate.orm import Field, Model, Q
from stellate.orm.database import activate, restore
from stellate.orm.testing import create_tables, temporary_database


class RelThing(Model):
    class Meta:
        table = "rel_things"

    id: int = Field(primary_key=True, auto=True)
    num: int | None = Field(default=None)
    price: Decimal | None = Field(default=None)
    name: str | None = Field(default=None, max_length=20)
    flag: bool | None = Field(default=None)
    day: dt.date | None = Field(default=None)


# Small domains, so that generated conditions hit and miss rows often.
NUMS = [-2, -1, 0, 1, 2, 3, 1000]
PRICES = [Decimal("0.00"), Decimal("0.50"), Decimal("1.25"), Decimal("99.99")]
# LIKE wildcards and the escape character must match literally.
NAMES = ["", "a", "ab", "Ab", "abc", "b", "ba", "a%b", "a_b", "50%", "x\\y", "ABC"]
DAYS = [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2025, 12, 31)]
ROW_COUNT = 80

COLUMNS: dict[str, list[Any]] = {
    "num": NUMS,
    "price": PRICES,
    "name": NAMES,
    "flag": [True, False],
    "day": DAYS,
}
ORDERED = ("num", "price", "day")
TEXT_LOOKUPS = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")


@pytest.fixture(scope="module")
async def things() -> AsyncIterator[list[dict[str, Any]]]:
    picker = random.Random(20261125)
    rows = [
        {
            column: None if picker.random() < 0.2 else picker.choice(values)
            for column, values in COLUMNS.items()
        }
        for _ in range(ROW_COUNT)
    ]
    async with temporary_database() as scratch:
        previous = activate({"default": scratch}, testing=True)
        try:
            await create_tables(RelThing)
            created = await RelThing.objects.bulk_create([RelThing(**row) for row in rows])
            yield [{"id": thing.id, **row} for thing, row in zip(created, rows, strict=True)]
        finally:
            restore(previous)


Leaf = tuple[str, Any]


def _like(value: str, lookup: str, pattern: str) -> bool:
    if lookup.startswith("i"):
        value, pattern = value.lower(), pattern.lower()
        lookup = lookup[1:]
    if lookup == "contains":
        return pattern in value
    if lookup == "startswith":
        return value.startswith(pattern)
    return value.endswith(pattern)


def evaluate_leaf(row: dict[str, Any], key: str, wanted: Any) -> bool | None:
    column, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    value = row[column]
    if lookup == "isnull":
        return (value is None) is wanted
    if lookup == "exact" and wanted is None:
        return value is None
    if value is None:
        return None
    if lookup == "exact":
        return bool(value == wanted)
    if lookup == "ne":
        return bool(value != wanted)
    if lookup == "iexact":
        return bool(value.lower() == wanted.lower())
    if lookup == "in":
        return value in wanted
    if lookup == "range":
        return bool(wanted[0] <= value <= wanted[1])
    if lookup in TEXT_LOOKUPS:
        return _like(value, lookup, wanted)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return compare[lookup](value, wanted)


def evaluate(row: dict[str, Any], tree: Any) -> bool | None:
    """Three-valued evaluation of ``tree`` (as built by ``trees``) on ``row``."""
    kind = tree[0]
    if kind == "leaf":
        return evaluate_leaf(row, tree[1], tree[2])
    if kind == "not":
        inner = evaluate(row, tree[1])
        return None if inner is None else not inner
    results = [evaluate(row, child) for child in tree[1:]]
    if kind == "and":
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


def to_q(tree: Any) -> Q:
    kind = tree[0]
    if kind == "leaf":
        return Q(**{tree[1]: tree[2]})
    if kind == "not":
        return ~to_q(tree[1])
    combined = to_q(tree[1])
    for child in tree[2:]:
        combined = combined & to_q(child) if kind == "and" else combined | to_q(child)
    return combined


def _leaves() -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = []
    for column, values in COLUMNS.items():
        value = st.sampled_from(values)
        options.append(st.tuples(st.just(f"{column}__isnull"), st.booleans()))
        options.append(st.tuples(st.just(column), value | st.none()))
        options.append(st.tuples(st.just(f"{column}__ne"), value))
        options.append(st.tuples(st.just(f"{column}__in"), st.lists(value, min_size=1, max_size=4)))
        if column in ORDERED:
            lookups = st.sampled_from(["gt", "gte", "lt", "lte"])
            options.append(st.tuples(lookups.map(lambda lk, c=column: f"{c}__{lk}"), value))
            options.append(
                st.tuples(
                    st.just(f"{column}__range"),
                    st.tuples(value, value).map(lambda pair: tuple(sorted(pair))),
                )
            )
    fragments = st.sampled_from(["", "a", "b", "A", "%", "_", "\\", "ab", "%b", "a_", "C"])
    options.append(
        st.tuples(st.sampled_from(TEXT_LOOKUPS).map(lambda lk: f"name__{lk}"), fragments)
    )
    options.append(st.tuples(st.just("name__iexact"), st.sampled_from(NAMES)))
    return st.one_of(options).map(lambda leaf: ("leaf", leaf[0], leaf[1]))


trees = st.recursive(
    _leaves(),
    lambda inner: st.one_of(
        inner.map(lambda child: ("not", child)),
        st.lists(inner, min_size=2, max_size=3).map(lambda kids: ("and", *kids)),
        st.lists(inner, min_size=2, max_size=3).map(lambda kids: ("or", *kids)),
    ),
    max_leaves=8,
)


def _ids(rows: list[dict[str, Any]], tree: Any, want: bool) -> set[int]:
    return {row["id"] for row in rows if evaluate(row, tree) is want}


@settings(
    # `nox -s reliability` sets STELLATE_RELIABILITY_FULL=1 for the long run.
    max_examples=2500 if os.environ.get("STELLATE_RELIABILITY_FULL") == "1" else 80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(tree=trees)
async def test_filter_and_exclude_select_what_python_selects(
    things: list[dict[str, Any]], tree: Any
) -> None:
    condition = to_q(tree)
    selected = set(await RelThing.objects.filter(condition).values_list("id", flat=True).all())
    assert selected == _ids(things, tree, True), f"filter({condition!r})"
    excluded = set(await RelThing.objects.exclude(condition).values_list("id", flat=True).all())
    assert excluded == _ids(things, tree, False), f"exclude({condition!r})"
    assert await RelThing.objects.filter(condition).count() == len(selected)


async def test_the_table_has_nulls_in_every_column(things: list[dict[str, Any]]) -> None:
    for column in COLUMNS:
        assert any(row[column] is None for row in things), column
        assert any(row[column] is not None for row in things), column
