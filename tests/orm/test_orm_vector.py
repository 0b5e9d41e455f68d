"""pgvector on the embedded PostgreSQL 16 (which ships it); the machine's server has
no pgvector, which is where the missing-extension errors are checked."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from stellate.orm import Database, Field, FieldError, Model, ValidationError, VectorField
from stellate.orm.database import activate, active_databases, restore
from stellate.orm.embedded import EmbeddedPostgres
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.state import ProjectState
from stellate.orm.postgres import CosineDistance, ExtensionMissingError, InnerProduct, L2Distance
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pgserver") is None,
    reason="pgserver (the embedded PostgreSQL with pgvector) is not installed",
)


class Document(Model):
    class Meta:
        table = "vec_documents"
        database = "vectors"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    embedding: list[float] = VectorField(
        dimensions=3, index_type="hnsw", index_ops="vector_cosine_ops"
    )


class Plain(Model):
    class Meta:
        table = "vec_plain"
        database = "vectors"

    id: int = Field(primary_key=True, auto=True)
    embedding: list[float] | None = VectorField(dimensions=2, default=None)


def _server_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="stellate-pgvector-"))
    folder.chmod(0o755)
    return folder


@contextlib.asynccontextmanager
async def embedded_server() -> AsyncIterator[str]:
    """A throwaway embedded PostgreSQL (with pgvector); yields its URL.

    Its directory is not under pytest's tmp_path: concurrent pytest runs of one user
    prune each other's old numbered tmp folders, and the server (run as the
    `pgserver` user when root) needs to reach its data directory.
    """
    folder = _server_folder()
    server = EmbeddedPostgres(folder / "pgdata")
    try:
        yield await server.start()
    finally:
        await server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
async def embedded() -> AsyncIterator[str]:
    async with embedded_server() as url:
        yield url


@pytest.fixture
async def vdb(embedded: str) -> AsyncIterator[Database]:
    """The embedded server as alias ``vectors``, each test in a rolled-back transaction."""
    database = Database(embedded, alias="vectors", pool_size=2)
    await database.connect()
    previous = activate({**active_databases(), "vectors": database}, testing=True)
    try:
        async with database.pinned_transaction():
            await database.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await create_tables(Document, Plain)
            yield database
    finally:
        restore(previous)
        await database.close()


@pytest.fixture
async def documents(vdb: Database) -> list[Document]:
    rows = [
        ("x axis", [1.0, 0.0, 0.0]),
        ("mostly x", [0.9, 0.1, 0.0]),
        ("y axis", [0.0, 1.0, 0.0]),
        ("z far", [0.0, 0.0, 5.0]),
    ]
    return [await Document.objects.create(title=t, embedding=e) for t, e in rows]


async def test_vectors_round_trip(documents: list[Document]) -> None:
    loaded = await Document.objects.get(title="mostly x")
    assert loaded.embedding == pytest.approx([0.9, 0.1, 0.0])
    plain = await Plain.objects.create()
    assert (await Plain.objects.get(id=plain.id)).embedding is None
    await Plain.objects.bulk_create([Plain(embedding=[1.0, 2.0]), Plain(embedding=[3.0, 4.0])])
    stored = await Plain.objects.filter(embedding__isnull=False).order_by("id").all()
    assert [p.embedding for p in stored] == [[1.0, 2.0], [3.0, 4.0]]


async def test_distance_lookups(documents: list[Document]) -> None:
    near_x = Document.objects.filter(embedding__cosine_distance=([1.0, 0.0, 0.0], 0.1))
    assert sorted(d.title for d in await near_x.limit(10).all()) == ["mostly x", "x axis"]
    close = Document.objects.filter(embedding__l2_distance=([0.0, 1.0, 0.0], 0.5))
    assert [d.title for d in await close.all()] == ["y axis"]
    # <#> is the negative inner product: below -2 means an inner product above 2.
    aligned = Document.objects.filter(embedding__inner_product=([0.0, 0.0, 1.0], -2.0))
    assert [d.title for d in await aligned.all()] == ["z far"]


async def test_distance_expressions_order_nearest_first(documents: list[Document]) -> None:
    query = [1.0, 0.05, 0.0]
    by_cosine = await (
        Document.objects.annotate(distance=CosineDistance("embedding", query))
        .order_by("distance")
        .limit(2)
        .all()
    )
    assert [d.title for d in by_cosine] == ["x axis", "mostly x"]
    assert by_cosine[0].distance < by_cosine[1].distance
    by_l2 = await Document.objects.annotate(d=L2Distance("embedding", [0, 0, 4])).order_by("d")
    assert by_l2[0].title == "z far"
    by_ip = await Document.objects.annotate(d=InnerProduct("embedding", [0, 1, 0])).order_by("d")
    assert by_ip[0].title == "y axis"


async def test_hnsw_index_serves_nearest_neighbour_queries(documents: list[Document]) -> None:
    statements = create_table_sql(Document)
    assert any('USING hnsw ("embedding" vector_cosine_ops)' in s for s in statements)
    vdb = Document.objects.model._meta.database
    from stellate.orm import get_db

    db = get_db(vdb)
    await db.execute("SET LOCAL enable_seqscan = off")
    sql = (
        Document.objects.annotate(distance=CosineDistance("embedding", [1, 0, 0]))
        .order_by("distance")
        .limit(3)
        .to_sql()
    )
    plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql.sql}", *sql.params))
    assert "vec_documents_embedding_idx" in plan


async def test_vector_values_are_checked(documents: list[Document]) -> None:
    with pytest.raises(ValidationError, match="3 dimensions; got a vector of 2"):
        Document(title="bad", embedding=[1.0, 2.0])
    with pytest.raises(ValidationError, match="finite numbers"):
        Document(title="bad", embedding=[1.0, float("nan"), 0.0])
    with pytest.raises(FieldError, match="3 dimensions"):
        await Document.objects.filter(embedding__cosine_distance=([1.0], 0.3)).all()
    with pytest.raises(FieldError, match=r"\(vector, max_distance\) pair"):
        await Document.objects.filter(embedding__cosine_distance=[1.0, 0.0, 0.0]).all()
    with pytest.raises(FieldError, match="3 dimensions"):
        await Document.objects.annotate(d=CosineDistance("embedding", [1, 2])).all()
    with pytest.raises(ValueError, match="index_type `flat` is unknown"):
        VectorField(dimensions=3, index_type="flat")
    with pytest.raises(ValueError, match="positive int"):
        VectorField(dimensions=0)


async def test_without_pgvector_the_errors_name_the_extension(db: Any) -> None:
    # The machine's PostgreSQL (the `db` fixture) has no pgvector.
    available = await db.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name='vector'"
    )
    if available:
        pytest.skip("this PostgreSQL has pgvector; the missing-extension path needs one without")
    check, create = ops.CreateExtension(name="vector").forward_sql(ProjectState())
    assert create == 'CREATE EXTENSION IF NOT EXISTS "vector"'
    with pytest.raises(asyncpg.RaiseError, match=r"`vector` is not available.*pgvector"):
        async with db.transaction():
            await db.execute(check)

    class Stored(Model):
        class Meta:
            table = "vec_stored_as_text"

        id: int = Field(primary_key=True, auto=True)
        embedding: str = Field()

    await create_tables(Stored)
    with pytest.raises(ExtensionMissingError, match=r"extension `vector`.*pgvector"):
        async with db.transaction():
            await Stored.objects.annotate(d=CosineDistance("embedding", [1.0])).all()


async def test_readme_vector_example_runs(vdb: Database) -> None:
    from test_orm_postgres import readme_blocks, run_readme_block

    previous = activate({**active_databases(), "default": vdb}, testing=True)
    try:
        found = await run_readme_block(readme_blocks()[1])
    finally:
        restore(previous)
    assert len(found["nearest"]) == 1
    assert len(found["close"]) == 1
