"""The expression, CTE and raw-SQL samples of the reference guides, imports changed only.

Source: ``Patterns & Best Practices`` (000): "Exists / NotExists / OuterRef",
"with_cte — Common Table Expressions", "F Expressions — Atomic Updates",
"UPDATE...RETURNING" and the ``to_sql()`` preview with ``join_related``.
``hyperdjango.expressions`` becomes ``stellate.orm``. Each sample is pasted as written
inside a test; what it leaves implicit (models, rows, variables such as
``tenant_id``) is set up around it and marked "setup". The Models & Fields guide (001)
has no expression samples. The ``Exists`` / ``F`` / ``returning`` samples also run in
``test_reference_samples.py`` (with select_related); here they run with the rest of
the expression API the guide names: ``~Exists`` (NotExists), ``OuterRef`` inside
``Q``, ``join_related`` and what the guide says each compiles to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stellate.orm import Exists, F, Field, Model, OuterRef, Q
from stellate.orm.testing import create_tables


class Tenant(Model):  # setup: the model of the with_cte sample
    class Meta:
        table = "hyper_tenants"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    parent_id: int | None = Field(default=None, foreign_key="Tenant", related_name="children")


class Owner(Model):  # setup
    class Meta:
        table = "hn_users"

    id: int = Field(primary_key=True, auto=True)
    username: str = Field()


class Forum(Model):  # setup
    class Meta:
        table = "hn_forums"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    is_public: bool = Field(default=True)
    owner_id: int = Field(foreign_key=Owner)


class StatusEvent(Model):  # setup: hyperdjango.timeline.StatusEvent
    class Meta:
        table = "hyper_status_events"

    id: int = Field(primary_key=True, auto=True)
    entity_type: str = Field(default="forum")
    entity_id: int = Field()
    status: str = Field(default="hidden")
    ended_at: datetime | None = Field(default=None)


async def test_with_cte_recursive_tenant_ancestors(db: Any) -> None:
    await create_tables(Tenant)  # setup
    root = await Tenant.objects.create(name="root")
    mid = await Tenant.objects.create(name="mid", parent_id=root.id)
    leaf = await Tenant.objects.create(name="leaf", parent_id=mid.id)
    await Tenant.objects.create(name="other")
    tenant_id = leaf.id

    # Walk the tenant ancestor chain with a recursive CTE
    rows = await (
        Tenant.objects.values("id")
        .with_cte(
            "ancestors",
            "SELECT id, parent_id FROM hyper_tenants WHERE id = {idx} "
            "UNION ALL "
            "SELECT t.id, t.parent_id FROM hyper_tenants t "
            "JOIN ancestors a ON t.id = a.parent_id",
            tenant_id,
            recursive=True,
        )
        .where_raw("id IN (SELECT id FROM ancestors)")
        .all()
    )

    assert sorted(r["id"] for r in rows) == sorted([root.id, mid.id, leaf.id])
    # "Compiles to:" WITH RECURSIVE ancestors AS (... WHERE id = $1 UNION ALL ...)
    # SELECT id FROM hyper_tenants WHERE id IN (SELECT id FROM ancestors)
    compiled = (
        Tenant.objects.values("id")
        .with_cte(
            "ancestors",
            "SELECT id, parent_id FROM hyper_tenants WHERE id = {idx} "
            "UNION ALL "
            "SELECT t.id, t.parent_id FROM hyper_tenants t "
            "JOIN ancestors a ON t.id = a.parent_id",
            tenant_id,
            recursive=True,
        )
        .where_raw("id IN (SELECT id FROM ancestors)")
        .to_sql()
    )
    assert compiled.sql == (
        "WITH RECURSIVE ancestors AS (SELECT id, parent_id FROM hyper_tenants WHERE id = $1 "
        "UNION ALL SELECT t.id, t.parent_id FROM hyper_tenants t JOIN ancestors a ON "
        't.id = a.parent_id) SELECT "hyper_tenants"."id" AS "id" FROM "hyper_tenants" '
        "WHERE (id IN (SELECT id FROM ancestors))"
    )
    assert compiled.params == (tenant_id,)


async def test_multiple_ctes_accumulate_and_any_recursive_promotes(db: Any) -> None:
    await create_tables(Tenant)  # setup
    root = await Tenant.objects.create(name="root")
    child = await Tenant.objects.create(name="child", parent_id=root.id)

    # Multiple .with_cte() calls accumulate into a comma-separated WITH list in
    # declaration order. Any recursive=True clause promotes the entire WITH to
    # WITH RECURSIVE.
    qs = (
        Tenant.objects.with_cte("named", "SELECT id FROM hyper_tenants WHERE name = {idx}", "child")
        .with_cte(
            "ancestors",
            "SELECT id, parent_id FROM hyper_tenants WHERE id IN (SELECT id FROM named) "
            "UNION ALL SELECT t.id, t.parent_id FROM hyper_tenants t "
            "JOIN ancestors a ON t.id = a.parent_id",
            recursive=True,
        )
        .where_raw("id IN (SELECT id FROM ancestors)")
    )
    assert qs.to_sql().sql.startswith("WITH RECURSIVE named AS (")
    assert ", ancestors AS (" in qs.to_sql().sql
    assert sorted(t.id for t in await qs.all()) == [root.id, child.id]


async def test_exists_not_exists_outer_ref(db: Any) -> None:
    await create_tables(Owner, Forum, StatusEvent)  # setup
    owner = await Owner.objects.create(username="ann")
    shown = await Forum.objects.create(name="shown", owner_id=owner.id)
    hidden = await Forum.objects.create(name="hidden", owner_id=owner.id)
    await Forum.objects.create(name="private", is_public=False, owner_id=owner.id)
    await StatusEvent.objects.create(entity_id=hidden.id)
    await StatusEvent.objects.create(entity_id=shown.id, ended_at=datetime(2024, 1, 1))

    # "Public forums that do NOT have an active 'hidden' status event"
    visible = (
        await Forum.objects.filter(is_public=True)
        .exclude(
            Exists(
                StatusEvent.objects.filter(
                    entity_type="forum",
                    entity_id=OuterRef("id"),  # ← hn_forums.id
                    status="hidden",
                    ended_at=None,
                )
            )
        )
        .all()
    )
    assert [f.name for f in visible] == ["shown"]

    # ~Exists(...) produces a NotExists — equivalent to passing an Exists to exclude().
    active_hidden = StatusEvent.objects.filter(
        entity_type="forum", entity_id=OuterRef("id"), status="hidden", ended_at=None
    )
    not_exists = await Forum.objects.filter(is_public=True).filter(~Exists(active_hidden)).all()
    assert [f.id for f in not_exists] == [f.id for f in visible]

    # OuterRef may appear inside Q(...) subexpressions on the inner queryset.
    touched = Exists(
        StatusEvent.objects.filter(
            Q(entity_id=OuterRef("id")) & (Q(ended_at=None) | Q(status=OuterRef("name")))
        )
    )
    names = await Forum.objects.filter(touched).values_list("name", flat=True)
    assert names == ["hidden"]
    # "Compiles to:" ... AND NOT EXISTS (SELECT ... WHERE entity_type = $2 AND entity_id =
    # hn_forums.id AND status = $3 AND ended_at IS NULL)
    sql = Forum.objects.filter(is_public=True).filter(~Exists(active_hidden)).to_sql().sql
    assert 'NOT EXISTS (SELECT 1 FROM "hyper_status_events"' in sql
    assert '"entity_id" = "hn_forums"."id"' in sql
    assert '"ended_at" IS NULL' in sql


async def test_to_sql_preview_with_join_related(db: Any) -> None:
    await create_tables(Owner, Forum, StatusEvent)  # setup
    owner = await Owner.objects.create(username="ann")
    await Forum.objects.create(name="f", owner_id=owner.id)

    # "when verifying select_related / join_related / Exists / with_cte SQL emission
    # matches your mental model"
    qs = (
        Forum.objects.filter(is_public=True)
        .exclude(Exists(StatusEvent.objects.filter(entity_id=OuterRef("id"))))
        .join_related(owner="owner_id")
        .order_by("name")
    )
    print(qs.to_sql())
    text = str(qs.to_sql())
    assert text.startswith("-- SELECT (1 params)")
    assert 'LEFT JOIN "hn_users"' in text
    forums = await qs.all()
    assert forums[0].owner_id == owner.id
    assert forums[0].owner.username == "ann"  # type: ignore[attr-defined]


async def test_f_expressions_and_update_returning(db: Any) -> None:
    class Post(Model):  # setup
        class Meta:
            table = "posts"

        id: int = Field(primary_key=True, auto=True)
        author_id: int = Field()
        score: int = Field(default=0)
        upvotes: int = Field(default=0)

    class Category(Model):  # setup
        class Meta:
            table = "categories"

        id: int = Field(primary_key=True, auto=True)
        note_count: int = Field(default=0)

    await create_tables(Post, Category)  # setup
    post_id = (await Post.objects.create(author_id=7, score=38)).id
    cat_id = (await Category.objects.create(note_count=1)).id
    delta = 2

    # Atomic increment — safe under concurrency
    await Post.objects.filter(id=post_id).update(score=F("score") + 1)

    # Multiple F expressions in one call
    await Post.objects.filter(id=post_id).update(
        score=F("score") + delta,
        upvotes=F("upvotes") + 1,
    )

    # Atomic decrement with F expression
    await Category.objects.filter(id=cat_id).update(note_count=F("note_count") - 1)

    rows = await Post.objects.filter(id=post_id).update(
        score=F("score") + 1,
        returning=["id", "score", "author_id"],
    )
    # rows = [{"id": 1, "score": 42, "author_id": 7}]
    assert rows == [{"id": post_id, "score": 42, "author_id": 7}]
    assert (await Category.objects.get(id=cat_id)).note_count == 0
