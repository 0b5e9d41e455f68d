"""Demo data for development: sections, reporters, articles in every status, an editor.

``seed_demo_data`` is idempotent: it adds what is missing and leaves existing rows
alone, so the app runs it at every development start.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from examples.newsroom.models import Article, Reporter, Section, Status
from stellate.orm import get_db

if TYPE_CHECKING:
    from stellate.auth import Auth

#: The development login printed at startup (never created outside development).
DEMO_USERNAME = "deskeditor"
# Published on purpose: a demo account on a local development database.
DEMO_PASSWORD = "inkwell-morning-tide"  # noqa: S105

_SECTIONS = ("World", "Science", "Culture", "Sport")
_REPORTERS = (
    ("Mira Santos", "mira@newsroom.example"),
    ("Tomas Berg", "tomas@newsroom.example"),
    ("Leila Haddad", "leila@newsroom.example"),
)
# title, status, featured, section index, reporter index, days before today (None: unpublished)
_ARTICLES = (
    ("Tides of the northern sea", Status.PUBLISHED, True, 1, 0, 1),
    ("A quiet election in the hills", Status.PUBLISHED, False, 0, 1, 2),
    ("The comet that came back", Status.PUBLISHED, True, 1, 2, 3),
    ("Opera returns to the old mill", Status.IN_REVIEW, False, 2, 0, None),
    ("Cup final: the long wait ends", Status.PUBLISHED, False, 3, 1, 5),
    ("Bees in the city", Status.DRAFT, False, 1, 2, None),
    ("Harbour festival draws record crowds", Status.ARCHIVED, False, 2, 1, 40),
    ("Rowing club's hundred years", Status.DRAFT, False, 3, 0, None),
    ("Glaciers, measured by hand", Status.IN_REVIEW, True, 1, 1, None),
    ("Letters from the border town", Status.PUBLISHED, False, 0, 2, 8),
)


async def ensure_demo_user(auth: Auth) -> int:
    """The demo staff account's id, creating the account when it does not exist."""
    user = await auth.users.get_by_username(DEMO_USERNAME)
    if user is None:
        user = await auth.users.create_user(
            DEMO_USERNAME, DEMO_PASSWORD, email="desk@newsroom.example", is_staff=True
        )
    return user.id


async def seed_demo_data(today: dt.date | None = None) -> int:
    """Insert the demo sections, reporters and articles unless present; return articles added."""
    if await Article.all_objects.filter(title=_ARTICLES[0][0]).exists():
        return 0
    today = today or dt.datetime.now(dt.UTC).date()
    async with get_db().transaction():
        sections = [(await Section.objects.get_or_create(name=name))[0] for name in _SECTIONS]
        reporters = [
            (await Reporter.objects.get_or_create(email=email, defaults={"name": name}))[0]
            for name, email in _REPORTERS
        ]
        for title, status, featured, section, reporter, days_ago in _ARTICLES:
            await Article.objects.create(
                title=title,
                body=f"{title}. " * 12,
                status=status,
                featured=featured,
                published_on=None if days_ago is None else today - dt.timedelta(days=days_ago),
                word_count=len(title.split()) * 12,
                section_id=sections[section].id,
                reporter_id=reporters[reporter].id,
            )
    return len(_ARTICLES)
