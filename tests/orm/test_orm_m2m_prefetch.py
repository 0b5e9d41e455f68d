"""prefetch_related of a many-to-many: one query, one instance per related row, own lists."""

from __future__ import annotations

from typing import Any, ClassVar

from stellate.orm import Database, Field, ManyToManyField, Model
from stellate.orm.testing import create_tables


class PfTag(Model):
    class Meta:
        table = "pf_tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class PfPost(Model):
    class Meta:
        table = "pf_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    tags: ClassVar[ManyToManyField] = ManyToManyField(PfTag)


async def test_prefetch_shares_related_instances_and_keeps_lists_apart(
    db: Database, assert_num_queries: Any
) -> None:
    await create_tables(PfTag, PfPost)
    red, green, blue = [await PfTag.objects.create(name=n) for n in ("red", "green", "blue")]
    first = await PfPost.objects.create(title="first")
    second = await PfPost.objects.create(title="second")
    await PfPost.objects.create(title="bare")
    await PfPost.tags.add(first, blue, red)
    await PfPost.tags.add(second, green, red)
    async with assert_num_queries(2):
        posts = await PfPost.objects.order_by("id").prefetch_related("tags")
    by_title = {p.title: p for p in posts}
    assert [t.name for t in by_title["first"].tags] == ["red", "blue"]  # target key order
    assert [t.name for t in by_title["second"].tags] == ["red", "green"]
    assert by_title["bare"].tags == []
    # One instance per related row, shared by the posts that hold it...
    assert by_title["first"].tags[0] is by_title["second"].tags[0]
    # ...while each post has a list of its own.
    by_title["bare"].tags.append(blue)
    assert by_title["first"].tags is not by_title["second"].tags
    assert [t.name for t in by_title["second"].tags] == ["red", "green"]
