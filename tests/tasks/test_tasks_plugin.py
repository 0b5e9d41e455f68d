"""The plugin: settings, production rules, health, CLI commands, eager mode, embedded Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stellate.core import App, StartupError
from stellate.core.testing import PluginContract
from stellate.tasks import TaskFailed, TasksPlugin, TaskStatus


class TestTasksPluginContract(PluginContract):
    # No settings: the contract also builds apps without the plugin, where a "tasks"
    # section would be refused. Nothing here connects to Redis (connections are lazy).
    plugin_class = TasksPlugin


def test_extensions_and_commands() -> None:
    app = App(plugins=[TasksPlugin()], settings={"tasks": {"redis_url": "redis://x:1/0"}})
    assert app.task == app.tasks.task
    assert app.cron == app.tasks.cron
    assert {"worker", "tasks"} <= set(app.commands)
    without = App(plugins=[])
    with pytest.raises(AttributeError, match=r"`app.task` is provided by the `tasks` plugin"):
        _ = without.task


def test_redis_url_alias_and_settings_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://alias:6379/3")
    monkeypatch.setenv("STELLATE_TASKS_CONCURRENCY", "7")
    app = App(plugins=[TasksPlugin()])
    assert app.tasks.settings.redis_url == "redis://alias:6379/3"
    assert app.tasks.settings.tasks_concurrency == 7
    monkeypatch.setenv("STELLATE_TASKS_CONCURRENCY", "0")
    with pytest.raises(StartupError, match="STELLATE_TASKS_CONCURRENCY=`0` is not valid"):
        App(plugins=[TasksPlugin()])


def test_production_needs_a_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("STELLATE_REDIS_URL", raising=False)
    with pytest.raises(StartupError, match=r"STELLATE_REDIS_URL \(or REDIS_URL\) is not set"):
        App(plugins=[TasksPlugin()], settings={"env": "production", "secret_key": "k" * 40})


def test_tasks_modules_are_imported_and_registered(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "tasks_mod_example.py").write_text(
        "from stellate.tasks import task\n\n"
        "@task(name='example.hello')\n"
        "async def hello(name: str) -> str:\n"
        "    return 'hello ' + name\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = App(
        plugins=[TasksPlugin()],
        settings={"tasks": {"redis_url": "redis://x:1/0", "tasks_modules": ["tasks_mod_example"]}},
    )
    assert "example.hello" in app.tasks.tasks
    with pytest.raises(StartupError, match="Tasks module `no_such_tasks_module`"):
        App(
            plugins=[TasksPlugin()],
            settings={"tasks": {"tasks_modules": ["no_such_tasks_module"]}},
        )


async def test_cli_stats_failed_and_retry(make_app: Callable[..., App]) -> None:
    app = make_app()
    state = {"healthy": False}

    @app.task
    async def fragile(n: int) -> int:
        if not state["healthy"]:
            raise ConnectionError(f"no luck {n}")
        return n

    async with app.tasks.worker():
        handle = await fragile.enqueue(7)
        with pytest.raises(TaskFailed):
            await handle.result(timeout=5)
    await fragile.enqueue(8, _defer_by=60)
    await app.tasks.close()

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app.commands["tasks"], list(args), catch_exceptions=False)

    # The commands run their own event loop, as they do from a shell.
    stats = await asyncio.to_thread(invoke)
    assert stats.exit_code == 0, stats.output
    assert "default" in stats.output
    assert "failed: 1" in stats.output
    lines = [line.split() for line in stats.output.splitlines()]
    assert ["default", "0", "1"] in lines

    listed = await asyncio.to_thread(invoke, "failed")
    assert listed.exit_code == 0
    assert handle.id in listed.output
    assert "ConnectionError: no luck 7" in listed.output

    missing = await asyncio.to_thread(runner.invoke, app.commands["tasks"], ["retry", "nope"])
    assert missing.exit_code == 1
    assert "No failed job with id `nope`" in missing.output

    retried = await asyncio.to_thread(invoke, "retry", handle.id)
    assert retried.exit_code == 0, retried.output
    new_id = retried.output.strip().split()[-1]
    state["healthy"] = True
    async with app.tasks.worker():
        assert await app.tasks.handle(new_id, fragile).result(timeout=5) == 7
    assert "no failed jobs" in (await asyncio.to_thread(invoke, "failed")).output


async def test_eager_mode_runs_inline(make_app: Callable[..., App]) -> None:
    app = make_app(tasks_eager=True, redis_url="redis://127.0.0.1:1/0")
    attempts = 0

    @app.task(max_retries=1, retry_delay=0)
    async def flaky(n: int) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("first")
        return n * 10

    @app.task
    async def broken() -> None:
        raise ValueError("nope")

    # No Redis is reachable at that URL: eager mode never touches it.
    handle = await flaky.enqueue(4)
    assert await handle.result() == 40
    assert await handle.status() is TaskStatus.COMPLETE
    assert attempts == 2
    failed = await broken.enqueue()
    assert await failed.status() is TaskStatus.FAILED
    with pytest.raises(ValueError, match="nope"):
        await failed.result()


def test_eager_mode_is_off_by_default() -> None:
    app = App(plugins=[TasksPlugin()], settings={"tasks": {"redis_url": "redis://x:1/0"}})
    assert app.tasks.settings.tasks_eager is False


async def test_embedded_redis_without_url(make_app: Callable[..., App], tmp_path: Path) -> None:
    app = make_app(redis_url=None, tasks_embedded_dir=str(tmp_path / "dev"))

    @app.task
    async def hello() -> str:
        return "from embedded redis"

    async with app.tasks.worker():
        handle = await hello.enqueue()
        assert await handle.result(timeout=5) == "from embedded redis"
    assert app.tasks.redis_url is not None
    assert app.tasks.redis_url.startswith("unix://")
    assert (tmp_path / "dev" / "redis.db").exists() or any((tmp_path / "dev").iterdir())
    await app.tasks.close()
    assert app.tasks.redis_url is None


def test_worker_command_with_redis_down_fails_clearly() -> None:
    app = App(
        plugins=[TasksPlugin()],
        settings={"tasks": {"redis_url": "redis://127.0.0.1:1/0", "tasks_enqueue_timeout": 1}},
    )

    @app.task
    async def job() -> None:
        return None

    result = CliRunner().invoke(app.commands["worker"], ["--burst"])
    assert result.exit_code == 1
    assert "Redis at `redis://127.0.0.1:1/0` is unavailable" in result.output
