"""Models of the admin tests: a small newsroom with every field kind the admin renders."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, ClassVar

from stellate.orm import Field, FileField, ManyToManyField, Model, OnDelete


class Status(enum.StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"


class Section(Model):
    class Meta:
        table = "admintest_sections"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=60)


class Reporter(Model):
    class Meta:
        table = "admintest_reporters"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1, max_length=100)
    email: str = Field(default="", max_length=200)
    password: str = Field(default="!")  # a secret the admin must never render


class Label(Model):
    class Meta:
        table = "admintest_labels"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=40)


class Article(Model):
    class Meta:
        table = "admintest_articles"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=200)
    status: Status = Field(default=Status.DRAFT)
    featured: bool = Field(default=False)
    word_count: int = Field(default=0, ge=0, le=100000)
    price: Decimal = Field(default=Decimal("0"), ge=0)
    published_on: dt.date | None = Field(default=None)
    updated_at: dt.datetime | None = Field(default=None)
    metadata: dict[str, Any] = Field(default=dict)
    reporter_id: int = Field(
        foreign_key=Reporter, related_name="articles", on_delete=OnDelete.PROTECT
    )
    section_id: int | None = Field(
        default=None, foreign_key=Section, related_name="articles", on_delete=OnDelete.SET_NULL
    )
    labels: ClassVar[Any] = ManyToManyField(Label, through="admintest_articles_labels")


class Comment(Model):
    class Meta:
        table = "admintest_comments"

    id: int = Field(primary_key=True, auto=True)
    article_id: int = Field(
        foreign_key=Article, related_name="comments", on_delete=OnDelete.CASCADE
    )
    author: str = Field(min_length=1, max_length=80)
    approved: bool = Field(default=False)


class Gadget(Model):
    """A UUID primary key and the rarer field types."""

    class Meta:
        table = "admintest_gadgets"

    id: uuid.UUID = Field(primary_key=True, default=uuid.uuid4)
    name: str = Field(min_length=1, max_length=50)
    active: bool | None = Field(default=None)
    starts: dt.time | None = Field(default=None)
    runtime: dt.timedelta | None = Field(default=None)
    ratio: float = Field(default=1.0)
    parts: list[Any] = Field(default=list)
    api_token: str = Field(default="")

    def __str__(self) -> str:
        return f"Gadget {self.name}"


class Document(Model):
    class Meta:
        table = "admintest_documents"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=100)
    attachment: str = FileField(upload_to="docs/", allowed_extensions={".txt", ".pdf"})
    article_id: int | None = Field(
        default=None, foreign_key=Article, related_name="documents", on_delete=OnDelete.SET_NULL
    )


ALL_MODELS: tuple[type[Model], ...] = (
    Section,
    Reporter,
    Label,
    Article,
    Comment,
    Gadget,
    Document,
)
