"""Model mixins on PostgreSQL: timestamps, soft deletion, ownership, optimistic locking."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from stellate.orm import (
    Database,
    Field,
    FieldError,
    Model,
    OwnershipMixin,
    SoftDeleteMixin,
    StaleObjectError,
    TimestampMixin,
    ValidationError,
    VersionedMixin,
    post_delete,
    pre_delete,
)
from stellate.orm.database import activate, restore
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


class MixNote(TimestampMixin, Model):
    class Meta:
        table = "mix_notes"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    views: int = Field(default=0)


class MixTask(SoftDeleteMixin, Model):
    class Meta:
        table = "mix_tasks"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    completed: bool = Field(default=False)


class MixUser(Model):
    class Meta:
        table = "mix_users"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class MixFolder(OwnershipMixin, SoftDeleteMixin, Model):
    class Meta:
        table = "mix_folders"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class MixDocument(TimestampMixin, SoftDeleteMixin, VersionedMixin, Model):
    class Meta:
        table = "mix_documents"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str = Field(default="")


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(MixNote, MixTask, MixUser, MixFolder, MixDocument)
    return db


async def row(db: Database, table: str, pk: int) -> dict[str, Any] | None:
    """The row as stored, read with plain SQL (not through the model's scoping)."""
    rows = await db.query(f"SELECT * FROM {table} WHERE id = $1", pk)
    return rows[0] if rows else None


# -- TimestampMixin ------------------------------------------------------------------------


async def test_timestamps_are_set_on_create_and_stored(tables: Database) -> None:
    before = dt.datetime.now(dt.UTC)
    note = await MixNote.objects.create(title="a")
    after = dt.datetime.now(dt.UTC)
    assert note.created_at is not None
    assert before <= note.created_at <= after
    assert note.updated_at == note.created_at
    stored = await row(tables, "mix_notes", note.id)
    assert stored is not None
    assert stored["created_at"] == note.created_at
    assert stored["updated_at"] == note.updated_at


async def test_save_moves_updated_at_and_keeps_created_at(tables: Database) -> None:
    note = await MixNote.objects.create(title="a")
    created = note.created_at
    loaded = await MixNote.objects.get(pk=note.id)
    loaded.title = "b"
    await loaded.save()
    assert loaded.created_at == created
    assert loaded.updated_at is not None
    assert created is not None
    assert loaded.updated_at > created
    stored = await row(tables, "mix_notes", note.id)
    assert stored is not None
    assert stored["created_at"] == created
    assert stored["updated_at"] == loaded.updated_at


async def test_save_with_update_fields_also_writes_updated_at(tables: Database) -> None:
    note = await MixNote.objects.create(title="a")
    first = note.updated_at
    note.title = "b"
    note.views = 99  # not in update_fields: must not be written
    await note.save(update_fields=["title"])
    stored = await row(tables, "mix_notes", note.id)
    assert stored is not None
    assert stored["title"] == "b"
    assert stored["views"] == 0
    assert first is not None
    assert stored["updated_at"] > first


async def test_an_explicit_created_at_is_kept(tables: Database) -> None:
    when = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    note = await MixNote.objects.create(title="imported", created_at=when)
    assert note.created_at == when
    assert note.updated_at is not None
    assert note.updated_at > when


async def test_queryset_update_sets_updated_at_unless_given(tables: Database) -> None:
    note = await MixNote.objects.create(title="a")
    first = note.updated_at
    assert first is not None
    assert await MixNote.objects.filter(pk=note.id).update(views=5) == 1
    stored = await row(tables, "mix_notes", note.id)
    assert stored is not None
    assert stored["views"] == 5
    assert stored["updated_at"] > first
    assert stored["created_at"] == note.created_at
    pinned = dt.datetime(2021, 6, 1, tzinfo=dt.UTC)
    rows = await MixNote.objects.filter(pk=note.id).update(
        updated_at=pinned, returning=["updated_at"]
    )
    assert rows == [{"updated_at": pinned}]


async def test_bulk_create_writes_values_as_given(tables: Database) -> None:
    # Documented: bulk_create runs no mixin hooks.
    (note,) = await MixNote.objects.bulk_create([MixNote(title="bulk")])
    stored = await row(tables, "mix_notes", note.id)
    assert stored is not None
    assert stored["created_at"] is None


# -- SoftDeleteMixin ------------------------------------------------------------------------


async def test_soft_delete_stamps_the_row_and_hides_it(tables: Database) -> None:
    task = await MixTask.objects.create(title="write tests")
    other = await MixTask.objects.create(title="keep")
    await task.delete()
    assert task.deleted_at is not None
    assert task.is_deleted
    stored = await row(tables, "mix_tasks", task.id)
    assert stored is not None  # the row is still there
    assert stored["deleted_at"] == task.deleted_at
    assert [t.id for t in await MixTask.objects.all()] == [other.id]
    assert await MixTask.objects.count() == 1
    assert not await MixTask.objects.filter(title="write tests").exists()
    with pytest.raises(MixTask.DoesNotExist):
        await MixTask.objects.get(pk=task.id)


async def test_unscoped_all_objects_and_deleted(tables: Database) -> None:
    task = await MixTask.objects.create(title="gone")
    other = await MixTask.objects.create(title="here")
    await task.delete()
    assert {t.id for t in await MixTask.objects.unscoped().all()} == {task.id, other.id}
    assert {t.id for t in await MixTask.all_objects.all()} == {task.id, other.id}
    assert [t.id for t in await MixTask.objects.deleted()] == [task.id]
    # unscoped() drops only the scope, not the caller's filters, wherever it is chained.
    assert [t.id for t in await MixTask.objects.filter(title="gone").unscoped()] == [task.id]
    assert await MixTask.objects.unscoped().filter(title="here").count() == 1
    assert (await MixTask.objects.unscoped().get(pk=task.id)).is_deleted


async def test_restore_brings_the_row_back(tables: Database) -> None:
    task = await MixTask.objects.create(title="oops")
    await task.delete()
    await task.restore()
    assert task.deleted_at is None
    stored = await row(tables, "mix_tasks", task.id)
    assert stored is not None
    assert stored["deleted_at"] is None
    assert (await MixTask.objects.get(pk=task.id)).title == "oops"


async def test_hard_delete_removes_the_row(tables: Database) -> None:
    task = await MixTask.objects.create(title="secret")
    await task.delete()
    await task.hard_delete()
    assert await row(tables, "mix_tasks", task.id) is None
    assert await MixTask.all_objects.count() == 0


async def test_soft_and_hard_delete_signals(tables: Database) -> None:
    seen: list[tuple[str, bool, Any]] = []

    async def before(sender: type[Model], instance: MixTask, soft: bool, **kwargs: Any) -> None:
        seen.append(("pre", soft, instance.deleted_at))

    def after(sender: type[Model], instance: MixTask, soft: bool, **kwargs: Any) -> None:
        seen.append(("post", soft, instance.deleted_at))

    pre_delete.connect(before, sender=MixTask)
    post_delete.connect(after, sender=MixTask)
    try:
        task = await MixTask.objects.create(title="t")
        await task.delete()
        stamp = task.deleted_at
        await task.hard_delete()
    finally:
        pre_delete.disconnect(before, sender=MixTask)
        post_delete.disconnect(after, sender=MixTask)
    assert stamp is not None
    assert seen == [
        ("pre", True, None),
        ("post", True, stamp),
        ("pre", False, stamp),
        ("post", False, stamp),
    ]


async def test_queryset_delete_soft_deletes_and_hard_delete_deletes(tables: Database) -> None:
    done = [await MixTask.objects.create(title=f"done {n}", completed=True) for n in range(2)]
    todo = await MixTask.objects.create(title="todo")
    await done[0].delete()
    first_stamp = (await row(tables, "mix_tasks", done[0].id) or {})["deleted_at"]
    # Only the rows not deleted yet are stamped; an earlier stamp is kept.
    assert await MixTask.objects.unscoped().filter(completed=True).delete() == 1
    assert (await row(tables, "mix_tasks", done[0].id) or {})["deleted_at"] == first_stamp
    assert (await row(tables, "mix_tasks", done[1].id) or {})["deleted_at"] is not None
    assert [t.id for t in await MixTask.objects.all()] == [todo.id]
    assert await MixTask.all_objects.count() == 3
    assert await MixTask.objects.deleted().hard_delete() == 2
    assert await row(tables, "mix_tasks", done[0].id) is None
    assert await row(tables, "mix_tasks", done[1].id) is None
    assert await MixTask.all_objects.count() == 1


async def test_soft_delete_of_an_unsaved_instance_is_an_error(tables: Database) -> None:
    with pytest.raises(ValueError, match=r"Cannot delete an unsaved `MixTask`"):
        await MixTask(title="new").delete()
    with pytest.raises(ValueError, match=r"Cannot restore an unsaved `MixTask`"):
        await MixTask(title="new").restore()


async def test_soft_delete_costs_one_query(tables: Database, assert_num_queries: Any) -> None:
    task = await MixTask.objects.create(title="t")
    async with assert_num_queries(1):
        await task.delete()
    async with assert_num_queries(1):
        await task.restore()


def test_objects_is_reached_through_the_class() -> None:
    with pytest.raises(AttributeError, match=r"MixTask\.objects"):
        _ = MixTask(title="x").objects  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"MixTask\.all_objects"):
        _ = MixTask(title="x").all_objects  # type: ignore[misc]


