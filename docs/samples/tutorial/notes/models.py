"""The project's models (`makemigrations --models models` reads this module)."""

from __future__ import annotations

from stellate.orm import Field, Model


class Note(Model):
    """A short note."""

    class Meta:
        table = "notes"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=200)
    done: bool = Field(default=False)
