"""Generated migration files pass `ruff check` and `ruff format --check` as written; a
schema-qualified many-to-many junction migrates on PostgreSQL."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stellate.orm import Database, Field, ManyToManyField, Model, OnDelete
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.autodetector import detect_changes
from stellate.orm.migrations.models_state import state_from_models
from stellate.orm.migrations.state import ProjectState
from stellate.orm.migrations.writer import migration_source, write_migration

ROOT = Path(__file__).parents[2]


class WfTag(Model):
    class Meta:
        table = "wf_tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class WfLink(Model):
    class Meta:
        table = "wf_links"

    id: int = Field(primary_key=True, auto=True)
    post_id: int = Field(foreign_key="WfPost", on_delete=OnDelete.CASCADE)
    tag_id: int = Field(foreign_key=WfTag, on_delete=OnDelete.CASCADE)
    weight: int = Field(default=1)


class WfPost(Model):
    class Meta:
        table = "wf_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    tags: ClassVar[ManyToManyField] = ManyToManyField(WfTag, through="wf_archive.post_tags")
    links: ClassVar[ManyToManyField] = ManyToManyField(
        WfTag, through=WfLink, related_name="linked_posts"
    )


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_ruff_clean(path: Path) -> None:
    checked = ruff("check", "--no-cache", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = ruff("format", "--no-cache", "--check", "--diff", str(path))
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def models_operations() -> list[ops.Operation]:
    return detect_changes(ProjectState(), state_from_models([WfTag, WfPost]))


def load_function(tmp_path: Path) -> Any:
    module = tmp_path / "wf_data_functions.py"
    module.write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations


            async def fill_titles(ctx):
                """No annotation: the file must not import MigrationContext for it."""
                await ctx.execute("UPDATE wf_posts SET title = upper(title)")


            async def unfill_titles(ctx: MigrationContext) -> None:
                await ctx.execute("UPDATE wf_posts SET title = lower(title)")
            '''
        )
    )
    spec = importlib.util.spec_from_file_location("wf_data_functions", module)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.mark.parametrize("kind", ["models", "empty", "replaces", "run_python", "no_context"])
def test_generated_migration_passes_ruff(tmp_path: Path, kind: str) -> None:
    functions = load_function(tmp_path)
    operations: list[ops.Operation] = []
    dependencies: list[str] = ["0001_initial"]
    replaces: list[str] = []
    if kind == "models":
        operations = models_operations()
        dependencies = []
    elif kind == "replaces":
        replaces = ["0001_initial", "0002_more"]
        operations = [ops.RunSQL(sql="SELECT 1")]
    elif kind == "run_python":
        operations = [
            ops.RunPython(code=functions.fill_titles, reverse_code=functions.unfill_titles)
        ]
    elif kind == "no_context":
        operations = [ops.RunPython(code=functions.fill_titles)]
    source = migration_source(
        description="Generated for a format check",
        dependencies=dependencies,
        operations=operations,
        replaces=replaces,
    )
    path = write_migration(tmp_path / "migrations", "0002_check", source, head_state=ProjectState())
    assert_ruff_clean(path)
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the file runs as written
    assert len(namespace["operations"]) == len(operations)
    assert ("MigrationContext" in namespace) == (kind == "run_python")
    assert "ops" in namespace  # kept for hand edits, even in an empty migration


def test_junction_index_names_are_never_schema_qualified() -> None:
    state = state_from_models([WfTag, WfPost])
    junction = state.tables["wf_archive.post_tags"]
    assert [index.name for index in junction.indexes] == ["wf_archive_post_tags_wftag_id_idx"]
    # The through model is the junction: no second table for it.
    assert "wf_posts_wf_tags" not in state.tables
    assert [c.name for c in state.tables["wf_links"].columns] == [
        "id",
        "post_id",
        "tag_id",
        "weight",
    ]


async def test_schema_qualified_junction_migrates_on_postgresql(db: Database) -> None:
    await db.execute("CREATE SCHEMA wf_archive")
    state = ProjectState()
    for operation in models_operations():
        for statement in operation.forward_sql(state):
            await db.execute(statement)
        operation.state_forwards(state)
    schema = await db.fetchval(
        "SELECT schemaname FROM pg_indexes WHERE indexname = 'wf_archive_post_tags_wftag_id_idx'"
    )
    assert schema == "wf_archive"
    post = await WfPost.objects.create(title="t")
    tag = await WfTag.objects.create(name="kept")
    await WfPost.tags.add(post, tag)
    await WfPost.links.add(post, tag, through_defaults={"weight": 3})
    assert [p.title for p in await WfPost.objects.filter(tags__name="kept")] == ["t"]
    assert [t.name for t in await WfTag.objects.filter(linked_posts__through__weight=3)] == ["kept"]
