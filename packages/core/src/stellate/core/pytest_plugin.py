"""The pytest plugin of stellate-core (entry point ``pytest11``).

Fixtures:
    client: an :class:`~stellate.core.testing.AppClient` for the ``app`` fixture that
        your ``conftest.py`` defines (it may depend on async fixtures); the app's
        startup runs before the test and its shutdown after it.
    app: a placeholder that fails with the fix until your ``conftest.py`` defines one.

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
def app() -> Any:
    """Placeholder that your ``conftest.py``'s own ``app`` fixture overrides."""
    raise pytest.UsageError(
        "The `client` fixture needs an `app` fixture: define one in conftest.py that "
        "returns your stellate App"
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AppClient]:
    """An HTTP client for the ``app`` fixture, with startup and shutdown run around the test.

    ``app`` is a direct dependency (not looked up at run time), so your ``app``
    fixture may itself depend on async fixtures such as stellate-orm's ``db``.
    """
    from stellate.core.testing import AppClient

    async with AppClient(app) as http:
        yield http