# -- OwnershipMixin -------------------------------------------------------------------------


async def test_for_owner_accepts_principals_models_and_ids(tables: Database) -> None:
    alice = await MixUser.objects.create(name="alice")
    bob = await MixUser.objects.create(name="bob")
    mine = await MixFolder.objects.create(name="a1", owner_id=alice.id)
    await MixFolder.objects.create(name="b1", owner_id=bob.id)
    principal = {"id": alice.id, "username": "alice"}
    for user in (principal, alice, alice.id):
        assert [f.id for f in await MixFolder.for_owner(user)] == [mine.id]
    assert [f.name for f in await MixFolder.for_owner(bob).filter(name__startswith="b")] == ["b1"]
    assert mine.is_owned_by(principal)
    assert not mine.is_owned_by(bob)


async def test_for_owner_keeps_soft_deleted_rows_hidden(tables: Database) -> None:
    folder = await MixFolder.objects.create(name="old", owner_id=1)
    await folder.delete()
    assert await MixFolder.for_owner(1).count() == 0
    assert await MixFolder.for_owner(1).unscoped().count() == 1  # type: ignore[attr-defined]


def test_for_owner_rejects_what_is_not_a_user() -> None:
    with pytest.raises(ValueError, match=r"no `id` key \(keys: `username`\)"):
        MixFolder.for_owner({"username": "alice"})
    with pytest.raises(ValueError, match=r"Owner `MixUser` is unsaved"):
        MixFolder.for_owner(MixUser(name="nobody"))
    with pytest.raises(TypeError, match=r"got `str` `'alice'`"):
        MixFolder.for_owner("alice")
    with pytest.raises(TypeError, match=r"got `True`"):
        MixFolder.for_owner(True)
    with pytest.raises(TypeError, match=r"Owner id must be an int, got `'7'`"):
        MixFolder.for_owner({"id": "7"})


