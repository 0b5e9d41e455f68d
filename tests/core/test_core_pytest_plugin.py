"""The `client` fixture of the stellate pytest plugin, bound to this module's `app`."""

from __future__ import annotations

import pytest

from stellate.core import App, Request
from stellate.core.testing import AppClient

EVENTS: list[str] = []


@pytest.fixture
def app() -> App:
    EVENTS.clear()
    application = App()

    @application.on_startup
    def started() -> None:
        EVENTS.append("startup")

    @application.on_shutdown
    def stopped() -> None:
        EVENTS.append("shutdown")

    @application.get("/events")
    async def events(request: Request) -> list[str]:
        return EVENTS

    return application


async def test_client_runs_startup_before_the_test(client: AppClient) -> None:
    response = await client.get("/events")
    assert response.json() == ["startup"]


def test_shutdown_ran_after_the_previous_test() -> None:
    assert EVENTS == ["startup", "shutdown"]
