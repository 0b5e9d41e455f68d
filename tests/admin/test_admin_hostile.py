"""Hostile values POSTed into the admin's forms: the add and change forms, the bulk
action form, the login form and the autocomplete endpoint.

Every payload of ``tests/reliability/payloads.py`` goes into every field, sent as raw
``application/x-www-form-urlencoded`` bytes (so invalid UTF-8 and NUL reach the
server exactly as written). Each answer must be a form error or another 4xx (or a
success that stored exactly what was sent), never a 5xx; nothing leaks (SQL,
traceback, driver, URL); and no row is written unless the answer says it was.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlencode, urlsplit

import httpx
import pytest
from admin_models import ALL_MODELS, Article, Label, Reporter, Section
from admin_support import BASE, PASSWORD, login

from stellate.admin import AdminLogEntry
from stellate.core.testing import AppClient


def _load_payloads() -> Any:
    """The reliability suite's payload list (one list of hostile values for the project)."""
    path = Path(__file__).resolve().parents[1] / "reliability" / "payloads.py"
    spec = importlib.util.spec_from_file_location("admin_hostile_payloads", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module importable
    spec.loader.exec_module(module)
    return module


_payloads = _load_payloads()
PAYLOADS: tuple[Any, ...] = _payloads.PAYLOADS
LEAK_MARKERS: tuple[str, ...] = (*_payloads.LEAK_MARKERS, 'FROM "admintest_', 'INTO "admintest_')
ADD = f"{BASE}/article/add/"
FORM = {"content-type": "application/x-www-form-urlencoded"}
#: The article form's inputs that take text (checkbox and many-to-many included).
ARTICLE_FIELDS = (
    "title",
    "status",
    "featured",
    "word_count",
    "price",
    "published_on",
    "metadata",
    "reporter_id",
    "section_id",
    "labels",
    "inline-comment-TOTAL",
    "inline-comment-0-author",
    "inline-comment-0-id",
)


def raw_form(fields: dict[str, Any], name: str, raw: str) -> bytes:
    """The url-encoded body of ``fields`` with ``name`` set to the already-encoded ``raw``."""
    pairs = [(k, v) for k, v in fields.items() if k != name]
    body = urlencode(pairs, doseq=True)
    return f"{body}&{quote(name, safe='')}={raw}".encode("latin-1")


def sent_text(payload: Any) -> str:
    """The text a form field holds after ``payload.query`` is decoded: bytes that are not
    UTF-8 (no browser sends them) become U+FFFD, as the form parser decodes them."""
    return unquote_to_bytes(payload.query).decode("utf-8", "replace")


async def row_counts() -> dict[str, int]:
    counts = {model.__name__: await model.objects.count() for model in ALL_MODELS}
    counts["AdminLogEntry"] = await AdminLogEntry.objects.count()
    return counts


class Verdicts:
    """Every violation of one test, reported together."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.sent = 0

    def check(self, what: str, response: httpx.Response) -> None:
        self.sent += 1
        if response.status_code >= 500:
            self.problems.append(f"{what}: {response.status_code} {response.text[:300]}")
        leaked = [m for m in LEAK_MARKERS if m in response.text]
        if leaked:
            self.problems.append(f"{what}: response leaks {leaked}")
        if "pwned" in response.headers.get("set-cookie", "") or "x-injected" in response.headers:
            self.problems.append(f"{what}: response carries an injected header")

    async def send(
        self, client: AppClient, what: str, method: str, url: str, **options: Any
    ) -> httpx.Response | None:
        try:
            response = await client.request(method, url, **options)
        except Exception as exc:  # an exception out of the app is a 500
            self.problems.append(f"{what}: raised {type(exc).__name__}: {str(exc)[:200]}")
            return None
        self.check(what, response)
        return response

    def report(self) -> str:
        shown = "\n".join(f"  - {p}" for p in self.problems[:40])
        return f"{len(self.problems)} problem(s) in {self.sent} requests:\n{shown}"


@pytest.fixture
async def desk(client: AppClient, make_user: Any) -> dict[str, Any]:
    token = await login(client, await make_user(superuser=True))
    ann = await Reporter.objects.create(name="Ann Archer")
    sport = await Section.objects.create(name="Sport")
    news = await Label.objects.create(name="news")
    article = await Article.objects.create(title="Tide tables", reporter_id=ann.id)
    return {"token": token, "ann": ann, "sport": sport, "news": news, "article": article}


def article_form(desk: dict[str, Any]) -> dict[str, Any]:
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
        "labels": [str(desk["news"].id)],
        "inline-comment-TOTAL": "1",
        "inline-comment-0-author": "Reader",
        "_save": "1",
    }


async def test_add_form_refuses_hostile_values(client: AppClient, desk: dict[str, Any]) -> None:
    """Each field of the add form gets each payload: a 400 form page and no row, or a
    redirect after storing one article (with the title exactly as sent)."""
    verdicts = Verdicts()
    base = article_form(desk)
    refused = 0
    for name in ARTICLE_FIELDS:
        for payload in PAYLOADS:
            what = f"POST add {name}={payload.name}"
            before = await row_counts()
            response = await verdicts.send(
                client, what, "POST", ADD, content=raw_form(base, name, payload.query), headers=FORM
            )
            if response is None:
                continue
            after = await row_counts()
            if response.status_code == 303:
                created = await Article.objects.order_by("-id").first()
                assert created is not None
                if name == "title" and created.title != sent_text(payload):
                    verdicts.problems.append(f"{what}: stored title {created.title[:60]!r}")
                await created.delete()  # cascades to its comment; the log entry stays
                continue
            refused += 1
            if response.status_code != 400 or 'id="form-errors"' not in response.text:
                verdicts.problems.append(f"{what}: {response.status_code}, not a form error")
            if after != before:
                verdicts.problems.append(f"{what}: refused, yet rows changed {before} -> {after}")
    assert not verdicts.problems, verdicts.report()
    assert refused > len(PAYLOADS) * 4  # most payloads fit no number, date or key


async def test_change_form_refuses_hostile_values(client: AppClient, desk: dict[str, Any]) -> None:
    """The change form of a stored article: a refused value leaves the row as it was."""
    verdicts = Verdicts()
    article = desk["article"]
    url = f"{BASE}/article/{article.id}/change/"
    base = article_form(desk) | {"title": "Tide tables", "inline-comment-TOTAL": "0"}
    base.pop("inline-comment-0-author")
    assert (await client.post(url, data=base)).status_code == 303  # the baseline is valid
    for name in ARTICLE_FIELDS:
        for payload in PAYLOADS:
            what = f"POST change {name}={payload.name}"
            stored = (await Article.objects.get(id=article.id)).to_dict()
            before = await row_counts()
            response = await verdicts.send(
                client, what, "POST", url, content=raw_form(base, name, payload.query), headers=FORM
            )
            if response is None or response.status_code == 303:
                # Accepted (a valid title, say): put the baseline back for the next payload.
                assert (await client.post(url, data=base)).status_code == 303
                continue
            if response.status_code != 400:
                verdicts.problems.append(f"{what}: {response.status_code}, not a form error")
            if (await Article.objects.get(id=article.id)).to_dict() != stored:
                verdicts.problems.append(f"{what}: refused, yet the row changed")
            if await row_counts() != before:
                verdicts.problems.append(f"{what}: refused, yet rows were written")
    assert not verdicts.problems, verdicts.report()


async def test_object_urls_refuse_hostile_ids(client: AppClient, desk: dict[str, Any]) -> None:
    """POSTs to the change and delete pages of ids no column holds: 404 pages, no write."""
    verdicts = Verdicts()
    base = article_form(desk)
    before = await row_counts()
    for payload in PAYLOADS:
        # An empty id or one with a slash matches no admin route: the app's own 404.
        routed = payload.name != "empty" and "/" not in sent_text(payload)
        for page in ("change", "delete", "history"):
            url = f"{BASE}/article/{payload.query}/{page}/"
            method = "GET" if page == "history" else "POST"
            response = await verdicts.send(
                client, f"{method} {page} id={payload.name}", method, url, data=base
            )
            if response is None:
                continue
            if response.status_code != 404:
                verdicts.problems.append(f"{page} id={payload.name}: {response.status_code}")
            elif routed and not (
                response.headers["content-type"].startswith("text/html")
                and ("does not exist" in response.text or "is not a valid id" in response.text)
                and len(response.text) < 30_000  # the id is quoted shortened, not in full
            ):
                verdicts.problems.append(f"{page} id={payload.name}: 404 page without the reason")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()


async def test_bulk_action_form_refuses_hostile_ids_and_actions(
    client: AppClient, desk: dict[str, Any]
) -> None:
    """Hostile `_selected` ids and `action` names, with and without `confirm=yes`: 400
    with the reason, and no row changed or deleted."""
    verdicts = Verdicts()
    url = f"{BASE}/article/"
    token = desk["token"]
    article = desk["article"]
    stored = article.to_dict()
    before = await row_counts()
    for payload in PAYLOADS:
        for action in ("publish", "delete_selected"):
            for confirm in ("", "yes"):
                fields = {"csrf_token": token, "action": action, "confirm": confirm}
                for selected in ([], [str(article.id)]):
                    body = raw_form(fields | {"_selected": selected}, "_selected", payload.query)
                    if selected:  # a valid id and a hostile one: nothing may happen to either
                        body += f"&_selected={article.id}".encode()
                    what = f"POST action={action} confirm={confirm} _selected={payload.name}"
                    response = await verdicts.send(
                        client, what, "POST", url, content=body, headers=FORM
                    )
                    if response is not None and response.status_code != 400:
                        verdicts.problems.append(f"{what}: {response.status_code}, not 400")
                    elif response is not None and "is not a valid row id" not in response.text:
                        verdicts.problems.append(f"{what}: the page does not say why")
        for confirm in ("", "yes"):
            fields = {"csrf_token": token, "_selected": str(article.id), "confirm": confirm}
            what = f"POST action={payload.name} confirm={confirm}"
            response = await verdicts.send(
                client,
                what,
                "POST",
                url,
                content=raw_form(fields, "action", payload.query),
                headers=FORM,
            )
            if response is not None and response.status_code != 400:
                verdicts.problems.append(f"{what}: {response.status_code}, not 400")
    assert await row_counts() == before
    assert (await Article.objects.get(id=article.id)).to_dict() == stored
    assert not verdicts.problems, verdicts.report()


def assert_same_site(location: str) -> None:
    parts = urlsplit(location)
    assert not parts.scheme, location
    assert not parts.netloc, location
    assert location.startswith("/"), location
    assert not location.startswith("//"), location
    assert not any(ord(c) < 32 or ord(c) == 127 for c in location), location


async def test_login_form_refuses_hostile_values(client: AppClient, make_user: Any) -> None:
    """A hostile `next` sends a successful login to a same-site path (the dashboard when
    in doubt); hostile usernames and passwords are refused with 400/401/429."""
    verdicts = Verdicts()
    user = await make_user()
    models_before = {k: v for k, v in (await row_counts()).items() if k != "AdminLogEntry"}
    for payload in PAYLOADS:
        client.cookies.clear()
        page = await verdicts.send(
            client, f"GET login next={payload.name}", "GET", f"/admin/login/?next={payload.query}"
        )
        if page is not None and page.status_code != 200:
            verdicts.problems.append(f"GET login next={payload.name}: {page.status_code}")
        fields = {"username": user.username, "password": PASSWORD}
        what = f"POST login next={payload.name}"
        response = await verdicts.send(
            client,
            what,
            "POST",
            "/admin/login/",
            content=raw_form(fields, "next", payload.query),
            headers=FORM,
        )
        if response is not None:
            if response.status_code != 303:
                verdicts.problems.append(f"{what}: {response.status_code}, not a redirect")
            else:
                assert_same_site(response.headers["location"])
        client.cookies.clear()
        for name in ("username", "password"):
            fields = {"username": user.username, "password": "wrong " + PASSWORD}
            what = f"POST login {name}={payload.name}"
            response = await verdicts.send(
                client,
                what,
                "POST",
                "/admin/login/",
                content=raw_form(fields, name, payload.query),
                headers=FORM,
            )
            if response is not None and response.status_code not in (400, 401, 429):
                verdicts.problems.append(f"{what}: {response.status_code}")
            if response is not None and name == "username" and payload.name == "nul":
                assert "cannot contain the NUL character" in response.text
        await client.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
    models_after = {k: v for k, v in (await row_counts()).items() if k != "AdminLogEntry"}
    assert models_after == models_before
    assert not verdicts.problems, verdicts.report()


async def test_autocomplete_and_filters_refuse_hostile_values(
    client: AppClient, desk: dict[str, Any]
) -> None:
    """The autocomplete endpoint answers JSON (200 or 4xx) to any `q`; the change list
    answers 200 or a 400 page naming the filter; the add form prefilled from the query
    string answers its page."""
    verdicts = Verdicts()
    before = await row_counts()
    filters = ("status", "featured", "reporter_id", "section_id", "published_on", "updated_at")
    for payload in PAYLOADS:
        for model in ("section", "reporter", "article"):
            what = f"GET {model} autocomplete q={payload.name}"
            response = await verdicts.send(
                client, what, "GET", f"{BASE}/{model}/autocomplete/?q={payload.query}"
            )
            if response is not None:
                kind = response.headers.get("content-type", "")
                if response.status_code >= 400 or not kind.startswith("application/json"):
                    verdicts.problems.append(f"{what}: {response.status_code} {kind}")
        for name in filters:
            for param in (name, f"{name}__gte", f"{name}__lte", f"{name}__isnull"):
                what = f"GET article list {param}={payload.name}"
                response = await verdicts.send(
                    client, what, "GET", f"{BASE}/article/?{param}={payload.query}"
                )
                if response is None or response.status_code == 200:
                    continue
                if response.status_code != 400 or 'id="changelist-errors"' not in response.text:
                    verdicts.problems.append(f"{what}: {response.status_code} without the reason")
        for param in ("q", "o", "after", "before"):
            what = f"GET article list {param}={payload.name}"
            await verdicts.send(client, what, "GET", f"{BASE}/article/?{param}={payload.query}")
        for name in ARTICLE_FIELDS:  # the add form's prefill from the query string
            what = f"GET add ?{name}={payload.name}"
            response = await verdicts.send(client, what, "GET", f"{ADD}?{name}={payload.query}")
            if response is not None and response.status_code not in (200, 400):
                verdicts.problems.append(f"{what}: {response.status_code}")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"note": "a\\u0000b"}', "NUL"),
        ('{"a\\u0000": 1}', "NUL"),
        ('{"n": NaN}', "`NaN` is not a JSON number"),
        ('{"n": -Infinity}', "`-Infinity` is not a JSON number"),
        ('{"n": 1e999}', "too large for a JSON number"),
        ("[" * 100_000 + "]" * 100_000, "nested less deeply"),
    ],
)
async def test_json_inputs_refuse_what_jsonb_cannot_store(
    client: AppClient, desk: dict[str, Any], text: str, reason: str
) -> None:
    before = await row_counts()
    response = await client.post(ADD, data=article_form(desk) | {"metadata": text})
    assert response.status_code == 400
    assert reason in response.text.replace("&#34;", '"')
    assert await row_counts() == before


GADGET_FIELDS = ("name", "active", "starts", "runtime", "ratio", "parts")


async def test_rare_field_types_and_uuid_ids_refuse_hostile_values(
    tables: Any, make_user: Any
) -> None:
    """Time, duration, float, nullable bool, JSON list and a UUID primary key."""
    from admin_models import Gadget
    from admin_support import SETTINGS

    from stellate.admin import ModelAdmin
    from stellate.core import App

    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    app.admin.register(Gadget, ModelAdmin)  # type: ignore[attr-defined]
    url = f"{BASE}/gadget/"
    verdicts = Verdicts()
    async with AppClient(app) as client:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        token = await login(client, await make_user(superuser=True))
        base = {
            "csrf_token": token,
            "name": "Lamp",
            "active": "true",
            "starts": "09:30",
            "runtime": "90",
            "ratio": "0.5",
            "parts": "[1, 2]",
            "_save": "1",
        }
        for name in GADGET_FIELDS:
            for payload in PAYLOADS:
                what = f"POST gadget add {name}={payload.name}"
                before = await row_counts()
                body = raw_form(base, name, payload.query)
                response = await verdicts.send(
                    client, what, "POST", f"{url}add/", content=body, headers=FORM
                )
                if response is None:
                    continue
                if response.status_code == 303:
                    await Gadget.objects.all().delete()
                    continue
                if response.status_code != 400:
                    verdicts.problems.append(f"{what}: {response.status_code}, not 400")
                if await row_counts() != before:
                    verdicts.problems.append(f"{what}: refused, yet rows changed")
        for payload in PAYLOADS:
            for page in ("change", "delete", "history"):
                what = f"GET gadget {page} id={payload.name}"
                page_url = f"{url}{payload.query}/{page}/"
                response = await verdicts.send(client, what, "GET", page_url)
                if response is not None and response.status_code != 404:
                    verdicts.problems.append(f"{what}: {response.status_code}, not 404")
    assert not verdicts.problems, verdicts.report()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_upload_file_names_refuse_hostile_values(
    tables: Any, make_user: Any, tmp_path: Path
) -> None:
    """Hostile upload file names (NUL, 60,000 characters, traversal...) into a real
    folder: a form error or a file stored inside the folder, never a 5xx."""
    from admin_models import Document
    from admin_support import SETTINGS

    from stellate.admin import ModelAdmin
    from stellate.core import App
    from stellate.core.storage import FileSystemStorage

    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    media = tmp_path / "media"
    app.admin.storage = FileSystemStorage(str(media))  # type: ignore[attr-defined]
    app.admin.register(Document, ModelAdmin)  # type: ignore[attr-defined]
    verdicts = Verdicts()
    async with AppClient(app) as client:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        token = await login(client, await make_user(superuser=True))
        for payload in PAYLOADS:
            filename = sent_text(payload) + ".txt"
            what = f"POST document upload name={payload.name}"
            before = await row_counts()
            response = await verdicts.send(
                client,
                what,
                "POST",
                f"{BASE}/document/add/",
                data={"csrf_token": token, "title": "Notes", "_save": "1"},
                files={"attachment": (filename, b"hello", "text/plain")},
            )
            if response is None or response.status_code == 303:
                continue
            # A part header of 60,000 characters is more than the multipart parser reads:
            # stellate-auth's CSRF check finds no token in it and refuses the request.
            csrf = response.status_code == 403 and "csrf_missing" in response.text
            if response.status_code != 400 and not (payload.name == "long" and csrf):
                verdicts.problems.append(f"{what}: {response.status_code} {response.text[:300]}")
            if (
                payload.name == "huge-int"
                and "Rename the file before uploading" not in response.text
            ):
                verdicts.problems.append(f"{what}: the form does not say why")
            if await row_counts() != before:
                verdicts.problems.append(f"{what}: refused, yet rows changed")
    stored = files_under(tmp_path)
    assert all(p.resolve().is_relative_to(media.resolve()) for p in stored)
    assert len(stored) == await Document.objects.count()
    assert not verdicts.problems, verdicts.report()
