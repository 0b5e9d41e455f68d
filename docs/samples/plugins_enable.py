"""Writing plugins guide: enabling an installed plugin."""

from __future__ import annotations

import os

from stellate_plugin_hello import HelloPlugin

from stellate.core import App

# --8<-- [start:enable]
by_name = App(plugins=["hello"])  # by name, from the entry point
by_instance = App(plugins=[HelloPlugin()])  # or an instance (no entry point needed)
from_environment = App()  # or from the environment: STELLATE_PLUGINS=hello
# --8<-- [end:enable]


async def main() -> None:
    assert [plugin.name for plugin in by_name.plugins] == ["hello"]
    assert [plugin.name for plugin in by_instance.plugins] == ["hello"]
    assert "STELLATE_PLUGINS" not in os.environ  # the samples run with no STELLATE_PLUGINS
    assert from_environment.plugins == []
    os.environ["STELLATE_PLUGINS"] = "hello"
    try:
        assert [plugin.name for plugin in App().plugins] == ["hello"]
    finally:
        del os.environ["STELLATE_PLUGINS"]
