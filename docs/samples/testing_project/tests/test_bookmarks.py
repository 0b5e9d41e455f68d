# --8<-- [start:tests]
from app import Bookmark
from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries


async def test_read_a_bookmark_in_one_query(client: AppClient) -> None:
    saved = await Bookmark.objects.create(url="https://example.com")
    async with assert_num_queries(1):
        response = await client.get(f"/bookmarks/{saved.id}")
    assert response.json() == {"id": saved.id, "url": "https://example.com"}


async def test_missing_bookmark_is_a_404(client: AppClient) -> None:
    response = await client.get("/bookmarks/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Bookmark 999 not found"}


async def test_nothing_leaks_between_tests() -> None:
    assert await Bookmark.objects.count() == 0  # the previous tests rolled back


# --8<-- [end:tests]