def test_owner_id_is_required() -> None:
    with pytest.raises(ValidationError, match="owner_id"):
        MixFolder(name="orphan").full_clean()


# -- VersionedMixin -------------------------------------------------------------------------


async def test_versions_start_at_one_and_count_saves(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="v")
    assert doc.version == 1
    doc.title = "v2"
    await doc.save()
    assert doc.version == 2
    await doc.save(update_fields=["body"])
    assert doc.version == 3
    stored = await row(tables, "mix_documents", doc.id)
    assert stored is not None
    assert stored["version"] == 3
    assert stored["title"] == "v2"


async def test_a_stale_save_raises_and_writes_nothing(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="original")
    first = await MixDocument.objects.get(pk=doc.id)
    second = await MixDocument.objects.get(pk=doc.id)
    first.title = "first wins"
    await first.save()
    second.title = "second loses"
    second.body = "lost"
    with pytest.raises(StaleObjectError) as caught:
        await second.save()
    error = caught.value
    assert error.model == "MixDocument"
    assert error.pk == doc.id
    assert error.expected_version == 1
    assert error.current_version == 2
    assert "`MixDocument`" in str(error)
    assert "version `1`" in str(error)
    assert "version `2`" in str(error)
    assert "refresh_from_db" in str(error)
    assert second.version == 1  # the instance is not advanced either
    stored = await row(tables, "mix_documents", doc.id)
    assert stored is not None
    assert (stored["title"], stored["body"], stored["version"]) == ("first wins", "", 2)
    # The documented recovery works.
    await second.refresh_from_db()
    second.body = "reapplied"
    await second.save()
    assert second.version == 3


async def test_update_fields_saves_are_checked_too(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="a")
    stale = await MixDocument.objects.get(pk=doc.id)
    await doc.save()
    stale.body = "x"
    with pytest.raises(StaleObjectError):
        await stale.save(update_fields=["body"])


