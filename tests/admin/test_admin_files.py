"""File fields: upload through the change form into a storage, checks, replace, clear."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from admin_models import Document
from admin_support import SETTINGS, login

from stellate.admin import AdminSite, ModelAdmin
from stellate.core import App, ImproperlyConfigured
from stellate.core.storage import MemoryStorage
from stellate.core.testing import AppClient
from stellate.orm import Database

URL = "/admin/admin_models/document/"


@pytest.fixture
async def documents(
    tables: Database, make_user: Any
) -> AsyncIterator[tuple[AppClient, str, MemoryStorage]]:
    storage = MemoryStorage(base_url="/media/")
    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    app.admin.storage = storage  # type: ignore[attr-defined]
    app.admin.register(Document, ModelAdmin)  # type: ignore[attr-defined]
    async with AppClient(app) as client:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        token = await login(client, await make_user(superuser=True))
        yield client, token, storage


def test_inlines_refuse_file_fields() -> None:
    from admin_models import Article

    from stellate.admin import TabularInline

    class DocumentRows(TabularInline):
        model = Document
        fields = ("title", "attachment")

    class DefaultRows(TabularInline):
        model = Document

    assert DefaultRows(Article).field_names == ["title"]  # the file field is left out
    with pytest.raises(ImproperlyConfigured, match="cannot edit binary or file fields"):
        DocumentRows(Article)


async def test_file_fields_need_a_storage(tables: Database) -> None:
    with pytest.raises(ImproperlyConfigured, match="no storage"):
        AdminSite().register(Document, ModelAdmin)
    # The decorator form may bring the storage with its options...
    site = AdminSite()

    @site.register(Document)
    class DocumentAdmin(ModelAdmin):
        storage = MemoryStorage()

    site.check()
    assert site.is_registered(Document)
    # ...but `register(Model)` alone whose defaults do not fit fails at startup.
    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    app.admin.register(Document)  # type: ignore[attr-defined]
    assert not app.admin.is_registered(Document)  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured, match="`Document` was registered with the default"):
        async with AppClient(app):
            pass
    admin = AdminSite(storage=MemoryStorage()).register(Document, ModelAdmin)
    assert admin.file_fields == ["attachment"]


async def test_upload_replace_and_clear(
    documents: tuple[AppClient, str, MemoryStorage],
) -> None:
    client, token, storage = documents
    form = await client.get(URL + "add/")
    assert 'enctype="multipart/form-data"' in form.text
    assert 'type="file" name="attachment" id="id_attachment"' in form.text
    assert 'accept=".pdf,.txt"' in form.text
    created = await client.post(
        URL + "add/",
        data={"csrf_token": token, "title": "Report", "_continue": "1"},
        files={"attachment": ("report.txt", b"quarterly numbers", "text/plain")},
    )
    assert created.status_code == 303, created.text
    document = await Document.objects.get(title="Report")
    assert document.attachment == "docs/report.txt"
    assert await storage.read("docs/report.txt") == b"quarterly numbers"
    page = await client.get(created.headers["location"])
    assert '<a href="/media/docs/report.txt">docs/report.txt</a>' in page.text
    assert 'name="attachment-clear"' in page.text

    # Saving without a new file keeps the current one.
    kept = await client.post(
        f"{URL}{document.id}/change/",
        data={"csrf_token": token, "title": "Report v2", "attachment-current": "1"},
        files={"attachment": ("", b"", "application/octet-stream")},
    )
    assert kept.status_code == 303, kept.text
    assert (await Document.objects.get(id=document.id)).attachment == "docs/report.txt"

    replaced = await client.post(
        f"{URL}{document.id}/change/",
        data={"csrf_token": token, "title": "Report v2"},
        files={"attachment": ("final.pdf", b"%PDF-1.7", "application/pdf")},
    )
    assert replaced.status_code == 303, replaced.text
    assert (await Document.objects.get(id=document.id)).attachment == "docs/final.pdf"

    cleared = await client.post(
        f"{URL}{document.id}/change/",
        data={"csrf_token": token, "title": "Report v2", "attachment-clear": "on"},
        files={"attachment": ("", b"", "application/octet-stream")},
    )
    assert cleared.status_code == 303, cleared.text
    assert (await Document.objects.get(id=document.id)).attachment == ""
    history = await client.get(f"{URL}{document.id}/history/")
    assert "<td>attachment</td>" in history.text


async def test_refused_uploads_store_nothing(
    documents: tuple[AppClient, str, MemoryStorage],
) -> None:
    client, token, storage = documents
    response = await client.post(
        URL + "add/",
        data={"csrf_token": token, "title": "Bad"},
        files={"attachment": ("tool.exe", b"MZ...", "application/octet-stream")},
    )
    assert response.status_code == 400
    assert 'id="err_attachment"' in response.text
    assert "does not accept tool.exe" in response.text
    assert not await storage.exists("docs/tool.exe")
    # A valid file with an invalid title: the form fails and the file is not stored.
    invalid = await client.post(
        URL + "add/",
        data={"csrf_token": token, "title": ""},
        files={"attachment": ("ok.txt", b"fine", "text/plain")},
    )
    assert invalid.status_code == 400
    assert not await storage.exists("docs/ok.txt")
    assert not await Document.objects.exists()
