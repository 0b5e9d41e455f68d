"""Filtering across a many-to-many: correlated EXISTS, both sides, through models."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stellate.orm import (
    Database,
    Exists,
    F,
    Field,
    FieldError,
    ManyToManyField,
    Model,
    OnDelete,
    OuterRef,
    Q,
    Subquery,
    ValidationError,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


class MfTag(Model):
    class Meta:
        table = "mf_tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    color: str = Field(default="grey")


class MfShelf(Model):
    class Meta:
        table = "mf_shelves"

    id: int = Field(primary_key=True, auto=True)
    room: str = Field()


class MfBook(Model):
    class Meta:
        table = "mf_books"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    pages: int = Field(default=0)
    shelf_id: int | None = Field(
        default=None, foreign_key=MfShelf, related_name="books", on_delete=OnDelete.SET_NULL
    )
    tags: ClassVar[ManyToManyField] = ManyToManyField(MfTag, related_name="books")


class MfPaperLabel(Model):
    """The junction of `MfPaper.labels`, with a column of its own."""

    class Meta:
        table = "mf_paper_labels"

    id: int = Field(primary_key=True, auto=True)
    paper_id: int = Field(foreign_key="MfPaper", on_delete=OnDelete.CASCADE)
    tag_id: int = Field(foreign_key=MfTag, on_delete=OnDelete.CASCADE)
    weight: int = Field(default=1)


class MfPaper(Model):
    class Meta:
        table = "mf_papers"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    labels: ClassVar[ManyToManyField] = ManyToManyField(
        MfTag, through=MfPaperLabel, related_name="papers"
    )


class MfcTag(Model):
    class Meta:
        table = "mfc_tags"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class MfcBook(Model):
    class Meta:
        table = "mfc_books"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    tags: ClassVar[ManyToManyField] = ManyToManyField(MfcTag)


@pytest.fixture
async def shelf(db: Database) -> dict[str, Any]:
    await create_tables(MfTag, MfShelf, MfBook, MfPaper, MfPaperLabel)
    py, sql, web = [
        await MfTag.objects.create(name=n, color=c)
        for n, c in (("python", "blue"), ("sql", "red"), ("web", "blue"))
    ]
    attic = await MfShelf.objects.create(room="attic")
    guide = await MfBook.objects.create(title="Guide", pages=300, shelf_id=attic.id)
    tricks = await MfBook.objects.create(title="Tricks", pages=120, shelf_id=attic.id)
    novel = await MfBook.objects.create(title="Novel", pages=500)
    await MfBook.tags.add(guide, py, sql, web)
    await MfBook.tags.add(tricks, py)
    return {"py": py, "sql": sql, "web": web, "guide": guide, "tricks": tricks, "novel": novel}


def titles(books: list[Any]) -> list[str]:
    return [book.title for book in books]


async def test_filter_across_many_to_many_never_repeats_rows(
    shelf: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        blue = await MfBook.objects.filter(tags__color="blue").order_by("id")
    # Guide has two blue tags and is still one row.
    assert titles(blue) == ["Guide", "Tricks"]
    assert await MfBook.objects.filter(tags__color="blue").count() == 2
    assert titles(await MfBook.objects.filter(tags__name="sql")) == ["Guide"]
    many = MfBook.objects.filter(tags__name__in=["sql", "python", "web"]).order_by("id")
    assert titles(await many) == ["Guide", "Tricks"]
    assert titles(await MfBook.objects.filter(tags__name__startswith="we")) == ["Guide"]


async def test_filter_by_related_instance_or_key(shelf: dict[str, Any]) -> None:
    py, sql = shelf["py"], shelf["sql"]
    assert titles(await MfBook.objects.filter(tags=py).order_by("id")) == ["Guide", "Tricks"]
    assert titles(await MfBook.objects.filter(tags=sql.id)) == ["Guide"]
    assert titles(await MfBook.objects.filter(tags__id=sql.id)) == ["Guide"]
    assert titles(await MfBook.objects.filter(tags__pk=sql.id)) == ["Guide"]
    assert titles(await MfBook.objects.filter(tags__in=[sql, py]).order_by("id")) == [
        "Guide",
        "Tricks",
    ]
    # The related key is in the junction: no join to the related table.
    by_key = MfBook.objects.filter(tags__in=[sql, py]).to_sql().sql
    assert '"mf_tags"' not in by_key
    assert '"mf_tags"' not in MfBook.objects.filter(tags=py).to_sql().sql
    assert '"mf_books" AS' not in MfTag.objects.filter(books=shelf["guide"]).to_sql().sql
    with pytest.raises(FieldError, match=r"`MfTag.id` holds int values"):
        MfBook.objects.filter(tags="python").to_sql()
    reds = MfTag.objects.filter(color="red").values("id")
    assert titles(await MfBook.objects.filter(tags__in=reds)) == ["Guide"]
    assert titles(await MfBook.objects.filter(tags__in=Subquery(reds))) == ["Guide"]


async def test_exclude_and_negation_keep_rows_without_related_rows(shelf: dict[str, Any]) -> None:
    # A LEFT JOIN would drop the untagged Novel from NOT (...) or repeat Guide; EXISTS does
    # neither.
    kept = await MfBook.objects.exclude(tags__name="sql").order_by("id")
    assert titles(kept) == ["Tricks", "Novel"]
    assert titles(await MfBook.objects.filter(~Q(tags__color="blue"))) == ["Novel"]
    assert titles(await MfBook.objects.filter(tags__isnull=True)) == ["Novel"]
    assert titles(await MfBook.objects.filter(tags__isnull=False).order_by("id")) == [
        "Guide",
        "Tricks",
    ]
    assert titles(await MfBook.objects.filter(tags=None)) == ["Novel"]
    assert titles(await MfBook.objects.exclude(tags__isnull=True).order_by("id")) == [
        "Guide",
        "Tricks",
    ]


async def test_q_objects_combine_across_the_relation(shelf: dict[str, Any]) -> None:
    either = MfBook.objects.filter(Q(tags__name="sql") | Q(pages__gt=400)).order_by("id")
    assert titles(await either) == ["Guide", "Novel"]
    both = MfBook.objects.filter(Q(tags__name="python") & Q(pages__lt=200))
    assert titles(await both) == ["Tricks"]
    assert titles(await MfBook.objects.filter(Q(tags__name="sql") | Q(tags__name="nope"))) == [
        "Guide"
    ]


async def test_one_filter_call_means_one_related_row_chained_calls_do_not(
    shelf: dict[str, Any],
) -> None:
    # No single tag of Guide is both named "sql" and blue ("sql" is red)...
    same_row = MfBook.objects.filter(tags__name="sql", tags__color="blue")
    assert await same_row == []
    # ...while chained calls may each match a different tag.
    chained = MfBook.objects.filter(tags__name="sql").filter(tags__color="blue")
    assert titles(await chained) == ["Guide"]
    # exclude() is exactly the negation of the same filter() call.
    assert len(await MfBook.objects.exclude(tags__name="sql", tags__color="blue")) == 3
    assert titles(await MfBook.objects.exclude(tags__name="sql", tags__color="red")) == [
        "Tricks",
        "Novel",
    ]
    # Q objects ANDed in one call are the same call: one related row.
    assert await MfBook.objects.filter(Q(tags__name="sql") & Q(tags__color="blue")) == []
    assert await MfBook.objects.filter(Q(tags__name="sql"), tags__color="blue") == []
    nested = MfBook.objects.filter(Q(tags__name="sql") & (Q(tags__color="red") & Q(pages__gt=1)))
    assert titles(await nested) == ["Guide"]
    assert nested.to_sql().sql.count("EXISTS") == 1
    # Without a many-to-many, nested Q objects compile as written.
    plain = MfBook.objects.filter(Q(title="x") & (Q(pages=1) | Q(pages=2)) & Q(pages__gt=0))
    assert '("mf_books"."pages" = $2 OR "mf_books"."pages" = $3)' in plain.to_sql().sql
    sql = same_row.to_sql().sql
    assert sql.count("EXISTS") == 1
    assert chained.to_sql().sql.count("EXISTS") == 2
    assert "DISTINCT" not in sql
    assert "LEFT JOIN" not in sql


async def test_reverse_side_by_related_name(shelf: dict[str, Any]) -> None:
    assert [t.name for t in await MfTag.objects.filter(books__title="Tricks")] == ["python"]
    big = MfTag.objects.filter(books__pages__gt=200).order_by("id")
    assert [t.name for t in await big] == ["python", "sql", "web"]
    assert [t.name for t in await MfTag.objects.filter(books=shelf["tricks"])] == ["python"]
    unused = await MfTag.objects.exclude(books__title="Tricks").order_by("id")
    assert [t.name for t in unused] == ["sql", "web"]
    assert await MfTag.objects.filter(books__isnull=True) == []
    # Foreign keys of the related model resolve inside the subquery.
    attic = MfTag.objects.filter(books__shelf__room="attic").order_by("id")
    assert [t.name for t in await attic] == ["python", "sql", "web"]


async def test_nested_many_to_many_paths(shelf: dict[str, Any]) -> None:
    # Books sharing a tag with "Tricks": a subquery inside a subquery.
    related = MfBook.objects.filter(tags__books__title="Tricks").order_by("id")
    assert titles(await related) == ["Guide", "Tricks"]
    assert titles(await MfBook.objects.exclude(tags__books__title="Tricks")) == ["Novel"]


async def test_conditions_inside_exists_and_updates(shelf: dict[str, Any]) -> None:
    shelves = MfShelf.objects.filter(
        Exists(MfBook.objects.filter(shelf_id=OuterRef("id"), tags__name="sql"))
    )
    assert [s.room for s in await shelves] == ["attic"]
    assert await MfBook.objects.filter(tags__name="python").update(pages=1) == 2
    assert titles(await MfBook.objects.filter(pages=1).order_by("id")) == ["Guide", "Tricks"]
    assert await MfBook.objects.filter(tags__isnull=True).delete() == 1


async def test_second_run_with_new_values_reuses_the_plan(shelf: dict[str, Any]) -> None:
    def build(name: str, color: str, pages: int) -> Any:
        return MfBook.objects.filter(
            Q(tags__name=name, tags__color=color) | Q(pages__gt=pages),
            tags__books__title__in=["Tricks", name],
        ).exclude(tags__isnull=True)

    cache = MfBook._meta.sql_cache
    first = build("sql", "red", 1000).to_sql()
    size = len(cache)
    second = build("python", "blue", 200).to_sql()
    assert len(cache) == size  # the same shape compiled once
    assert first.sql == second.sql
    assert second.params == ("python", "blue", 200, ["Tricks", "python"])
    assert titles(await build("sql", "red", 1000)) == ["Guide"]
    assert titles(await build("python", "blue", 200).order_by("id")) == ["Guide", "Tricks"]


async def test_through_model_junction_columns(shelf: dict[str, Any]) -> None:
    py, sql = shelf["py"], shelf["sql"]
    draft = await MfPaper.objects.create(title="Draft")
    final = await MfPaper.objects.create(title="Final")
    await MfPaperLabel.objects.create(paper_id=draft.id, tag_id=py.id, weight=1)
    await MfPaperLabel.objects.create(paper_id=final.id, tag_id=py.id, weight=5)
    await MfPaperLabel.objects.create(paper_id=final.id, tag_id=sql.id, weight=2)
    await MfPaper.labels.add(draft, sql)  # the extra column takes its default
    await MfPaper.labels.add(draft, sql, py, through_defaults={"weight": 7})  # pairs kept
    rows = await MfPaperLabel.objects.filter(paper_id=draft.id).order_by("id")
    assert [(r.tag_id, r.weight) for r in rows] == [(py.id, 1), (sql.id, 1)]
    assert titles(await MfPaper.objects.filter(labels__name="sql").order_by("id")) == [
        "Draft",
        "Final",
    ]
    heavy = MfPaper.objects.filter(labels__through__weight__gte=3)
    assert titles(await heavy) == ["Final"]
    # One call: the weight belongs to the junction row of that very tag.
    assert await MfPaper.objects.filter(labels__name="sql", labels__through__weight=5) == []
    assert titles(
        await MfPaper.objects.filter(labels__name="python", labels__through__weight=5)
    ) == ["Final"]
    assert [t.name for t in await MfTag.objects.filter(papers__through__weight=2)] == ["sql"]
    assert [t.name for t in await MfTag.objects.filter(papers__title="Draft").order_by("id")] == [
        "python",
        "sql",
    ]
    papers = await MfPaper.objects.order_by("id").prefetch_related("labels")
    assert [[t.name for t in p.labels] for p in papers] == [["python", "sql"], ["python", "sql"]]


async def test_add_through_defaults(shelf: dict[str, Any]) -> None:
    paper = await MfPaper.objects.create(title="Notes")
    await MfPaper.labels.add(paper, shelf["web"], through_defaults={"weight": 9})
    assert [r.weight for r in await MfPaperLabel.objects.filter(paper_id=paper.id)] == [9]
    with pytest.raises(FieldError, match=r"Unknown field `wait` on `MfPaperLabel`.*through_def"):
        await MfPaper.labels.add(paper, shelf["py"], through_defaults={"wait": 2})
    with pytest.raises(ValidationError, match=r"weight"):
        await MfPaper.labels.add(paper, shelf["py"], through_defaults={"weight": "heavy"})
    with pytest.raises(FieldError, match=r"`MfBook.tags` has no through model"):
        await MfBook.tags.add(shelf["novel"], shelf["py"], through_defaults={"weight": 2})


async def test_add_needs_values_for_required_junction_columns(db: Database) -> None:
    class MrRole(Model):
        class Meta:
            table = "mr_roles"

        id: int = Field(primary_key=True, auto=True)

    class MrGrant(Model):
        class Meta:
            table = "mr_grants"

        id: int = Field(primary_key=True, auto=True)
        member_id: int = Field(foreign_key="MrMember", on_delete=OnDelete.CASCADE)
        role_id: int = Field(foreign_key=MrRole, on_delete=OnDelete.CASCADE)
        granted_by: str = Field()

    class MrMember(Model):
        class Meta:
            table = "mr_members"

        id: int = Field(primary_key=True, auto=True)
        roles: ClassVar[ManyToManyField] = ManyToManyField(MrRole, through=MrGrant)

    await create_tables(MrRole, MrMember, MrGrant)
    member, role = await MrMember.objects.create(), await MrRole.objects.create()
    with pytest.raises(FieldError, match=r"`MrGrant` needs `granted_by` for each row"):
        await MrMember.roles.add(member, role)
    await MrMember.roles.add(member, role, through_defaults={"granted_by": "ann"})
    assert [g.granted_by for g in await MrGrant.objects.all()] == ["ann"]
    assert [m.id for m in await MrMember.objects.filter(roles__through__granted_by="ann")] == [
        member.id
    ]


def test_through_model_creates_no_junction_of_its_own() -> None:
    assert MfPaper.labels.table == "mf_paper_labels"
    assert (MfPaper.labels.source_column, MfPaper.labels.target_column) == ("paper_id", "tag_id")
    statements = create_table_sql(MfPaper)
    assert not any("mf_paper_labels" in s for s in statements)


async def test_unknown_field_across_the_relation_names_the_models_fields(
    shelf: dict[str, Any],
) -> None:
    with pytest.raises(FieldError, match=r"Unknown field `nmae` on `MfTag` \(did you mean `name`"):
        MfBook.objects.filter(tags__nmae="x").to_sql()
    with pytest.raises(FieldError, match=r"valid names: `color`, `id`, `name`"):
        MfBook.objects.filter(tags__nmae="x").to_sql()
    with pytest.raises(FieldError, match=r"Unknown lookup `nope` in `name__nope`"):
        MfBook.objects.filter(tags__name__nope="x").to_sql()
    with pytest.raises(FieldError, match=r"Unknown field `tagz` on `MfBook`"):
        MfBook.objects.filter(tagz__name="x").to_sql()


async def test_junction_column_needs_the_through_spelling(shelf: dict[str, Any]) -> None:
    with pytest.raises(FieldError) as info:
        MfPaper.objects.filter(labels__weight=3).to_sql()
    message = str(info.value)
    assert "Unknown field `weight` on `MfTag`" in message
    assert "`weight` is a column of the through model `MfPaperLabel`" in message
    assert "`labels__through__weight`" in message
    with pytest.raises(FieldError, match=r"Unknown field `wieght` on `MfPaperLabel`"):
        MfPaper.objects.filter(labels__through__wieght=3).to_sql()
    with pytest.raises(FieldError, match=r"no field of it: write `labels__through__<field>`"):
        MfPaper.objects.filter(labels__through=3).to_sql()
    with pytest.raises(FieldError, match=r"`MfBook.tags` has no through model"):
        MfBook.objects.filter(tags__through__weight=3).to_sql()
    with pytest.raises(FieldError, match=r"`tags__isnull` takes True or False"):
        MfBook.objects.filter(tags__isnull="yes").to_sql()


async def test_ordering_and_values_across_the_relation_are_refused(shelf: dict[str, Any]) -> None:
    with pytest.raises(FieldError, match=r'prefetch_related\("tags"\)'):
        MfBook.objects.order_by("tags__name").to_sql()
    with pytest.raises(FieldError, match=r"crosses the many-to-many `MfBook.tags`"):
        MfBook.objects.values("title", "tags__name")
    with pytest.raises(FieldError, match=r"order_by\(\), values\(\) and F\(\)"):
        MfTag.objects.order_by("-books__title").to_sql()
    # Through a foreign key first: name the form that works.
    with pytest.raises(FieldError, match=r"write `books__in=MfBook.objects.filter\(tags__name="):
        MfShelf.objects.filter(books__tags__name="sql").to_sql()


def test_through_argument_is_checked() -> None:
    with pytest.raises(TypeError, match=r"takes a table name or a model class, got `3`"):
        ManyToManyField(MfTag, through=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"related_name=...\) must be an identifier"):
        ManyToManyField(MfTag, related_name="not valid")


def test_related_name_clashing_with_a_field_is_refused() -> None:
    class McPost(Model):
        class Meta:
            table = "mc_posts"

        id: int = Field(primary_key=True, auto=True)
        tags: ClassVar[ManyToManyField] = ManyToManyField(MfTag, related_name="color")

    with pytest.raises(FieldError, match=r"related_name `color`, which `MfTag` already uses"):
        McPost.objects.filter(tags__name="x").to_sql()


async def test_schema_qualified_junction_table(db: Database) -> None:
    class MqTag(Model):
        class Meta:
            table = "mq_tags"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class MqPost(Model):
        class Meta:
            table = "mq_posts"

        id: int = Field(primary_key=True, auto=True)
        tags: ClassVar[ManyToManyField] = ManyToManyField(MqTag, through="mq_archive.post_tags")

    statements = create_table_sql(MqPost)
    assert (
        'CREATE INDEX "mq_archive_post_tags_mqtag_id_idx" ON "mq_archive"."post_tags"'
        in (statements[-1])
    )
    await db.execute("CREATE SCHEMA mq_archive")
    await create_tables(MqTag, MqPost)
    post = await MqPost.objects.create()
    tag = await MqTag.objects.create(name="kept")
    await MqPost.tags.add(post, tag)
    assert [p.id for p in await MqPost.objects.filter(tags__name="kept")] == [post.id]
    assert await MqPost.objects.filter(tags__isnull=True) == []
    schema = await db.fetchval(
        "SELECT schemaname FROM pg_indexes WHERE indexname = 'mq_archive_post_tags_mqtag_id_idx'"
    )
    assert schema == "mq_archive"


async def test_cached_queries_across_the_relation_see_every_orm_write(db: Database) -> None:
    await create_tables(MfcTag, MfcBook)
    book = await MfcBook.objects.create(title="Dune")
    tag = await MfcTag.objects.create(name="sf")
    query = MfcBook.objects.filter(tags__name="sf")
    assert await query == []
    await MfcBook.tags.add(book, tag)  # a junction write
    assert titles(await query) == ["Dune"]
    tag.name = "scifi"
    await tag.save()  # a write to the related table
    assert await query == []
    # The result was cached: a write that bypasses the ORM is not seen.
    await db.execute("UPDATE mfc_tags SET name = 'sf'")
    assert await query == []


async def test_readme_many_to_many_example_runs(db: Database) -> None:
    readme = Path(__file__).parents[2] / "packages" / "orm" / "README.md"
    section = readme.read_text().split("## Many-to-many\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    definitions, statements = match.group(1).split("\n\n\npython = ", 1)
    namespace: dict[str, Any] = {"__name__": "readme_many_to_many"}
    exec(compile(definitions, "README.md", "exec"), namespace)
    await create_tables(*(namespace[n] for n in ("Topic", "Article", "Placement")))
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    await eval(compile("python = " + statements, "README.md", "exec", flags=flags), namespace)
    for name in ("tagged", "by_key", "chained", "either", "first"):
        assert titles(namespace[name]) == ["Guide"], name
    assert namespace["same_topic"] == []
    assert namespace["untagged"] == []
    assert [t.name for t in namespace["back"]] == ["python", "sql"]
    assert [t.name for t in namespace["loaded"][0].topics] == ["python", "sql"]
    # F() inside a condition across the relation names a field of the related model.
    topic_model, article_model = namespace["Topic"], namespace["Article"]
    same = article_model.objects.filter(topics__name=F("name"))
    assert len(await same) == 1
    with pytest.raises(FieldError, match=r"Unknown field `title` on `Topic`"):
        article_model.objects.filter(topics__name=F("title")).to_sql()
    assert await topic_model.objects.filter(featured__title="Guide").count() == 1
