"""The change list: rows, search, filters, sorting, keyset pages, query counts, actions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from admin_models import Article, Comment, Reporter, Section, Status
from admin_support import BASE, login

from stellate.admin import AdminLogEntry
from stellate.core.testing import AppClient
from stellate.orm import QueryEvent, get_db
from stellate.orm.testing import assert_num_queries

URL = f"{BASE}/article/"


@pytest.fixture
async def newsroom(client: AppClient, make_user: Any) -> dict[str, Any]:
    token = await login(client, await make_user(superuser=True))
    ann = await Reporter.objects.create(name="Ann Archer")
    bob = await Reporter.objects.create(name="Bob Baker")
    sport = await Section.objects.create(name="Sport")
    articles = []
    for number in range(12):
        articles.append(
            await Article.objects.create(
                title=f"Story {number:02d}",
                status=[Status.DRAFT, Status.REVIEW, Status.PUBLISHED][number % 3],
                featured=number % 4 == 0,
                reporter_id=(ann if number % 2 else bob).id,
                section_id=sport.id if number < 6 else None,
                published_on=dt.date(2024, 1, 1) + dt.timedelta(days=number * 10),
                updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=number),
            )
        )
    return {"token": token, "ann": ann, "bob": bob, "sport": sport, "articles": articles}


def titles(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">(Story \d\d)</a></th>', html)


def next_link(html: str) -> str | None:
    return page_link(html, "next-page")


def page_link(html: str, link_id: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" class="button" id="{link_id}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


async def walk(client: AppClient, url: str) -> tuple[list[list[str]], list[list[str]]]:
    """Pages going forwards to the end, then backwards through "Previous page"."""
    forwards: list[list[str]] = []
    current: str | None = url
    html = ""
    while current:
        html = (await client.get(current)).text
        forwards.append(titles(html))
        current = next_link(html)
    backwards: list[list[str]] = []
    current = page_link(html, "previous-page")
    while current:
        html = (await client.get(current)).text
        backwards.append(titles(html))
        assert next_link(html) is not None  # every page reached backwards has a next one
        current = page_link(html, "previous-page")
    return forwards, backwards


async def test_rows_show_related_objects_and_values(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    page = await client.get(URL)
    assert page.status_code == 200
    assert titles(page.text) == ["Story 11", "Story 10", "Story 09", "Story 08", "Story 07"]
    row = re.search(r'<tr id="row-\d+">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells == ["Published", "No", "Ann Archer", "—", "2024-04-20"]
    assert re.search(r'class="column-title">\s*<a href="[^"]*o=title"', page.text)  # sortable
    assert 'aria-label="Select Story 11"' in page.text


async def test_keyset_pages_walk_every_row_without_offset(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    seen: list[str] = []
    statements: list[str] = []
    remove = get_db().add_observer(lambda e: statements.append(e.sql))
    try:
        url: str | None = URL + "?o=title"
        while url:
            page = await client.get(url)
            assert page.status_code == 200
            seen.extend(titles(page.text))
            url = next_link(page.text)
    finally:
        remove()
    assert seen == [f"Story {n:02d}" for n in range(12)]
    assert not any("OFFSET" in sql.upper() for sql in statements)
    assert 'id="first-page"' in page.text


async def test_descending_nullable_sort_pages_through_nulls(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    for article in newsroom["articles"][:4]:
        article.published_on = None
        await article.save()
    seen: list[str] = []
    url: str | None = URL + "?o=-published_on"
    while url:
        page = await client.get(url)
        seen.extend(titles(page.text))
        url = next_link(page.text)
    # PostgreSQL puts NULLs first in descending order; ties break on the primary key.
    assert seen == [f"Story {n:02d}" for n in (3, 2, 1, 0, *range(11, 3, -1))]
    ascending: list[str] = []
    url = URL + "?o=published_on"
    while url:
        page = await client.get(url)
        ascending.extend(titles(page.text))
        url = next_link(page.text)
    assert ascending == [f"Story {n:02d}" for n in (*range(4, 12), 0, 1, 2, 3)]


@pytest.mark.parametrize("order", ["", "title", "-title", "published_on", "-published_on"])
async def test_previous_pages_mirror_the_next_pages(
    client: AppClient, newsroom: dict[str, Any], order: str
) -> None:
    for article in newsroom["articles"][3:6]:
        article.published_on = None  # NULLs in the middle of the keyset
        await article.save()
    forwards, backwards = await walk(client, URL + (f"?o={order}" if order else ""))
    assert len(forwards) == 3
    assert sum(len(page) for page in forwards) == 12
    assert backwards == forwards[-2::-1]
    first = await client.get(URL + (f"?o={order}" if order else ""))
    assert 'id="previous-page"' not in first.text


async def test_sort_links_toggle_direction(client: AppClient, newsroom: dict[str, Any]) -> None:
    page = await client.get(URL + "?o=title")
    assert 'aria-sort="ascending"' in page.text
    assert 'href="/admin/admin_models/article/?o=-title"' in page.text
    page = await client.get(URL + "?o=-title")
    assert titles(page.text)[0] == "Story 11"
    assert 'aria-sort="descending"' in page.text


async def test_search_spans_the_foreign_key(client: AppClient, newsroom: dict[str, Any]) -> None:
    page = await client.get(URL, params={"q": "story 03"})
    assert titles(page.text) == ["Story 03"]
    page = await client.get(URL, params={"q": "archer"})
    assert set(titles(page.text)) <= {f"Story {n:02d}" for n in range(1, 12, 2)}
    assert len(titles(page.text)) == 5
    page = await client.get(URL, params={"q": "nothing like this"})
    assert "No article rows match." in page.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "published"}, [11, 8, 5, 2]),
        ({"featured": "true"}, [8, 4, 0]),
        ({"section_id__isnull": "1"}, [11, 10, 9, 8, 7]),
        ({"section_id__isnull": "0", "status": "draft"}, [3, 0]),
        ({"published_on__gte": "2024-03-01", "published_on__lte": "2024-03-31"}, [9, 8, 7, 6]),
        ({"updated_at__gte": "2024-01-03", "updated_at__lte": "2024-01-04"}, [3, 2]),
    ],
)
async def test_filters(
    client: AppClient, newsroom: dict[str, Any], params: dict[str, str], expected: list[int]
) -> None:
    page = await client.get(URL, params=params)
    assert page.status_code == 200
    assert titles(page.text) == [f"Story {n:02d}" for n in expected]


async def test_foreign_key_filter_lists_choices(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    bob = newsroom["bob"]
    page = await client.get(URL, params={"reporter_id": str(bob.id), "status": "draft"})
    assert titles(page.text) == ["Story 06", "Story 00"]
    section = re.search(
        r'<section class="filter" id="filter-reporter_id">(.*?)</section>', page.text, re.S
    )
    assert section is not None
    assert 'aria-current="true">Bob Baker</a>' in section.group(1)
    assert ">Ann Archer</a>" in section.group(1)
    status = re.search(r'id="filter-status">(.*?)</section>', page.text, re.S)
    assert status is not None
    assert list(re.findall(r">([A-Z][a-z]+)</a>", status.group(1))) == [
        "All",
        "Draft",
        "Review",
        "Published",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"title": "x"}, "Unknown filter `title`"),
        ({"status": "lost"}, "Filter `status`: Choose one of: draft, review, published."),
        ({"published_on__gte": "yesterday"}, "Enter a date as YYYY-MM-DD."),
        ({"section_id__isnull": "maybe"}, "takes 1 (empty) or 0 (not empty)"),
        ({"o": "metadata"}, "Cannot sort by `metadata`"),
        ({"after": "not-a-cursor"}, "The page link (`after`) is invalid"),
        ({"before": "WyJ4IiwgIm5vdCBhbiBpZCJd"}, "The page link (`before`) is invalid"),
    ],
)
async def test_bad_parameters_are_400_with_the_reason(
    client: AppClient, newsroom: dict[str, Any], params: dict[str, str], message: str
) -> None:
    page = await client.get(URL, params=params)
    assert page.status_code == 400
    assert message in page.text.replace("&#39;", "'")


async def test_query_count_does_not_grow_with_the_page(
    client: AppClient, newsroom: dict[str, Any], make_user: Any
) -> None:
    # Rows with both foreign keys joined (1) + the choices of the two FK filters (2).
    for size in (1, 5, 12):
        client.app.admin.get("admin_models", "article").list_per_page = size  # type: ignore[attr-defined]
        async with assert_num_queries(3) as events:
            page = await client.get(URL)
        assert page.status_code == 200
        assert len(titles(page.text)) == min(size, 12)
    rows_query = _first(events, "admintest_articles")
    assert "JOIN" in rows_query
    assert "LIMIT" in rows_query
    # A staff user who is not a superuser costs the same: the session carries the codenames.
    await login(client, await make_user(perms=("admin_models.view_article",)))
    async with assert_num_queries(3):
        assert (await client.get(URL)).status_code == 200


def _first(events: list[QueryEvent], table: str) -> str:
    return next(e.sql for e in events if table in e.sql)


async def test_bulk_delete_confirms_and_shows_cascades(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    first, second = newsroom["articles"][:2]
    await Comment.objects.create(article_id=first.id, author="Reader One")
    data = {
        "csrf_token": newsroom["token"],
        "action": "delete_selected",
        "_selected": [str(first.id), str(second.id)],
    }
    confirm = await client.post(URL, data=data)
    assert confirm.status_code == 200
    assert "Are you sure?" in confirm.text
    assert '<ul id="cascaded-rows"><li>1 Comment (comments)' in confirm.text
    assert "Comment #" in confirm.text
    assert await Article.objects.filter(id=first.id).exists()
    done = await client.post(URL, data={**data, "confirm": "yes"})
    assert done.status_code == 303
    assert not await Article.objects.filter(id__in=[first.id, second.id]).exists()
    assert not await Comment.objects.filter(article_id=first.id).exists()
    entries = await AdminLogEntry.objects.filter(action="delete").all()
    assert {e.object_repr for e in entries} == {"Story 00", "Story 01"}
    listing = await client.get(URL)
    assert "Deleted 2 article row(s)." in listing.text


async def test_bulk_delete_of_protected_rows_is_blocked(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    ann = newsroom["ann"]
    data = {
        "csrf_token": newsroom["token"],
        "action": "delete_selected",
        "_selected": str(ann.id),
    }
    confirm = await client.post(f"{BASE}/reporter/", data=data)
    assert 'id="delete-blocked"' in confirm.text
    assert '<ul id="protected-rows"><li>6 Article (articles)' in confirm.text
    refused = await client.post(f"{BASE}/reporter/", data={**data, "confirm": "yes"})
    assert refused.status_code == 303
    assert await Reporter.objects.filter(id=ann.id).exists()
    listing = await client.get(f"{BASE}/reporter/")
    assert "Nothing was deleted" in listing.text


async def test_deleting_a_section_unlinks_its_articles(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    sport = newsroom["sport"]
    confirm = await client.get(f"{BASE}/section/{sport.id}/delete/")
    assert '<ul id="unlinked-rows"><li>6 Article (articles)' in confirm.text


async def test_custom_action_runs_after_confirmation_and_is_logged(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    draft = newsroom["articles"][0]
    data = {"csrf_token": newsroom["token"], "action": "publish", "_selected": str(draft.id)}
    confirm = await client.post(URL, data=data)
    assert "Mark as published" in confirm.text
    done = await client.post(URL, data={**data, "confirm": "yes"})
    assert done.status_code == 303
    assert (await Article.objects.get(id=draft.id)).status == Status.PUBLISHED
    entry = await AdminLogEntry.objects.filter(object_id=str(draft.id)).first()
    assert entry is not None
    assert entry.message == "Action: Mark as published"
    assert "1 article(s) published" in (await client.get(URL)).text


async def test_actions_need_a_selection_and_a_known_name(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    token = newsroom["token"]
    empty = await client.post(URL, data={"csrf_token": token, "action": "publish"})
    assert empty.status_code == 303
    assert "Select at least one row" in (await client.get(URL)).text
    unknown = await client.post(
        URL, data={"csrf_token": token, "action": "explode", "_selected": "1"}
    )
    assert unknown.status_code == 400
    bad_id = await client.post(
        URL, data={"csrf_token": token, "action": "publish", "_selected": "abc"}
    )
    assert bad_id.status_code == 400


async def test_dashboard_lists_models_with_estimates_and_recent_actions(
    client: AppClient, newsroom: dict[str, Any]
) -> None:
    await client.post(
        f"{BASE}/section/add/", data={"csrf_token": newsroom["token"], "name": "Culture"}
    )
    async with assert_num_queries(2):  # pg_class estimates + my recent actions
        page = await client.get("/admin/")
    assert page.status_code == 200
    assert '<table class="app-table" id="app-admin_models">' in page.text
    assert 'id="model-admin_models-article"' in page.text
    assert "data-estimate=" in page.text
    assert "Culture" in page.text  # recent action
    assert "COUNT(" not in page.text


async def test_unknown_models_are_404(client: AppClient, newsroom: dict[str, Any]) -> None:
    assert (await client.get(f"{BASE}/nothing/")).status_code == 404
    assert (await client.get("/admin/pages/none/")).status_code == 404
