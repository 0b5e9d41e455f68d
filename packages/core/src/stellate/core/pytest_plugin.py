"""The pytest plugin of stellate-core (entry point ``pytest11``).

Fixtures:
    client: an :class:`~stellate.core.testing.AppClient` for the ``app`` fixture that
        your ``conftest.py`` defines; the app's startup runs before the test and its
        shutdown after it.

Other Stellate packages add their fixtures (the database of stellate-orm, for
instance) through the ``stellate.pytest`` entry-point group, which this plugin loads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from stellate.core.testing import AppClient


def pytest_configure(config: pytest.Config) -> None:
    for entry_point in metadata.entry_points(group="stellate.pytest"):
        name = f"stellate-{entry_point.name}"
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(entry_point.load(), name=name)


@pytest.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[AppClient]:
    """An HTTP client for the ``app`` fixture, with startup and shutdown run around the test."""
    from stellate.core.testing import AppClient

    try:
        app: Any = request.getfixturevalue("app")
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            "The `client` fixture needs an `app` fixture: define one in conftest.py that "
            "returns your stellate App"
        ) from None
    async with AppClient(app) as http:
        yield http
