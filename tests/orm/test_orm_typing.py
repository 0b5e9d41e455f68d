"""The public generics type as users expect: checked by running mypy --strict on a sample."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

SAMPLE = """
from __future__ import annotations

from stellate.orm import Field, Model, Q


class Book(Model):
    class Meta:
        table = "books"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    pages: int | None = Field(default=None)


async def check() -> None:
    first = await Book.objects.filter(Q(title="x") | Q(pages=1)).order_by("-id").first()
    reveal_type(first)
    reveal_type(await Book.objects.exclude(title="y").all())
    reveal_type(await Book.objects.select_related().limit(3))
    one = await Book.objects.get(id=1)
    reveal_type(one)
    reveal_type(one.pages)
    reveal_type(await Book.objects.count())
    reveal_type(await Book.objects.in_bulk([1]))
    async for book in Book.objects.filter(id__gt=1):
        reveal_type(book)
    created, made = await Book.objects.get_or_create(title="t")
    reveal_type(created)
"""


def test_queryset_generics_reveal_the_model_type(tmp_path: Path) -> None:
    source = tmp_path / "typing_sample.py"
    source.write_text(textwrap.dedent(SAMPLE))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    stdout, stderr, status = api.run(
        ["--strict", "--config-file", str(config), "--no-error-summary", str(source)]
    )
    revealed = [
        line.split("Revealed type is ", 1)[1].strip('"')
        for line in stdout.splitlines()
        if "Revealed type is" in line
    ]
    assert revealed == [
        "typing_sample.Book | None",
        "list[typing_sample.Book]",
        "list[typing_sample.Book]",
        "typing_sample.Book",
        "int | None",
        "int",
        "dict[Any, typing_sample.Book]",
        "typing_sample.Book",
        "typing_sample.Book",
    ], stdout + stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout
    assert status == 0, stdout
