"""makemigrations -> migrate -> introspect for the PostgreSQL features: extensions,
generated columns, GIN/HNSW/trigram indexes, partial and covering indexes, UNLOGGED."""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from stellate.orm import F, Field, GeneratedField, Index, Model, Q, VectorField
from stellate.orm.migrations import MigrationError, MigrationExecutor
from stellate.orm.migrations.autodetector import detect_changes
from stellate.orm.migrations.loader import load_history
from stellate.orm.migrations.models_state import state_from_models
from stellate.orm.migrations.verify import schema_drift
from stellate.orm.migrations.writer import migration_source, write_migration
from stellate.orm.postgres import SearchVectorField
from stellate.orm.testing import database_url_with_name

# The indexes of the three versions of one table (Index objects are plain data).
LIVE = Index("author", condition=Q(published=True), include=["title"], name="mig_live")
TRIGRAM = Index("title", method="gin", opclass="gin_trgm_ops", name="mig_title_trgm")
COVERING = Index("words", include=["author", "title"], name="mig_words_cover")


class EntryColumns(Model):
    class Meta:
        abstract = True

    id: int = Field(primary_key=True, auto=True)
    author: str = Field()
    title: str = Field()
    body: str = Field(default="")
    published: bool = Field(default=False)
    words: int = Field(default=0)
    search: str | None = SearchVectorField(["title", "body"], config="english")


class Entry(EntryColumns):
    class Meta:
        table = "mig_entries"
        unlogged = True
        indexes = [LIVE, TRIGRAM]  # noqa: RUF012 - Meta options are class attributes

    score: int = GeneratedField(expression=F("words") * 2)


class EntryV2(EntryColumns):
    """The same table one migration later: a generated column and a covering index more."""

    class Meta:
        table = "mig_entries"
        unlogged = True
        indexes = [LIVE, TRIGRAM, COVERING]  # noqa: RUF012 - Meta options are class attributes

    score: int = GeneratedField(expression=F("words") * 2)
    shout: str = GeneratedField(expression="upper(title)")


class EntryV3(EntryColumns):
    """One more step: `score` computed differently (the column is dropped and re-added)."""

    class Meta:
        table = "mig_entries"
        unlogged = True
        indexes = [  # noqa: RUF012 - Meta options are class attributes
            LIVE,
            TRIGRAM,
            COVERING,
            Index("score", name="mig_score"),
        ]

    score: int = GeneratedField(expression=F("words") * 3)
    shout: str = GeneratedField(expression="upper(title)")


class Embedding(Model):
    class Meta:
        table = "mig_embeddings"

    id: int = Field(primary_key=True, auto=True)
    vector: list[float] = VectorField(dimensions=4, index_type="hnsw", index_ops="vector_l2_ops")
    coarse: list[float] | None = VectorField(
        dimensions=2, index_type="ivfflat", index_ops="vector_ip_ops", default=None
    )


async def make_migration(folder: Path, models: list[type[Model]]) -> list[str]:
    """What `stellate makemigrations` does; returns the operation descriptions."""
    history = load_history(folder)
    chain = history.chain()
    current = history.state_at(chain)
    operations = detect_changes(current, state_from_models(models))
    if not operations:
        return []
    new_state = current.clone()
    for operation in operations:
        operation.state_forwards(new_state)
    name = f"{len(chain) + 1:04d}_auto"
    source = migration_source(
        description="auto",
        dependencies=[chain[-1].name] if chain else [],
        operations=operations,
    )
    write_migration(folder, name, source, head_state=new_state)
    return [operation.describe() for operation in operations]


async def migrate_and_verify(url: str, folder: Path) -> None:
    history = load_history(folder)
    await MigrationExecutor(url, history).migrate()
    connection = await asyncpg.connect(url)
    try:
        assert await schema_drift(connection, history.state_at(history.chain())) == []
    finally:
        await connection.close()


