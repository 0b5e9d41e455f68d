"""Migrations built from real models: the ORM works on them, and they match schema.py."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import asyncpg

from stellate.orm import (
    CheckConstraint,
    Field,
    Index,
    ManyToManyField,
    Model,
    Q,
    UniqueConstraint,
    connect,
)
from stellate.orm.fields import CASCADE, SET_NULL
from stellate.orm.migrations import MigrationExecutor, load_history
from stellate.orm.migrations.autodetector import detect_changes
from stellate.orm.migrations.models_state import state_from_models
from stellate.orm.migrations.state import ProjectState
from stellate.orm.migrations.verify import schema_drift
from stellate.orm.migrations.writer import migration_source, write_migration
from stellate.orm.schema import create_table_sql


class MigPublisher(Model):
    class Meta:
        table = "mig_publishers"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True)


class MigTag(Model):
    class Meta:
        table = "mig_tags"

    id: int = Field(primary_key=True, auto=True)
    label: str = Field()


class MigNovel(Model):
    class Meta:
        table = "mig_novels"
        indexes = (Index("title", "-id", name="mig_novels_recent"),)
        constraints = (
            CheckConstraint(check=Q(pages__gte=0), name="mig_novels_pages_positive"),
            UniqueConstraint(fields=["publisher_id", "title"], name="mig_novels_one_title"),
            UniqueConstraint(
                fields=["title"], name="mig_novels_one_draft", condition=Q(draft=True)
            ),
        )

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    pages: int = Field(default=0, db_default="0")
    draft: bool = Field(default=True)
    data: dict = Field(default=dict)  # type: ignore[type-arg]
    publisher_id: int | None = Field(default=None, foreign_key=MigPublisher, on_delete=SET_NULL)
    editor_id: int = Field(foreign_key=MigPublisher, on_delete=CASCADE, related_name="edited")
    tags: ClassVar = ManyToManyField(MigTag)


MODELS = [MigPublisher, MigTag, MigNovel]


async def test_orm_runs_on_the_migrated_schema(
    scratch_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    state = state_from_models(MODELS)
    assert sorted(state.tables) == [
        "mig_novels",
        "mig_novels_mig_tags",
        "mig_publishers",
        "mig_tags",
    ]
    operations = detect_changes(ProjectState(), state)
    source = migration_source(description="initial", dependencies=[], operations=operations)
    new_state = ProjectState()
    for operation in operations:
        operation.state_forwards(new_state)
    write_migration(folder, "0001_initial", source, head_state=new_state)
    await MigrationExecutor(scratch_url, load_history(folder)).migrate()
    assert await schema_drift(conn, state) == []

    async with connect(scratch_url):
        penguin = await MigPublisher.objects.create(name="Penguin")
        novel = await MigNovel.objects.create(title="Dune", editor_id=penguin.id, pages=412)
        tag = await MigTag.objects.create(label="sf")
        await MigNovel.tags.add(novel, tag)
        loaded = await MigNovel.objects.prefetch_related("tags").get(id=novel.id)
        assert [t.label for t in loaded.tags] == ["sf"]
        assert await MigNovel.objects.filter(pages__gte=400).count() == 1
    # Database defaults and constraints from the models are real.
    insert = (
        "INSERT INTO mig_novels (title, editor_id, draft, data) "
        "VALUES ('x', 1, false, '{}') RETURNING pages"
    )
    assert await conn.fetchval(insert) == 0


async def test_migrations_match_the_schema_module(conn: asyncpg.Connection) -> None:
    # Tests build tables with schema.create_table_sql; production runs migrations.
    # Both must produce the same schema (up to SERIAL vs identity for auto keys).
    for model in MODELS:
        for sql in create_table_sql(model):
            await conn.execute(sql)
    assert await conn.fetchval("SELECT to_regclass('mig_novels_mig_tags') IS NOT NULL")
    drift = await schema_drift(conn, state_from_models(MODELS))
    serial = [d for d in drift if ".id`: " in d and ("default is" in d or "identity is" in d)]
    assert [d for d in drift if d not in serial] == []
    assert len(serial) == 6  # a default and an identity line for each auto key


class TrigramText(Field):
    """A text column searched with trigram indexes: needs the pg_trgm extension."""

    db_extension = "pg_trgm"

    def db_type(self) -> str:
        return "TEXT"


def test_fields_can_require_an_extension() -> None:
    class MigNote(Model):
        class Meta:
            table = "mig_notes"
            indexes = (Index("body", name="mig_notes_body_trgm", method="gin"),)

        id: int = Field(primary_key=True, auto=True)
        body: str = TrigramText()

    state = state_from_models([MigNote])
    assert state.extensions == ["pg_trgm"]
    first = detect_changes(ProjectState(), state)[0]
    assert first.describe() == "Create extension `pg_trgm`"
