"""PostgreSQL column features on a real server: JSONB, arrays, generated columns,
UNLOGGED tables, partial and covering indexes, select_for_update(of=)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from stellate.orm import (
    ArrayField,
    F,
    Field,
    FieldError,
    GeneratedField,
    Index,
    JSONField,
    Model,
    Q,
    ValidationError,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


class Item(Model):
    class Meta:
        table = "pg_items"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    data: dict[str, Any] = JSONField(default_factory=dict)
    extra: list[Any] = JSONField(default_factory=list)
    tags: list[str] = ArrayField()
    scores: list[int] = ArrayField(base_type="INTEGER", default=list)


class Line(Model):
    class Meta:
        table = "pg_lines"
        unlogged = True
        indexes = [  # noqa: RUF012 - Meta options are class attributes by design
            Index("order_no", condition=Q(open=True), include=["price"], name="pg_lines_open"),
        ]

    id: int = Field(primary_key=True, auto=True)
    order_no: int = Field()
    open: bool = Field(default=True)
    price: float = Field()
    quantity: int = Field(default=1)
    total: float = GeneratedField(expression=F("price") * F("quantity"))
    label: str = GeneratedField(expression="'#' || order_no::text")


@pytest.fixture
async def items(db: Any) -> list[Item]:
    await create_tables(Item)
    return [
        await Item.objects.create(
            name="a",
            data={"author": {"name": "Ann", "age": 40}, "tags": ["py", "web"], "n": 3},
            extra=[1, 2],
            tags=["py", "web"],
            scores=[1, 2, 3],
        ),
        await Item.objects.create(
            name="b",
            data={"author": {"name": "Bob", "age": 25}, "tags": ["go"], "n": 10},
            tags=["go"],
        ),
        await Item.objects.create(name="c", tags=[]),
    ]


async def names(qs: Any) -> list[str]:
    return sorted(item.name for item in await qs.all())


async def test_json_field_default_factory_gives_fresh_values(items: list[Item]) -> None:
    first, second = Item(name="x", tags=[]), Item(name="y", tags=[])
    first.data["k"] = 1
    assert second.data == {}
    assert items[2].data == {}
    assert items[2].extra == []
    with pytest.raises(ValueError, match="not both"):
        JSONField(default={}, default_factory=dict)


async def test_json_containment_and_keys(items: list[Item]) -> None:
    assert await names(Item.objects.filter(data__contains={"n": 3})) == ["a"]
    assert await names(
        Item.objects.filter(
            data__contained_by={
                "n": 10,
                "x": 1,
                "author": {"name": "Bob", "age": 25},
                "tags": ["go"],
            }
        )
    ) == ["b", "c"]
    assert await names(Item.objects.filter(data__has_key="author")) == ["a", "b"]
    assert await names(Item.objects.filter(data__has_keys=["author", "n"])) == ["a", "b"]
    assert await names(Item.objects.filter(data__has_any_keys=["zzz", "tags"])) == ["a", "b"]
    assert await names(Item.objects.filter(extra__contains=[2])) == ["a"]


async def test_json_key_paths(items: list[Item]) -> None:
    assert await names(Item.objects.filter(data__author__name="Ann")) == ["a"]
    assert await names(Item.objects.filter(data__author__age__gt=30)) == ["a"]
    assert await names(Item.objects.filter(data__n__lte=3)) == ["a"]
    assert await names(Item.objects.filter(data__tags__contains=["go"])) == ["b"]
    assert await names(Item.objects.filter(data__author__name__in=["Ann", "Bob"])) == ["a", "b"]
    assert await names(Item.objects.filter(data__author__name__icontains="bo")) == ["b"]
    assert await names(Item.objects.filter(data__author__name__iexact="ann")) == ["a"]
    assert await names(Item.objects.filter(data__author__has_key="age")) == ["a", "b"]
    assert await names(Item.objects.filter(data__tags__0="py")) == ["a"]
    assert await names(Item.objects.exclude(data__author__name="Ann")) == ["b"]


async def test_json_key_paths_are_parameters(items: list[Item]) -> None:
    evil = "x') OR 1=1 --"
    qs = Item.objects.filter(**{f"data__{evil}__name": "Ann"})
    compiled = qs.to_sql()
    assert evil not in compiled.sql
    assert "Ann" not in compiled.sql
    assert compiled.params == ([evil, "name", '"Ann"'],)
    assert await qs.count() == 0
    # The same shape with other values reuses the SQL text.
    other = Item.objects.filter(data__a__name="Bob").to_sql()
    assert Item.objects.filter(data__b__name="Ann").to_sql().sql == other.sql


async def test_json_key_path_errors_name_the_fix(items: list[Item]) -> None:
    with pytest.raises(FieldError, match="has_key"):
        await Item.objects.filter(data__author__name=None).all()
    with pytest.raises(FieldError, match="has_key"):
        await Item.objects.filter(data__author__isnull=True).all()
    with pytest.raises(FieldError, match="`overlap` is not available on the JSON key `author`"):
        await Item.objects.filter(data__author__overlap=["x"]).all()


async def test_array_lookups(items: list[Item]) -> None:
    assert "TEXT[]" in create_table_sql(Item)[0]
    assert "INTEGER[]" in create_table_sql(Item)[0]
    assert await names(Item.objects.filter(tags__contains=["py"])) == ["a"]
    assert await names(Item.objects.filter(tags__contained_by=["go", "py", "web"])) == [
        "a",
        "b",
        "c",
    ]
    assert await names(Item.objects.filter(tags__overlap=["web", "go"])) == ["a", "b"]
    assert await names(Item.objects.filter(tags__len=2)) == ["a"]
    assert await names(Item.objects.filter(tags__len__gte=1)) == ["a", "b"]
    assert await names(Item.objects.filter(scores__contains=[2, 3])) == ["a"]
    loaded = await Item.objects.get(name="a")
    assert loaded.tags == ["py", "web"]
    assert loaded.scores == [1, 2, 3]


async def test_array_values_are_checked(items: list[Item]) -> None:
    with pytest.raises(ValidationError, match="items must be int"):
        Item(name="x", tags=[], scores=["1"])
    with pytest.raises(ValidationError, match="items must be str"):
        Item(name="x", tags=[1])
    with pytest.raises(FieldError, match="holds list values"):
        await Item.objects.filter(tags__contains="py").all()
    with pytest.raises(TypeError, match="needs `base_type=`"):

        class Bad(Model):
            class Meta:
                table = "pg_bad"

            id: int = Field(primary_key=True, auto=True)
            things: list[Any] = ArrayField()


async def test_generated_columns_are_computed_and_never_written(db: Any) -> None:
    await create_tables(Line)
    line = await Line.objects.create(order_no=7, price=2.5, quantity=4)
    assert (line.total, line.label) == (10.0, "#7")
    line.quantity = 2
    await line.save()
    await line.refresh_from_db()
    assert line.total == 5.0
    await Line.objects.bulk_create([Line(order_no=8, price=1.0), Line(order_no=9, price=3.0)])
    assert await Line.objects.filter(total__gte=3).count() == 2
    assert sorted(await Line.objects.values_list("label", flat=True)) == ["#7", "#8", "#9"]
    ddl = create_table_sql(Line)[0]
    assert '"total" DOUBLE PRECISION GENERATED ALWAYS AS (("price" * "quantity")) STORED' in ddl


class Tagged(Model):
    class Meta:
        table = "pg_tagged"

    id: int = Field(primary_key=True, auto=True)
    payload: dict[str, Any] = JSONField(default_factory=dict)
    size: int | None = GeneratedField(expression="jsonb_array_length(payload -> 'tags')")


async def test_nullable_generated_columns_in_bulk_create(db: Any) -> None:
    await create_tables(Tagged)
    made = await Tagged.objects.bulk_create(
        [Tagged(payload={"tags": [1, 2]}), Tagged(payload={"x": 1})]
    )
    assert len(made) == 2
    sizes = await Tagged.objects.order_by("id").values_list("size", flat=True)
    assert sizes == [2, None]


async def test_generated_field_options_are_checked() -> None:
    with pytest.raises(ValueError, match="only has STORED"):
        GeneratedField(expression="1", stored=False)
    with pytest.raises(ValueError, match="does not take `default`"):
        GeneratedField(expression="1", default=1)


async def test_unlogged_table_and_partial_covering_index(db: Any) -> None:
    await create_tables(Line)
    persistence = await db.fetchval(
        "SELECT relpersistence::text FROM pg_class WHERE relname = 'pg_lines'"
    )
    assert persistence == "u"
    definition = await db.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'pg_lines_open'"
    )
    assert "(order_no) INCLUDE (price) WHERE (open = true)" in definition


async def test_index_options_are_checked() -> None:
    with pytest.raises(ValueError, match="Unknown index method `bogus`"):
        Index("a", method="bogus")
    with pytest.raises(ValueError, match="takes a list of field names"):
        Index("a", include="b")
    assert Index(["a", "b"]).fields == ("a", "b")
    assert Index("v", method="hnsw").db_extension == "vector"
    assert Index("t", method="gin", opclass="gin_trgm_ops").db_extension == "pg_trgm"


class Owner(Model):
    class Meta:
        table = "pg_owners"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class Pet(Model):
    class Meta:
        table = "pg_pets"

    id: int = Field(primary_key=True, auto=True)
    owner_id: int = Field(foreign_key=Owner)
    name: str = Field()


async def test_select_for_update_of_locks_only_the_named_tables(database: Any, own_db: Any) -> None:
    # Committed tables, so a second connection can try to take the same row locks.
    await create_tables(Owner, Pet)
    try:
        owner = await Owner.objects.create(name="o")
        pet = await Pet.objects.create(owner_id=owner.id, name="p")
        qs = Pet.objects.select_related("owner").select_for_update(of=["self"])
        assert qs.to_sql().sql.endswith('FOR UPDATE OF "pg_pets"')
        both = Pet.objects.select_related("owner").select_for_update(of=["self", "owner"])
        assert both.to_sql().sql.endswith('FOR UPDATE OF "pg_pets", "t1"')
        async with database.transaction():
            pets = await qs.all()
            assert pets[0].owner.name == "o"
            async with own_db.transaction():
                free = "SELECT id FROM pg_owners WHERE id = $1 FOR UPDATE NOWAIT"
                assert await own_db.fetchval(free, owner.id) == owner.id
            with pytest.raises(asyncpg.LockNotAvailableError):
                async with own_db.transaction():
                    await own_db.fetchval(
                        "SELECT id FROM pg_pets WHERE id = $1 FOR UPDATE NOWAIT", pet.id
                    )
        with pytest.raises(FieldError, match="not joined"):
            Pet.objects.select_for_update(of=["owner"]).to_sql()
    finally:
        await database.execute("DROP TABLE pg_pets, pg_owners")


def readme_blocks() -> list[str]:
    import pathlib
    import re

    readme = pathlib.Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## PostgreSQL features", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


async def run_readme_block(block: str) -> dict[str, Any]:
    """Define the block's models, create their tables, then run its statements."""
    import ast

    definitions, statements = block.split("\n\n\nawait ", 1)
    namespace: dict[str, Any] = {"__name__": "readme_postgres"}
    exec(compile(definitions, "README.md", "exec"), namespace)
    models = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, Model)]
    await create_tables(*(m for m in models if m is not Model))
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    await eval(compile("await " + statements, "README.md", "exec", flags=flags), namespace)
    return namespace


async def test_readme_postgres_example_runs(db: Any) -> None:
    await db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    found = await run_readme_block(readme_blocks()[0])
    title = "Python web apps"
    for name in ("english", "by_ann", "tagged", "ranked", "on_the_fly", "fuzzy"):
        assert [a.title for a in found[name]] == [title], name
    assert found["ranked"][0].rank > 0
    assert found["exported"] == [title]
    article = found["english"][0]
    assert article.minutes == 6
    persistence = await db.fetchval(
        "SELECT relpersistence::text FROM pg_class WHERE relname = 'articles'"
    )
    assert persistence == "u"