@pytest.fixture
async def scratch_url() -> AsyncIterator[str]:
    base = os.environ.get("STELLATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("needs STELLATE_TEST_DATABASE_URL (a server PostgreSQL with pg_trgm)")
    name = f"stellate_migpg_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield database_url_with_name(base, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_features_migrate_and_introspect(scratch_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    described = await make_migration(folder, [Entry])
    assert described[0] == "Create extension `pg_trgm`"
    await migrate_and_verify(scratch_url, folder)
    assert await make_migration(folder, [Entry]) == []  # nothing left to migrate

    described = await make_migration(folder, [EntryV2])
    assert described == [
        "Add column `shout` to `mig_entries`",
        "Create index `mig_words_cover` on `mig_entries`",
    ]
    await migrate_and_verify(scratch_url, folder)

    connection = await asyncpg.connect(scratch_url)
    try:
        persistence = await connection.fetchval(
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'mig_entries'"
        )
        assert persistence == "u"
        generated = await connection.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'mig_entries'::regclass "
            "AND attgenerated = 's' ORDER BY attname"
        )
        assert [r[0] for r in generated] == ["score", "search", "shout"]
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'mig_entries'"
            )
        }
        assert indexes["mig_live"].endswith("(author) INCLUDE (title) WHERE (published = true)")
        assert "USING gin (title gin_trgm_ops)" in indexes["mig_title_trgm"]
        assert indexes["mig_words_cover"].endswith("(words) INCLUDE (author, title)")
        assert "USING gin (search)" in indexes["mig_entries_search_idx"]
        await connection.execute(
            "INSERT INTO mig_entries (author, title, body, published, words) "
            "VALUES ('ann', 'Python search', 'fast text', true, 21)"
        )
        row = await connection.fetchrow("SELECT score, shout, search FROM mig_entries")
        assert (row["score"], row["shout"]) == (42, "PYTHON SEARCH")
        assert "'python'" in row["search"]
    finally:
        await connection.close()

    described = await make_migration(folder, [EntryV3])
    assert described == [
        "Alter column `score` of `mig_entries`",
        "Create index `mig_score` on `mig_entries`",
    ]
    await migrate_and_verify(scratch_url, folder)
    connection = await asyncpg.connect(scratch_url)
    try:
        assert await connection.fetchval("SELECT score FROM mig_entries") == 63
    finally:
        await connection.close()
    # Back to the previous expression: the reverse also drops and re-adds the column.
    await MigrationExecutor(scratch_url, load_history(folder)).migrate("0002")
    connection = await asyncpg.connect(scratch_url)
    try:
        assert await connection.fetchval("SELECT score FROM mig_entries") == 42
    finally:
        await connection.close()


async def test_migrating_vectors_on_the_embedded_server(tmp_path: Path) -> None:
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("pgserver (the embedded PostgreSQL with pgvector) is not installed")
    from test_orm_vector import embedded_server

    async with embedded_server() as url:
        folder = tmp_path / "migrations"
        described = await make_migration(folder, [Embedding])
        assert described[0] == "Create extension `vector`"
        await migrate_and_verify(url, folder)
        connection = await asyncpg.connect(url)
        try:
            definitions = [
                r[0]
                for r in await connection.fetch(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = 'mig_embeddings' "
                    "ORDER BY indexname"
                )
            ]
            assert any("USING ivfflat (coarse vector_ip_ops)" in d for d in definitions)
            assert any("USING hnsw (vector vector_l2_ops)" in d for d in definitions)
            kind = await connection.fetchval(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'mig_embeddings'::regclass AND attname = 'vector'"
            )
            assert kind == "vector(4)"
        finally:
            await connection.close()


async def test_vector_migration_without_pgvector_names_the_fix(
    scratch_url: str, tmp_path: Path
) -> None:
    connection = await asyncpg.connect(scratch_url)
    try:
        available = await connection.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        )
    finally:
        await connection.close()
    if available:
        pytest.skip("this PostgreSQL has pgvector; the missing-extension path needs one without")
    folder = tmp_path / "migrations"
    await make_migration(folder, [Embedding])
    with pytest.raises(MigrationError, match=r"`vector` is not available.*install pgvector"):
        await MigrationExecutor(scratch_url, load_history(folder)).migrate()
