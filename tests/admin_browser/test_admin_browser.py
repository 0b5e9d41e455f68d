"""The admin in a real browser: headless Chromium against the newsroom served by uvicorn.

Each test drives the pages the way an editor would (typing, clicking, keyboard) and
checks what the page shows; a screenshot of each main page is saved under
``test-artifacts/admin/``. The server-side behaviour behind each step has its own
HTTP tests in ``tests/admin``; these prove the HTML, forms, links and the small
script work together in a browser.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from examples.newsroom.seed import DEMO_PASSWORD, DEMO_USERNAME

ARTICLES = "/admin/newsroom/article/"
ROWS = "#result-list tbody tr[id^=row-]"


@pytest.fixture
async def page(browser: Any, live_server: str) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=live_server)
    context.set_default_timeout(15_000)
    yield await context.new_page()
    await context.close()


async def log_in(page: Page) -> None:
    await page.goto("/admin/login/")
    await page.fill("#id_username", DEMO_USERNAME)
    await page.fill("#id_password", DEMO_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#current-user")).to_contain_text(DEMO_USERNAME)


async def test_login_refuses_a_wrong_password_and_opens_the_dashboard(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await page.goto("/admin/")
    await expect(page).to_have_url(re.compile(r"/admin/login/"))
    await screenshot(page, "01-login")

    await page.fill("#id_username", DEMO_USERNAME)
    await page.fill("#id_password", "not-the-password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#id_username")).to_have_value(DEMO_USERNAME)

    # Keyboard only: the form submits with Enter.
    await page.fill("#id_password", DEMO_PASSWORD)
    await page.press("#id_password", "Enter")
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    await expect(page.locator("#app-newsroom")).to_be_visible()
    await expect(page.locator("#model-newsroom-article")).to_contain_text("Article")
    await screenshot(page, "02-dashboard")


async def test_change_list_search_filter_by_enum_and_sort(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await log_in(page)
    await page.goto(ARTICLES)
    rows = page.locator(ROWS)
    await expect(rows).to_have_count(10)
    await screenshot(page, "03-change-list")

    await page.fill("#searchbar", "comet")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("The comet that came back")

    await page.goto(ARTICLES)
    await (
        page.locator("#filter-status")
        .get_by_role("link", name=re.compile(r"in.review", re.I))
        .click()
    )
    await expect(page).to_have_url(re.compile(r"status=in_review"))
    await expect(rows).to_have_count(2)
    for title in ("Opera returns to the old mill", "Glaciers, measured by hand"):
        await expect(page.locator("#result-list")).to_contain_text(title)
    await screenshot(page, "04-change-list-filtered")

    await page.goto(ARTICLES)
    await (
        page.locator("#result-list thead")
        .get_by_role("link", name=re.compile("title", re.I))
        .click()
    )
    await expect(page).to_have_url(re.compile(r"o=-?title"))
    header = page.locator("#result-list thead th[aria-sort]")
    await expect(header).to_have_count(1)
    shown = [
        text.strip()
        for text in (await page.locator("#result-list tbody th[scope=row]").all_inner_texts())
    ]
    ordering = await header.get_attribute("aria-sort")
    expected = sorted(shown, key=str.casefold, reverse=ordering == "descending")
    assert shown == expected, (ordering, shown)


async def test_invalid_values_are_refused_next_to_their_field(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await log_in(page)
    # A rule only the server knows (the email pattern): the error comes back next to
    # the field, with everything typed kept.
    await page.goto("/admin/newsroom/reporter/add/")
    name = f"Ines Moreau {uuid.uuid4().hex[:6]}"
    await page.fill("#id_name", name)
    await page.fill("#id_email", "ines at the desk")
    await page.click("#save")
    await expect(page.locator("#err_email")).to_be_visible()
    await expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-errors")).to_be_visible()
    await expect(page.locator("#id_name")).to_have_value(name)
    await expect(page.locator("#id_email")).to_have_value("ines at the desk")
    await screenshot(page, "05-change-form-error")

    await page.fill("#id_email", f"ines.{uuid.uuid4().hex[:6]}@newsroom.example")
    await page.click("#save")
    await expect(page.locator("ul.messages .message-success")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/admin/newsroom/reporter/$"))

    # A rule the page states as input attributes (min=0): the browser itself refuses.
    await page.goto(f"{ARTICLES}add/")
    await page.fill("#id_title", "Negative words")
    await page.fill("#id_word_count", "-40")
    await page.select_option("#id_section_id", label="Science")
    await page.select_option("#id_reporter_id", label="Tomas Berg")
    await page.click("#save")
    await expect(page).to_have_url(re.compile(r"/add/$"))
    assert await page.eval_on_selector("#id_word_count", "el => el.validity.rangeUnderflow")


async def test_create_edit_and_read_the_history(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await log_in(page)
    title = f"Night trains {uuid.uuid4().hex[:6]}"
    await page.goto(ARTICLES)
    await page.click("#add-object")
    await expect(page.locator("#article-form")).to_be_visible()
    await expect(page.locator("#id_status")).to_have_js_property("tagName", "SELECT")
    await expect(page.locator("#id_featured")).to_have_attribute("type", "checkbox")
    await expect(page.locator("#id_published_on")).to_have_attribute("type", "date")

    await page.fill("#id_title", title)
    await page.fill("#id_word_count", "640")
    await page.select_option("#id_status", "draft")
    await page.select_option("#id_section_id", label="Science")
    await page.select_option("#id_reporter_id", label="Tomas Berg")
    await page.click("#save-continue")
    await expect(page.locator("ul.messages .message-success")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/admin/newsroom/article/\d+/change/"))
    await expect(page.locator("#id_title")).to_have_value(title)
    await screenshot(page, "06-change-form")

    await page.select_option("#id_status", "published")
    await page.fill("#id_published_on", "2026-11-20")
    await page.check("#id_featured")
    await page.click("#save")
    await expect(page.locator("ul.messages .message-success")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/admin/newsroom/article/$"))

    await page.fill("#searchbar", title)
    await page.get_by_role("button", name="Search").click()
    row = page.locator(ROWS)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(re.compile("published", re.I))
    await row.get_by_role("link", name=title).click()
    await page.click("#history-link")
    history = page.locator("#history-table")
    await expect(history).to_be_visible()
    await expect(history).to_contain_text(DEMO_USERNAME)
    await expect(history).to_contain_text("status")
    await expect(history).to_contain_text("featured")
    await screenshot(page, "07-history")


async def test_bulk_delete_asks_for_confirmation_then_hides_the_rows(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await log_in(page)
    marker = uuid.uuid4().hex[:6]
    for index in range(2):
        await page.goto(f"{ARTICLES}add/")
        await page.fill("#id_title", f"Short-lived {marker} {index}")
        await page.select_option("#id_section_id", label="Sport")
        await page.select_option("#id_reporter_id", label="Mira Santos")
        await page.click("#save")
        await expect(page.locator("ul.messages .message-success")).to_be_visible()

    await page.goto(ARTICLES)
    await page.fill("#searchbar", marker)
    await page.get_by_role("button", name="Search").click()
    rows = page.locator(ROWS)
    await expect(rows).to_have_count(2)
    for checkbox in await page.locator("#result-list tbody input[name=_selected]").all():
        await checkbox.check()
    await page.select_option("#id_action", "delete_selected")
    await page.get_by_role("button", name="Run").click()

    await expect(page.locator("#selected-objects")).to_contain_text(f"Short-lived {marker} 0")
    await expect(page.locator("#selected-objects")).to_contain_text(f"Short-lived {marker} 1")
    await screenshot(page, "08-delete-confirmation")
    await page.click("#confirm-action")
    await expect(page.locator("ul.messages .message-success")).to_be_visible()

    await page.fill("#searchbar", marker)
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(ROWS)).to_have_count(0)


async def test_dark_theme_follows_the_system_setting(
    page: Page, screenshot: Callable[[Page, str], Awaitable[Path]]
) -> None:
    await log_in(page)
    backgrounds = {}
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.goto(ARTICLES)
        backgrounds[scheme] = await page.evaluate(
            "() => getComputedStyle(document.body).backgroundColor"
        )
        await screenshot(page, f"09-change-list-{scheme}")
    assert backgrounds["light"] != backgrounds["dark"], backgrounds

    # Narrow screens keep the table reachable (no page-wide horizontal overflow).
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.goto(ARTICLES)
    await screenshot(page, "10-change-list-phone")
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > innerWidth + 1
                     && !el.closest('.table-wrap'))
            .map(el => el.tagName + '.' + el.className + '#' + el.id)"""
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px on a phone: {wide}"