async def test_queryset_update_bumps_the_version(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="a")
    assert await MixDocument.objects.filter(pk=doc.id).update(body="bulk") == 1
    stored = await row(tables, "mix_documents", doc.id)
    assert stored is not None
    assert stored["version"] == 2
    doc.title = "stale now"
    with pytest.raises(StaleObjectError, match="version `2`"):
        await doc.save()


async def test_saving_a_deleted_row_is_stale(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="a")
    await MixDocument.objects.filter(pk=doc.id).hard_delete()
    with pytest.raises(StaleObjectError, match="no longer exists") as caught:
        await doc.save()
    assert caught.value.current_version is None
    assert await row(tables, "mix_documents", doc.id) is None  # not re-inserted


async def test_soft_delete_of_a_versioned_model_updates_the_instance(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="a")
    await doc.delete()
    assert doc.version == 2  # the soft delete is an UPDATE, which bumps the version
    doc.title = "edited after delete"
    await doc.save()  # the instance holds the row's version, so this is not stale
    assert doc.version == 3


async def test_versioned_save_is_one_query(tables: Database, assert_num_queries: Any) -> None:
    doc = await MixDocument.objects.create(title="a")
    async with assert_num_queries(1):
        await doc.save()


def test_mixin_fields_join_the_model() -> None:
    assert set(MixDocument._meta.fields) == {
        "id",
        "title",
        "body",
        "created_at",
        "updated_at",
        "deleted_at",
        "version",
    }
    assert MixDocument._meta.pk.name == "id"


# -- concurrency: two saves on two real connections ------------------------------------------


@pytest.fixture
async def committed(test_url: str) -> AsyncIterator[tuple[Database, type[MixDocument]]]:
    """MixDocument in a committed table of its own, on a pool of three connections."""
    table = f"mix_race_{uuid.uuid4().hex[:8]}"

    race_table = table

    class RaceDocument(MixDocument):
        class Meta:
            table = race_table

    database = Database(test_url, alias="default", pool_size=3, acquire_timeout=5.0)
    await database.connect()
    previous = activate({"default": database}, testing=False)
    try:
        for statement in create_table_sql(RaceDocument):
            await database.execute(statement)
        yield database, RaceDocument
    finally:
        await database.execute(f'DROP TABLE IF EXISTS "{table}"')
        restore(previous)
        await database.close()


async def test_concurrent_saves_from_one_version_let_exactly_one_win(
    committed: tuple[Database, type[MixDocument]],
) -> None:
    _, model = committed
    doc = await model.objects.create(title="start")
    copies = [await model.objects.get(pk=doc.id) for _ in range(2)]
    for number, copy in enumerate(copies):
        copy.title = f"writer {number}"
    results = await asyncio.gather(*(c.save() for c in copies), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], StaleObjectError)
    winner = copies[results.index(None)]
    stored = await model.objects.get(pk=doc.id)
    assert (stored.title, stored.version) == (winner.title, 2)


async def test_a_save_waiting_on_the_row_lock_sees_the_new_version(
    committed: tuple[Database, type[MixDocument]],
) -> None:
    # A check-then-write would read version 1 while the first writer's transaction is
    # open (reads do not block), then overwrite its change once the lock is released.
    database, model = committed
    doc = await model.objects.create(title="start")
    first = await model.objects.get(pk=doc.id)
    second = await model.objects.get(pk=doc.id)
    first.title = "first"
    second.title = "second"
    saved_first = asyncio.Event()
    release = asyncio.Event()

    async def first_writer() -> None:
        async with database.transaction():
            await first.save()
            saved_first.set()
            await release.wait()

    writer = asyncio.create_task(first_writer())
    await saved_first.wait()
    waiting = asyncio.create_task(second.save())
    for _ in range(200):  # until the second UPDATE is blocked on the row lock
        blocked = await database.query_val(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE ' || $1 || '%'",
            model._meta.qtable,
        )
        if blocked:
            break
        await asyncio.sleep(0.01)
    assert blocked == 1
    assert not waiting.done()
    release.set()
    await writer
    with pytest.raises(StaleObjectError) as caught:
        await waiting
    assert (caught.value.expected_version, caught.value.current_version) == (1, 2)
    stored = await model.objects.get(pk=doc.id)
    assert (stored.title, stored.version) == ("first", 2)


