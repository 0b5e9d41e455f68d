"""The project's models (`makemigrations --models models` reads this module)."""

from __future__ import annotations

import datetime as dt

from stellate.orm import Field, Model


class Note(Model):
    """A short note."""

    class Meta:
        table = "notes"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=200)
    done: bool = Field(default=False)
    due: dt.date | None = Field(default=None)  # new; nullable: existing rows stay valid
