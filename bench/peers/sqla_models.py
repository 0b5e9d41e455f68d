"""SQLAlchemy 2 models of the benchmark bookstore, shared by the FastAPI and Litestar peers.

They map the tables the harness creates (the bookstore example's schema); nothing
here creates or alters a table. Runs in the peers' venvs only.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from sqlalchemy import Column, ForeignKey, Integer, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

PAGE_SIZE = 20


def database_url() -> str:
    """``STELLATE_DATABASE_URL`` with SQLAlchemy's asyncpg driver name."""
    url = os.environ["STELLATE_DATABASE_URL"]
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


class Base(DeclarativeBase):
    pass


books_tags = Table(
    "bookstore_books_tags",
    Base.metadata,
    Column("book_id", Integer, ForeignKey("bookstore_books.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("bookstore_tags.id"), primary_key=True),
)


class Publisher(Base):
    __tablename__ = "bookstore_publishers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    country: Mapped[str]


class Author(Base):
    __tablename__ = "bookstore_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    bio: Mapped[str]


class Tag(Base):
    __tablename__ = "bookstore_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Book(Base):
    __tablename__ = "bookstore_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    isbn: Mapped[str]
    price: Mapped[Decimal]
    pages: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("bookstore_authors.id"))
    publisher_id: Mapped[int] = mapped_column(ForeignKey("bookstore_publishers.id"))
    category_id: Mapped[int | None]
    rating: Mapped[float]
    review_count: Mapped[int]
    created_at: Mapped[dt.datetime]
    author: Mapped[Author] = relationship()
    publisher: Mapped[Publisher] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=books_tags, order_by=Tag.id)