# -- the auth guide's API key model: SignedAPIKeyMixin combined with TimestampMixin ---------


async def test_signed_api_key_mixin_with_timestamps(tables: Database) -> None:
    signed_keys = pytest.importorskip("stellate.auth.signed_keys")
    from stellate.core.signing import SigningKey

    class APIKey(signed_keys.SignedAPIKeyMixin, TimestampMixin):  # type: ignore[misc]
        class Meta:
            table = "mix_api_keys"

        class TokenConfig:
            keys = [SigningKey(secret="apikey-2026-q2", version=1)]  # noqa: RUF012
            key_display_prefix = "sk_myapp_"

        id: int = Field(primary_key=True, auto=True)
        user_id: int = Field()
        name: str = Field(default="")

    await create_tables(APIKey)
    result = await APIKey.generate(user_id=7, name="Production Key")
    key = result.key
    assert key.created_at is not None
    assert key.updated_at == key.created_at
    verified = await APIKey.verify(result.raw_key)
    assert verified is not None
    assert verified.id == key.id
    assert verified.created_at == key.created_at
    # verify() records last use with QuerySet.update(), which also moves updated_at.
    stored = await row(tables, "mix_api_keys", key.id)
    assert stored is not None
    assert stored["last_used_at"] is not None
    assert stored["updated_at"] > key.created_at
    await verified.revoke()
    assert await APIKey.verify(result.raw_key) is None


class MixProject(SoftDeleteMixin, Model):
    class Meta:
        table = "mix_projects"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class MixIssue(SoftDeleteMixin, Model):
    class Meta:
        table = "mix_issues"

    id: int = Field(primary_key=True, auto=True)
    project_id: int = Field(foreign_key=MixProject, related_name="issues")


async def test_soft_deleted_rows_in_relations(tables: Database) -> None:
    await create_tables(MixProject, MixIssue)
    project = await MixProject.objects.create(name="p")
    kept = await MixIssue.objects.create(project_id=project.id)
    gone = await MixIssue.objects.create(project_id=project.id)
    await gone.delete()
    (loaded,) = await MixProject.objects.prefetch_related("issues")
    assert [i.id for i in loaded.issues] == [kept.id]
    assert [i.id for i in await project.fetch("issues")] == [kept.id]
    await project.delete()
    (issue,) = await MixIssue.objects.prefetch_related("project")
    assert issue.project is None  # the parent is hidden like any soft-deleted row
    (joined,) = await MixIssue.objects.select_related("project")
    assert joined.project.id == project.id  # a JOIN follows the key regardless


async def test_readme_signals_and_mixins_example_runs(tables: Database) -> None:
    import ast
    import pathlib
    import re

    readme = pathlib.Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## Signals and mixins", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    definitions, statements = match.group(1).split("\n\n\ndoc = ", 1)
    indexed: dict[int, str] = {}

    class SearchIndex:
        async def put(self, key: int, text: str) -> None:
            indexed[key] = text

    namespace: dict[str, Any] = {
        "__name__": "readme_mixins",
        "search_index": SearchIndex(),
        "request": SimpleNamespace(user={"id": 42, "username": "ann"}),
    }
    exec(compile(definitions, "README.md", "exec"), namespace)
    document = namespace["Document"]
    try:
        await create_tables(document)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        await eval(compile("doc = " + statements, "README.md", "exec", flags=flags), namespace)
    finally:
        from stellate.orm import post_save

        assert post_save.disconnect(namespace["index_document"], sender=document)
    doc = namespace["doc"]
    assert [d.id for d in namespace["mine"]] == [doc.id]
    assert namespace["stale_copy"].version == 2
    assert namespace["stale_copy"].title == "Spec v2"
    assert [d.id for d in namespace["everything"]] == [doc.id]
    assert doc.deleted_at is None
    assert doc.owner_id == 42
    assert indexed == {doc.id: "Spec v2"}


async def test_a_versioned_save_without_the_version_loaded_is_refused(tables: Database) -> None:
    doc = await MixDocument.objects.create(title="a")
    partial = await MixDocument.objects.defer("version").get(pk=doc.id)
    partial.title = "b"
    with pytest.raises(FieldError, match=r"`MixDocument.version` is not loaded"):
        await partial.save()
    assert (await MixDocument.objects.get(pk=doc.id)).title == "a"
    await partial.fetch("version")
    await partial.save()
    assert partial.version == 2
