"""The change form: inputs per field type, validation, save buttons, inlines, delete, history."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from admin_models import Article, Comment, Label, Reporter, Section, Status
from admin_support import BASE, login

from stellate.admin import AdminAction, AdminLogEntry
from stellate.core.testing import AppClient

ADD = f"{BASE}/article/add/"


@pytest.fixture
async def desk(client: AppClient, make_user: Any) -> dict[str, Any]:
    token = await login(client, await make_user(superuser=True))
    ann = await Reporter.objects.create(name="Ann Archer")
    sport = await Section.objects.create(name="Sport")
    news = await Label.objects.create(name="news")
    late = await Label.objects.create(name="late")
    return {"token": token, "ann": ann, "sport": sport, "labels": [news, late]}


def article_form(desk: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "csrf_token": desk["token"],
        "title": "Harbour lights",
        "status": "review",
        "featured": "true",
        "word_count": "1200",
        "price": "2.50",
        "published_on": "2024-05-01",
        "metadata": '{"source": "wire"}',
        "reporter_id": str(desk["ann"].id),
        "section_id": str(desk["sport"].id),
        "labels": [str(desk["labels"][0].id)],
        "inline-comment-TOTAL": "0",
        "_save": "1",
        **changes,
    }


def field_html(html: str, name: str) -> str:
    match = re.search(rf'<div class="form-row field-{name}[^"]*">(.*?)</div>\s*</div>', html, re.S)
    assert match is not None, f"no form row for {name}"
    return match.group(1)


async def test_add_form_has_an_input_per_field_type(
    client: AppClient, desk: dict[str, Any]
) -> None:
    page = await client.get(ADD)
    assert page.status_code == 200
    html = page.text
    assert '<label for="id_title" class="required">Title</label>' in html
    assert re.search(r'<select name="status" id="id_status"', html)
    assert '<option value="draft" selected>Draft</option>' in field_html(html, "status")
    assert 'type="checkbox" name="featured" id="id_featured"' in html
    assert 'type="number" name="word_count" id="id_word_count" value="0"' in html
    assert 'min="0" max="100000"' in field_html(html, "word_count")
    assert 'inputmode="decimal"' in field_html(html, "price")
    assert 'type="date" name="published_on"' in html
    assert '<textarea name="metadata" id="id_metadata"' in html
    reporter = field_html(html, "reporter_id")
    assert f'<option value="{desk["ann"].id}">Ann Archer</option>' in reporter
    section = field_html(html, "section_id")
    assert 'data-autocomplete="/admin/admin_models/section/autocomplete/"' in section
    labels = field_html(html, "labels")
    assert "multiple" in labels
    assert ">news</option>" in labels
    # Read-only on the form, and the blank inline rows for comments.
    assert 'id="id_updated_at">—</div>' in html
    assert 'name="inline-comment-TOTAL" value="2"' in html
    assert 'for="id_inline-comment-0-author"' in html
    assert 'id="save-add-another"' in html
    assert 'id="save-continue"' in html


async def test_add_saves_every_type_and_logs_it(client: AppClient, desk: dict[str, Any]) -> None:
    response = await client.post(ADD, data=article_form(desk))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{BASE}/article/"
    article = await Article.objects.get(title="Harbour lights")
    assert article.status == Status.REVIEW
    assert article.featured is True
    assert article.word_count == 1200
    assert article.price == Decimal("2.50")
    assert article.published_on == dt.date(2024, 5, 1)
    assert article.metadata == {"source": "wire"}
    assert article.section_id == desk["sport"].id
    assert [label.name for label in await article.fetch("labels")] == ["news"]
    entry = await AdminLogEntry.objects.filter(object_id=str(article.id)).first()
    assert entry is not None
    assert entry.action == AdminAction.ADD
    listing = await client.get(f"{BASE}/article/")
    assert "The article “Harbour lights” was added." in listing.text
    # The message is shown once.
    assert "was added" not in (await client.get(f"{BASE}/article/")).text


async def test_invalid_values_show_errors_next_to_fields_and_keep_input(
    client: AppClient, desk: dict[str, Any]
) -> None:
    response = await client.post(
        ADD,
        data=article_form(
            desk,
            title="",
            word_count="lots",
            price="-3",
            published_on="31/12/2024",
            metadata='{"source": }',
            status="lost",
        ),
    )
    assert response.status_code == 400
    html = response.text
    assert 'id="form-errors"' in html
    assert 'id="err_word_count"><li>Enter a whole number.</li>' in html
    assert 'value="lots"' in html  # the typed text is kept
    assert 'id="err_published_on"><li>Enter a date as YYYY-MM-DD.</li>' in html
    assert "Enter valid JSON: Expecting value at line 1, column 12." in html
    assert "{&#34;source&#34;: }</textarea>" in html
    assert "Choose one of: draft, review, published." in html
    assert re.search(r'id="err_price"><li>Must be &gt;= 0', html)
    assert re.search(r'id="err_title"><li>Must have at least 1 characters', html)
    assert 'aria-invalid="true"' in html
    assert not await Article.objects.filter(title="").exists()
    assert not await AdminLogEntry.objects.filter(model_name="article").exists()


async def test_failed_change_keeps_the_stored_name_in_the_heading(
    client: AppClient, desk: dict[str, Any]
) -> None:
    article = await Article.objects.create(title="Stored title", reporter_id=desk["ann"].id)
    response = await client.post(
        f"{BASE}/article/{article.id}/change/",
        data=article_form(desk, title="Typed title", word_count="many"),
    )
    assert response.status_code == 400
    assert '<span id="object-label">Stored title</span>' in response.text
    assert 'value="Typed title"' in response.text
    assert (await Article.objects.get(id=article.id)).title == "Stored title"


async def test_json_must_have_the_declared_shape(client: AppClient, desk: dict[str, Any]) -> None:
    response = await client.post(ADD, data=article_form(desk, metadata="[1, 2]"))
    assert response.status_code == 400
    assert "Enter a JSON object" in response.text


async def test_missing_required_foreign_key_and_unknown_one(
    client: AppClient, desk: dict[str, Any]
) -> None:
    missing = await client.post(ADD, data=article_form(desk, reporter_id=""))
    assert missing.status_code == 400
    assert 'id="err_reporter_id"><li>This field is required.</li>' in missing.text
    unknown = await client.post(ADD, data=article_form(desk, reporter_id="999999"))
    assert unknown.status_code == 400
    assert 'id="err_reporter_id"><li>Choose an existing object' in unknown.text


async def test_unique_violation_is_shown_on_its_field(
    client: AppClient, desk: dict[str, Any]
) -> None:
    response = await client.post(
        f"{BASE}/section/add/", data={"csrf_token": desk["token"], "name": "Sport"}
    )
    assert response.status_code == 400
    assert 'id="err_name"><li>A section with this name already exists.</li>' in response.text
    assert 'value="Sport"' in response.text


async def test_save_buttons_choose_where_to_go(client: AppClient, desk: dict[str, Any]) -> None:
    again = await client.post(ADD, data=article_form(desk, _save=None, _addanother="1"))
    assert again.headers["location"] == ADD
    assert "You may add another below." in (await client.get(ADD)).text
    article = await Article.objects.get(title="Harbour lights")
    stay = await client.post(
        ADD, data=article_form(desk, title="Second", _save=None, _continue="1")
    )
    second = await Article.objects.get(title="Second")
    assert stay.headers["location"] == f"{BASE}/article/{second.id}/change/"
    assert article.id != second.id


async def test_prefill_from_the_query_string(client: AppClient, desk: dict[str, Any]) -> None:
    page = await client.get(ADD, params={"title": "From link", "status": "published"})
    assert 'value="From link"' in page.text
    assert '<option value="published" selected>' in page.text


async def test_change_records_the_changed_fields(client: AppClient, desk: dict[str, Any]) -> None:
    article = await Article.objects.create(
        title="Old", reporter_id=desk["ann"].id, word_count=5, metadata={"a": 1}
    )
    page = await client.get(f"{BASE}/article/{article.id}/change/")
    assert page.status_code == 200
    assert 'value="Old"' in page.text
    assert "Change article" in page.text
    data = article_form(
        desk,
        title="New",
        status="draft",
        featured=None,
        word_count="5",
        price="0",
        published_on="",
        metadata='{"a": 1}',
        section_id="",
        labels=[str(desk["labels"][1].id)],
    )
    data = {k: v for k, v in data.items() if v is not None}
    response = await client.post(f"{BASE}/article/{article.id}/change/", data=data)
    assert response.status_code == 303, response.text
    saved = await Article.objects.get(id=article.id)
    assert saved.title == "New"
    assert saved.section_id is None
    assert saved.featured is False
    entry = await AdminLogEntry.objects.filter(object_id=str(article.id)).first()
    assert entry is not None
    assert entry.action == AdminAction.CHANGE
    assert entry.changed_fields == ["title", "labels"]
    history = await client.get(f"{BASE}/article/{article.id}/history/")
    assert history.status_code == 200
    assert "<td>title, labels</td>" in history.text


async def test_readonly_fields_are_shown_not_written(
    client: AppClient, desk: dict[str, Any]
) -> None:
    stamp = dt.datetime(2024, 2, 3, 4, 5, tzinfo=dt.UTC)
    article = await Article.objects.create(title="T", reporter_id=desk["ann"].id, updated_at=stamp)
    page = await client.get(f"{BASE}/article/{article.id}/change/")
    assert 'id="id_updated_at">2024-02-03 04:05 UTC</div>' in page.text
    data = article_form(desk, updated_at="2030-01-01T00:00")
    await client.post(f"{BASE}/article/{article.id}/change/", data=data)
    assert (await Article.objects.get(id=article.id)).updated_at == stamp


async def test_inline_rows_are_added_changed_and_deleted(
    client: AppClient, desk: dict[str, Any]
) -> None:
    article = await Article.objects.create(title="T", reporter_id=desk["ann"].id)
    keep = await Comment.objects.create(article_id=article.id, author="Keep")
    drop = await Comment.objects.create(article_id=article.id, author="Drop")
    page = await client.get(f"{BASE}/article/{article.id}/change/")
    assert 'name="inline-comment-TOTAL" value="4"' in page.text
    assert f'name="inline-comment-0-id" value="{keep.id}"' in page.text
    data = article_form(
        desk,
        title="T",
        **{
            "inline-comment-TOTAL": "4",
            "inline-comment-0-id": str(keep.id),
            "inline-comment-0-author": "Kept and edited",
            "inline-comment-0-approved": "true",
            "inline-comment-1-id": str(drop.id),
            "inline-comment-1-author": "Drop",
            "inline-comment-1-DELETE": "on",
            "inline-comment-2-id": "",
            "inline-comment-2-author": "New reader",
            "inline-comment-3-id": "",
            "inline-comment-3-author": "",
        },
    )
    response = await client.post(f"{BASE}/article/{article.id}/change/", data=data)
    assert response.status_code == 303, response.text
    comments = await Comment.objects.filter(article_id=article.id).order_by("id").all()
    assert [(c.author, c.approved) for c in comments] == [
        ("Kept and edited", True),
        ("New reader", False),
    ]
    entry = await AdminLogEntry.objects.filter(object_id=str(article.id)).first()
    assert entry is not None
    assert f"deleted Comment #{drop.id}" in entry.message


async def test_inline_errors_are_shown_per_row_and_nothing_is_saved(
    client: AppClient, desk: dict[str, Any]
) -> None:
    data = article_form(
        desk,
        **{
            "inline-comment-TOTAL": "1",
            "inline-comment-0-id": "",
            "inline-comment-0-author": "x" * 81,
        },
    )
    response = await client.post(ADD, data=data)
    assert response.status_code == 400
    assert 'id="inline-comment-0-errors"><li>Author: Must have at most 80' in response.text
    assert not await Article.objects.filter(title="Harbour lights").exists()


async def test_delete_with_confirmation(client: AppClient, desk: dict[str, Any]) -> None:
    article = await Article.objects.create(title="Gone soon", reporter_id=desk["ann"].id)
    await Comment.objects.create(article_id=article.id, author="Reader")
    page = await client.get(f"{BASE}/article/{article.id}/delete/")
    assert page.status_code == 200
    assert '<strong id="object-label">Gone soon</strong>' in page.text
    assert "1 Comment (comments)" in page.text
    assert "Links removed: Labels." in page.text
    response = await client.post(
        f"{BASE}/article/{article.id}/delete/", data={"csrf_token": desk["token"], "confirm": "yes"}
    )
    assert response.status_code == 303
    assert not await Article.objects.filter(id=article.id).exists()
    history = await client.get(f"{BASE}/article/{article.id}/history/")
    assert "<td>Delete</td>" in history.text
    assert "Gone soon" in history.text


async def test_protected_object_cannot_be_deleted(client: AppClient, desk: dict[str, Any]) -> None:
    await Article.objects.create(title="Mine", reporter_id=desk["ann"].id)
    page = await client.get(f"{BASE}/reporter/{desk['ann'].id}/delete/")
    assert 'id="delete-blocked"' in page.text
    assert 'id="confirm-delete"' not in page.text
    response = await client.post(
        f"{BASE}/reporter/{desk['ann'].id}/delete/", data={"csrf_token": desk["token"]}
    )
    assert response.status_code == 303
    assert await Reporter.objects.filter(id=desk["ann"].id).exists()


async def test_missing_objects_and_bad_ids_are_404(client: AppClient, desk: dict[str, Any]) -> None:
    for url in (
        f"{BASE}/article/999999/change/",
        f"{BASE}/article/abc/change/",
        f"{BASE}/article/999999/delete/",
    ):
        assert (await client.get(url)).status_code == 404
    history = await client.get(f"{BASE}/article/999999/history/")
    assert 'id="no-history"' in history.text


async def test_autocomplete_endpoint(client: AppClient, desk: dict[str, Any]) -> None:
    await Section.objects.create(name="Culture")
    response = await client.get(f"{BASE}/section/autocomplete/", params={"q": "cult"})
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Culture"]
    by_id = await client.get(f"{BASE}/section/autocomplete/", params={"q": str(desk["sport"].id)})
    assert {"id": str(desk["sport"].id), "text": "Sport"} in by_id.json()["results"]
    everything = await client.get(f"{BASE}/section/autocomplete/")
    assert len(everything.json()["results"]) == 2
    assert (await client.get(f"{BASE}/nothing/autocomplete/")).status_code == 404


async def test_autocomplete_needs_view_permission(client: AppClient, make_user: Any) -> None:
    await login(client, await make_user(perms=("admin_models.view_article",)))
    response = await client.get(f"{BASE}/section/autocomplete/", params={"q": "s"})
    assert response.status_code == 403


async def test_tampered_many_to_many_and_inline_values(
    client: AppClient, desk: dict[str, Any]
) -> None:
    bad_label = await client.post(ADD, data=article_form(desk, labels=["abc"]))
    assert bad_label.status_code == 400
    assert "abc is not a valid choice." in bad_label.text.replace("`", "")
    missing_label = await client.post(ADD, data=article_form(desk, labels=["999999"]))
    assert missing_label.status_code == 400
    assert "The database refused the change" in missing_label.text
    assert not await Article.objects.filter(title="Harbour lights").exists()

    other = await Article.objects.create(title="Other", reporter_id=desk["ann"].id)
    foreign = await Comment.objects.create(article_id=other.id, author="Not yours")
    mine = await Article.objects.create(title="Mine", reporter_id=desk["ann"].id)
    stolen = await client.post(
        f"{BASE}/article/{mine.id}/change/",
        data=article_form(
            desk,
            title="Mine",
            **{
                "inline-comment-TOTAL": "1",
                "inline-comment-0-id": str(foreign.id),
                "inline-comment-0-author": "Taken over",
            },
        ),
    )
    assert stolen.status_code == 400
    assert "This row no longer exists: reload the page." in stolen.text
    assert (await Comment.objects.get(id=foreign.id)).author == "Not yours"
    nonsense_total = await client.post(
        f"{BASE}/article/{mine.id}/change/",
        data=article_form(desk, title="Mine again", **{"inline-comment-TOTAL": "lots"}),
    )
    assert nonsense_total.status_code == 303
    assert (await Article.objects.get(id=mine.id)).title == "Mine again"


async def test_posting_to_a_deleted_object_is_404(client: AppClient, desk: dict[str, Any]) -> None:
    article = await Article.objects.create(title="Soon gone", reporter_id=desk["ann"].id)
    await article.delete()
    response = await client.post(
        f"{BASE}/article/{article.id}/change/", data=article_form(desk, title="Back?")
    )
    assert response.status_code == 404
    assert not await Article.objects.filter(id=article.id).exists()
