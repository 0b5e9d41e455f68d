"""Rarer field types, a UUID primary key, method columns, fieldsets and secret fields."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from admin_models import Gadget
from admin_support import SETTINGS, login

from stellate.admin import ModelAdmin
from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Database

URL = "/admin/admin_models/gadget/"


class GadgetAdmin(ModelAdmin):
    list_display = ("name", "active", "shout")
    list_filter = ("active",)
    list_per_page = 2
    ordering = ("name",)
    fieldsets = (
        ("Basics", {"fields": ("name", "active")}),
        ("Timing", {"fields": ("starts", "runtime", "ratio", "parts")}),
    )
    secret_fields = ("api_token",)

    def shout(self, obj: Any) -> str:
        return obj.name.upper()

    shout.short_description = "Loud name"  # type: ignore[attr-defined]


@pytest.fixture
async def gadgets(tables: Database, make_user: Any) -> AsyncIterator[tuple[AppClient, str]]:
    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    app.admin.register(Gadget, GadgetAdmin)  # type: ignore[attr-defined]
    async with AppClient(app) as client:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        token = await login(client, await make_user(superuser=True))
        yield client, token


async def test_form_inputs_for_rare_types(gadgets: tuple[AppClient, str]) -> None:
    client, _ = gadgets
    page = await client.get(URL + "add/")
    html = page.text
    assert "<legend>Basics</legend>" in html
    assert "<legend>Timing</legend>" in html
    assert '<option value="unknown" selected>Unknown</option>' in html  # nullable bool
    assert 'type="time" name="starts"' in html
    assert 'type="number" name="runtime"' in html
    assert '<textarea name="parts"' in html
    assert "api_token" not in html


async def test_save_and_list_with_uuid_keys(gadgets: tuple[AppClient, str]) -> None:
    client, token = gadgets
    for name, active in (("alpha", "true"), ("beta", "false"), ("gamma", "unknown")):
        response = await client.post(
            URL + "add/",
            data={
                "csrf_token": token,
                "name": name,
                "active": active,
                "starts": "09:30",
                "runtime": "90",
                "ratio": "0.5",
                "parts": '["a", 1]',
            },
        )
        assert response.status_code == 303, response.text
    alpha = await Gadget.objects.get(name="alpha")
    assert isinstance(alpha.id, uuid.UUID)
    assert alpha.active is True
    assert alpha.starts == dt.time(9, 30)
    assert alpha.runtime == dt.timedelta(seconds=90)
    assert alpha.parts == ["a", 1]
    assert (await Gadget.objects.get(name="gamma")).active is None
    first = await client.get(URL)
    assert re.findall(r'<a href="[^"]+">([a-z]+)</a></th>', first.text) == ["alpha", "beta"]
    assert "<td>ALPHA</td>" in first.text
    assert re.search(r">\s*Loud name\s*<", first.text)
    link = re.search(r'<a href="([^"]+)" class="button" id="next-page"', first.text)
    assert link is not None
    second = await client.get(link.group(1).replace("&amp;", "&"))
    assert re.findall(r'<a href="[^"]+">([a-z]+)</a></th>', second.text) == ["gamma"]
    only_true = await client.get(URL, params={"active": "true"})
    assert re.findall(r'<a href="[^"]+">([a-z]+)</a></th>', only_true.text) == ["alpha"]
    change = await client.get(f"{URL}{alpha.id}/change/")
    assert "Gadget alpha" in change.text  # the model's __str__ names it
    assert 'value="09:30:00"' in change.text


async def test_invalid_rare_values(gadgets: tuple[AppClient, str]) -> None:
    client, token = gadgets
    response = await client.post(
        URL + "add/",
        data={
            "csrf_token": token,
            "name": "x",
            "active": "perhaps",
            "starts": "25:99",
            "runtime": "long",
            "ratio": "half",
            "parts": '{"not": "a list"}',
        },
    )
    assert response.status_code == 400
    html = response.text
    assert "Choose Yes, No or Unknown." in html
    assert "Enter a time as HH:MM." in html
    assert "Enter a duration in seconds." in html
    assert "Enter a number." in html
    assert "Enter a JSON array" in html
    assert (await client.get(f"{URL}not-a-uuid/change/")).status_code == 404
