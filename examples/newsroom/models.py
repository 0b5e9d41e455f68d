"""The newsroom's tables: sections, reporters and articles.

Articles carry the field kinds the admin renders specially: an enum (``status``, a
``<select>`` and a filter), a bool (``featured``), a date (``published_on``), two
foreign keys, and a soft-delete stamp (``deleted_at``: deleting an article hides it
instead of removing the row). Table names carry a ``newsroom_`` prefix so the
example can share a database with other apps.
"""

from __future__ import annotations

import datetime as dt
import enum

from stellate.orm import Field, Model, OnDelete, SoftDeleteMixin, TimestampMixin


class Status(enum.StrEnum):
    """Where an article is in its life."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Section(Model):
    """A part of the paper such as ``Science``."""

    class Meta:
        table = "newsroom_sections"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=60)

    def __str__(self) -> str:
        return self.name


class Reporter(Model):
    """A person who writes articles."""

    class Meta:
        table = "newsroom_reporters"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1, max_length=100)
    email: str = Field(unique=True, max_length=254, regex=r"[^@\s]+@[^@\s]+")

    def __str__(self) -> str:
        return self.name


class Article(TimestampMixin, SoftDeleteMixin):
    """A story; only ``published`` ones with a date are public."""

    class Meta:
        table = "newsroom_articles"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=20000)
    status: Status = Field(default=Status.DRAFT, index=True)
    featured: bool = Field(default=False)
    published_on: dt.date | None = Field(default=None)
    word_count: int = Field(default=0, ge=0, le=100000)
    section_id: int = Field(
        foreign_key=Section, related_name="articles", on_delete=OnDelete.PROTECT
    )
    reporter_id: int = Field(
        foreign_key=Reporter, related_name="articles", on_delete=OnDelete.CASCADE
    )

    def __str__(self) -> str:
        return self.title


ALL_MODELS: tuple[type[Model], ...] = (Section, Reporter, Article)
