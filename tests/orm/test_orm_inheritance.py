"""Inheritance on PostgreSQL: abstract bases (several levels), proxies, single-table inheritance."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stellate.orm import Database, Field, FieldError, Model, Q
from stellate.orm.migrations.models_state import load_models, state_from_models
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables

# -- abstract bases, several levels ------------------------------------------------------------


class InhTimestamped(Model):
    class Meta:
        abstract = True

    created_at: datetime | None = Field(default=None)
    updated_at: datetime | None = Field(default=None)


class InhSlugged(InhTimestamped):
    class Meta:
        abstract = True

    slug: str = Field(unique=True, index=True)

    def describe(self) -> str:
        return f"/{self.slug}"


class InhPage(InhSlugged):
    class Meta:
        table = "inh_pages"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()


class InhNote(InhSlugged):
    class Meta:
        table = "inh_notes"

    id: int = Field(primary_key=True, auto=True)
    slug: str = Field(max_length=10)  # a subclass redeclares an inherited field


# -- proxy models --------------------------------------------------------------------------------


class InhPost(Model):
    class Meta:
        table = "inh_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    published: bool = Field(default=False)
    score: int = Field(default=0)


class InhPublishedPost(InhPost):
    class Meta:
        proxy = True
        default_filter: ClassVar[dict[str, bool]] = {"published": True}

    def headline(self) -> str:
        return self.title.upper()


class InhPopularPublishedPost(InhPublishedPost):
    class Meta:
        proxy = True
        default_filter = Q(score__gte=10)


class InhDraftPost(InhPost):
    class Meta:
        proxy = True
        table = "inh_posts"

    @classmethod
    def get_queryset(cls) -> Any:
        return cls.objects.filter(published=False)


# -- single-table inheritance --------------------------------------------------------------------


class InhVehicle(Model):
    class Meta:
        table = "inh_vehicles"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    type: str = Field(default="vehicle")

    def wheels(self) -> int:
        return 4


class InhCar(InhVehicle):
    class Meta:
        sti = True
        sti_type = "car"

    doors: int = Field(default=4)


class InhTruck(InhVehicle):
    class Meta:
        sti = True
        sti_type = "truck"

    payload_tons: int = Field(default=0)
    doors: int = Field(default=2)

    def wheels(self) -> int:
        return 6


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(InhPage, InhNote, InhPost, InhVehicle)
    return db


# -- abstract ---------------------------------------------------------------------------------


async def test_multi_level_abstract_fields_reach_each_concrete_table(tables: Database) -> None:
    assert [f.name for f in InhPage._meta.field_list] == [
        "created_at",
        "updated_at",
        "slug",
        "id",
        "title",
    ]
    assert not InhSlugged._meta.owns_table
    assert create_table_sql(InhSlugged) == []
    page = await InhPage.objects.create(slug="home", title="Home")
    loaded = await InhPage.objects.get(slug="home")
    assert loaded.title == "Home"
    assert loaded.describe() == "/home"
    assert loaded.created_at is None
    # The redeclared field wins in the subclass only.
    assert InhNote._meta.fields["slug"].max_length == 10
    assert InhPage._meta.fields["slug"].max_length is None
    assert InhNote._meta.fields["slug"] is not InhPage._meta.fields["slug"]
    await InhNote.objects.create(slug="home")  # another table: no clash with the page
    assert await InhNote.objects.count() == 1
    assert page.pk is not None
    with pytest.raises(TypeError, match="abstract"):
        InhSlugged(slug="x")


# -- proxy ------------------------------------------------------------------------------------


async def test_proxy_shares_the_table_and_filters_by_default(tables: Database) -> None:
    assert InhPublishedPost._meta.table == "inh_posts"
    assert create_table_sql(InhPublishedPost) == []
    await InhPost.objects.create(title="draft")
    await InhPost.objects.create(title="live", published=True, score=3)
    await InhPost.objects.create(title="hit", published=True, score=12)
    published = await InhPublishedPost.objects.order_by("id")
    assert [p.title for p in published] == ["live", "hit"]
    assert all(type(p) is InhPublishedPost for p in published)
    assert published[0].headline() == "LIVE"
    # Filters inherit down a chain of proxies and combine with the queryset's own.
    assert [p.title for p in await InhPopularPublishedPost.objects.all()] == ["hit"]
    assert await InhPublishedPost.objects.filter(score__lt=5).count() == 1
    # get() by primary key respects the default filter too.
    draft = await InhPost.objects.get(title="draft")
    with pytest.raises(InhPublishedPost.DoesNotExist):
        await InhPublishedPost.objects.get(pk=draft.pk)
    assert issubclass(InhPublishedPost.DoesNotExist, InhPost.DoesNotExist)
    # The base sees every row.
    assert await InhPost.objects.count() == 3


async def test_proxy_writes_go_to_the_shared_table(tables: Database) -> None:
    post = await InhPublishedPost.objects.create(title="made by proxy", published=True)
    post.score = 7
    await post.save()
    assert (await InhPost.objects.get(pk=post.pk)).score == 7
    assert await InhPublishedPost.objects.filter(pk=post.pk).update(score=8) == 1
    await post.delete()
    assert await InhPost.objects.count() == 0


async def test_proxy_get_queryset_override(tables: Database) -> None:
    await InhPost.objects.create(title="draft")
    await InhPost.objects.create(title="live", published=True)
    assert [p.title for p in await InhDraftPost.get_queryset()] == ["draft"]
    assert [p.title for p in await InhPost.get_queryset().order_by("id")] == ["draft", "live"]


def test_proxy_definition_errors() -> None:
    with pytest.raises(TypeError, match="declares fields"):

        class InhBadProxy(InhPost):
            class Meta:
                proxy = True

            extra: int = Field(default=0)

    with pytest.raises(TypeError, match="shares the table `inh_posts`"):

        class InhOtherTableProxy(InhPost):
            class Meta:
                proxy = True
                table = "elsewhere"

    with pytest.raises(TypeError, match="no concrete model"):

        class InhAbstractProxy(InhSlugged):
            class Meta:
                proxy = True

    with pytest.raises(TypeError, match="default_filter"):

        class InhBadFilter(InhPost):
            class Meta:
                proxy = True
                default_filter = "published"


async def test_default_filter_names_unknown_fields_when_used(tables: Database) -> None:
    class InhTypoProxy(InhPost):
        class Meta:
            proxy = True
            default_filter: ClassVar[dict[str, bool]] = {"publishd": True}

    with pytest.raises(FieldError, match="publishd"):
        await InhTypoProxy.objects.all()


# -- single-table inheritance ---------------------------------------------------------------


async def test_sti_children_filter_on_the_discriminator_and_save_sets_it(tables: Database) -> None:
    car = InhCar(name="Golf")
    assert car.type == "car"  # set from construction on
    await car.save()
    truck = await InhTruck.objects.create(name="Actros", payload_tons=18, type="car")
    assert truck.type == "truck"  # save() writes the child's value whatever was set
    await InhVehicle.objects.create(name="Cart")
    assert [c.name for c in await InhCar.objects.all()] == ["Golf"]
    assert [t.name for t in await InhTruck.objects.all()] == ["Actros"]
    assert await InhCar.objects.count() == 1
    assert await InhCar.objects.filter(name="Actros").exists() is False
    sql = InhCar.objects.to_sql().sql
    assert '"type" = $1' in sql
    # get() by pk of another child's row: not found.
    with pytest.raises(InhCar.DoesNotExist):
        await InhCar.objects.get(pk=truck.pk)
    # Set-based writes of a child touch only its rows.
    assert await InhCar.objects.update(doors=5) == 1
    assert await InhTruck.objects.filter(name="Golf").delete() == 0
    assert (await InhCar.objects.get(pk=car.pk)).doors == 5


async def test_sti_base_queryset_returns_each_row_as_its_class(tables: Database) -> None:
    await InhCar.objects.create(name="Golf", doors=3)
    await InhTruck.objects.create(name="Actros", payload_tons=18)
    await InhVehicle.objects.create(name="Cart")
    rows = await InhVehicle.objects.order_by("id")
    assert [type(r) for r in rows] == [InhCar, InhTruck, InhVehicle]
    car, truck, cart = rows
    assert car.doors == 3
    assert car.wheels() == 4
    assert truck.payload_tons == 18
    assert truck.doors == 2
    assert truck.wheels() == 6
    assert "payload_tons" not in car.to_dict()
    assert "doors" not in cart.to_dict()
    assert car.to_dict() == {"id": car.pk, "name": "Golf", "type": "car", "doors": 3}
    # get() by pk on the root also returns the child class.
    assert type(await InhVehicle.objects.get(pk=truck.pk)) is InhTruck
    assert type(await InhVehicle.objects.filter(name="Cart").first()) is InhVehicle
    # A loaded child saves through its own class (its columns, its discriminator).
    truck.payload_tons = 20
    await truck.save()
    assert (await InhTruck.objects.get(pk=truck.pk)).payload_tons == 20
    # values() of the root: the root's columns only.
    assert await InhVehicle.objects.order_by("id").values_list("type", flat=True) == [
        "car",
        "truck",
        "vehicle",
    ]


async def test_sti_unknown_discriminator_stays_the_root(tables: Database) -> None:
    await tables.execute("INSERT INTO inh_vehicles (name, type) VALUES ('Boat', 'boat')")
    (boat,) = await InhVehicle.objects.all()
    assert type(boat) is InhVehicle
    assert boat.type == "boat"


async def test_sti_child_columns_are_nullable_on_the_shared_table(tables: Database) -> None:
    nullable = {
        r["column_name"]: r["is_nullable"]
        for r in await tables.fetch(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'inh_vehicles'"
        )
    }
    assert nullable == {
        "id": "NO",
        "name": "NO",
        "type": "NO",
        "doors": "YES",
        "payload_tons": "YES",
    }
    assert create_table_sql(InhCar) == []
    assert create_table_sql(InhTruck) == []
    # Migrations: the children's module alone brings the root's table, with every column.
    import sys

    module = sys.modules[__name__]
    models = load_models([module.__name__])
    assert InhVehicle in models
    assert InhCar not in models
    assert InhPublishedPost not in models
    table = state_from_models(models).tables["inh_vehicles"]
    columns = {c.name: c.null for c in table.columns}
    assert columns == {
        "id": False,
        "name": False,
        "type": False,
        "doors": True,
        "payload_tons": True,
    }


def test_sti_definition_errors() -> None:
    with pytest.raises(TypeError, match="no discriminator value"):

        class InhNoType(InhVehicle):
            class Meta:
                sti = True

    with pytest.raises(TypeError, match='both say `sti_type = "car"`'):

        class InhOtherCar(InhVehicle):
            class Meta:
                sti_type = "car"

    with pytest.raises(TypeError, match="one level deep"):

        class InhSportsCar(InhCar):
            class Meta:
                sti_type = "sports"

    with pytest.raises(TypeError, match="different types"):

        class InhBus(InhVehicle):
            class Meta:
                sti_type = "bus"

            doors: str = Field(default="two")

    with pytest.raises(TypeError, match="default of"):

        class InhPlain(InhVehicle):
            class Meta:
                sti_type = "vehicle"

    class InhThing(Model):
        class Meta:
            table = "inh_things"

        id: int = Field(primary_key=True, auto=True)

    with pytest.raises(TypeError, match="no discriminator field `type`"):

        class InhThingChild(InhThing):
            class Meta:
                sti_type = "child"

    with pytest.raises(TypeError, match="needs a concrete base"):

        class InhLonely(InhSlugged):
            class Meta:
                sti_type = "lonely"


async def test_readme_inheritance_section_runs(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ast
    import pathlib
    import re

    monkeypatch.chdir(tmp_path)  # the example stores files under ./media/
    readme = pathlib.Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## Inheritance, files, query cache and materialized", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    definitions, statements = match.group(1).split("\n\n\nstorage = ", 1)
    namespace: dict[str, Any] = {"__name__": "readme_inheritance"}
    exec(compile(definitions, "README.md", "exec"), namespace)
    await create_tables(*(namespace[n] for n in ("Post", "Vehicle", "VehicleCount")))
    namespace["data"] = b"\x89PNG\r\n\x1a\n" + bytes(16)  # what the upload carried
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    await eval(compile("storage = " + statements, "README.md", "exec", flags=flags), namespace)
    assert namespace["headlines"] == ["HELLO"]
    assert (tmp_path / "media" / "covers" / "photo.png").exists()
    assert [c.name for c in namespace["cars"]] == ["Golf"]
    assert [type(v).__name__ for v in namespace["vehicles"]] == ["Car", "Vehicle"]
    assert namespace["counts"] == {"car": 1, "vehicle": 1}
