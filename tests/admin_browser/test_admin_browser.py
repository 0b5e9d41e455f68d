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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from examples.newsroom.seed import DEMO_PASSWORD, DEMO_USERNAME

ARTICLES = "/admin/newsroom/article/"
ROWS = "#result-list tbody tr[id^=row-]"


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page: Page) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", DEMO_USERNAME)
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#current-user")).to_contain_text(DEMO_USERNAME)


def test_login_refuses_a_wrong_password_and_opens_the_dashboard(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    screenshot(page, "01-login")

    page.fill("#id_username", DEMO_USERNAME)
    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#id_username")).to_have_value(DEMO_USERNAME)

    # Keyboard only: the form submits with Enter.
    page.fill("#id_password", DEMO_PASSWORD)
    page.press("#id_password", "Enter")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#app-newsroom")).to_be_visible()
    expect(page.locator("#model-newsroom-article")).to_contain_text("Article")
    screenshot(page, "02-dashboard")


def test_change_list_search_filter_by_enum_and_sort(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page)
    page.goto(ARTICLES)
    rows = page.locator(ROWS)
    expect(rows).to_have_count(10)
    screenshot(page, "03-change-list")

    page.fill("#searchbar", "comet")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("The comet that came back")

    page.goto(ARTICLES)
    page.locator("#filter-status").get_by_role("link", name=re.compile(r"in.review", re.I)).click()
    expect(page).to_have_url(re.compile(r"status=in_review"))
    expect(rows).to_have_count(2)
    for title in ("Opera returns to the old mill", "Glaciers, measured by hand"):
        expect(page.locator("#result-list")).to_contain_text(title)
    screenshot(page, "04-change-list-filtered")

    page.goto(ARTICLES)
    page.locator("#result-list thead").get_by_role("link", name=re.compile("title", re.I)).click()
    expect(page).to_have_url(re.compile(r"o=-?title"))
    header = page.locator("#result-list thead th[aria-sort]")
    expect(header).to_have_count(1)
    shown = [
        text.strip() for text in page.locator("#result-list tbody th[scope=row]").all_inner_texts()
    ]
    ordering = header.get_attribute("aria-sort")
    expected = sorted(shown, key=str.casefold, reverse=ordering == "descending")
    assert shown == expected, (ordering, shown)


def test_invalid_values_are_refused_next_to_their_field(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page)
    # A rule only the server knows (the email pattern): the error comes back next to
    # the field, with everything typed kept.
    page.goto("/admin/newsroom/reporter/add/")
    name = f"Ines Moreau {uuid.uuid4().hex[:6]}"
    page.fill("#id_name", name)
    page.fill("#id_email", "ines at the desk")
    page.click("#save")
    expect(page.locator("#err_email")).to_be_visible()
    expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#id_name")).to_have_value(name)
    expect(page.locator("#id_email")).to_have_value("ines at the desk")
    screenshot(page, "05-change-form-error")

    page.fill("#id_email", f"ines.{uuid.uuid4().hex[:6]}@newsroom.example")
    page.click("#save")
    expect(page.locator("ul.messages .message-success")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/newsroom/reporter/$"))

    # A rule the page states as input attributes (min=0): the browser itself refuses.
    page.goto(f"{ARTICLES}add/")
    page.fill("#id_title", "Negative words")
    page.fill("#id_word_count", "-40")
    page.select_option("#id_section_id", label="Science")
    page.select_option("#id_reporter_id", label="Tomas Berg")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/add/$"))
    assert page.eval_on_selector("#id_word_count", "el => el.validity.rangeUnderflow")


def test_create_edit_and_read_the_history(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page)
    title = f"Night trains {uuid.uuid4().hex[:6]}"
    page.goto(ARTICLES)
    page.click("#add-object")
    expect(page.locator("#article-form")).to_be_visible()
    expect(page.locator("#id_status")).to_have_js_property("tagName", "SELECT")
    expect(page.locator("#id_featured")).to_have_attribute("type", "checkbox")
    expect(page.locator("#id_published_on")).to_have_attribute("type", "date")

    page.fill("#id_title", title)
    page.fill("#id_word_count", "640")
    page.select_option("#id_status", "draft")
    page.select_option("#id_section_id", label="Science")
    page.select_option("#id_reporter_id", label="Tomas Berg")
    page.click("#save-continue")
    expect(page.locator("ul.messages .message-success")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/newsroom/article/\d+/change/"))
    expect(page.locator("#id_title")).to_have_value(title)
    screenshot(page, "06-change-form")

    page.select_option("#id_status", "published")
    page.fill("#id_published_on", "2026-11-20")
    page.check("#id_featured")
    page.click("#save")
    expect(page.locator("ul.messages .message-success")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/newsroom/article/$"))

    page.fill("#searchbar", title)
    page.get_by_role("button", name="Search").click()
    row = page.locator(ROWS)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(re.compile("published", re.I))
    row.get_by_role("link", name=title).click()
    page.click("#history-link")
    history = page.locator("#history-table")
    expect(history).to_be_visible()
    expect(history).to_contain_text(DEMO_USERNAME)
    expect(history).to_contain_text("status")
    expect(history).to_contain_text("featured")
    screenshot(page, "07-history")


def test_bulk_delete_asks_for_confirmation_then_hides_the_rows(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page)
    marker = uuid.uuid4().hex[:6]
    for index in range(2):
        page.goto(f"{ARTICLES}add/")
        page.fill("#id_title", f"Short-lived {marker} {index}")
        page.select_option("#id_section_id", label="Sport")
        page.select_option("#id_reporter_id", label="Mira Santos")
        page.click("#save")
        expect(page.locator("ul.messages .message-success")).to_be_visible()

    page.goto(ARTICLES)
    page.fill("#searchbar", marker)
    page.get_by_role("button", name="Search").click()
    rows = page.locator(ROWS)
    expect(rows).to_have_count(2)
    for checkbox in page.locator("#result-list tbody input[name=_selected]").all():
        checkbox.check()
    page.select_option("#id_action", "delete_selected")
    page.get_by_role("button", name="Run").click()

    expect(page.locator("#selected-objects")).to_contain_text(f"Short-lived {marker} 0")
    expect(page.locator("#selected-objects")).to_contain_text(f"Short-lived {marker} 1")
    screenshot(page, "08-delete-confirmation")
    page.click("#confirm-action")
    expect(page.locator("ul.messages .message-success")).to_be_visible()

    page.fill("#searchbar", marker)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(ROWS)).to_have_count(0)


def test_dark_theme_follows_the_system_setting(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page)
    backgrounds = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(ARTICLES)
        backgrounds[scheme] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        screenshot(page, f"09-change-list-{scheme}")
    assert backgrounds["light"] != backgrounds["dark"], backgrounds

    # Narrow screens keep the table reachable (no page-wide horizontal overflow).
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(ARTICLES)
    screenshot(page, "10-change-list-phone")
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > innerWidth + 1
                     && !el.closest('.table-wrap'))
            .map(el => el.tagName + '.' + el.className + '#' + el.id)"""
    )
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px on a phone: {wide}"
