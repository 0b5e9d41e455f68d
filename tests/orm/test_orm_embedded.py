"""The embedded PostgreSQL (pgserver): start, reuse across restarts, stop, plugin use."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
import pytest

from stellate.core import App, ImproperlyConfigured
from stellate.core.testing import AppClient
from stellate.orm import Database, connect
from stellate.orm.embedded import EmbeddedPostgres


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One data directory for the module: initdb runs once, later starts reuse it.
    return tmp_path_factory.mktemp("embedded") / "pgdata"


async def server_answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def test_start_query_stop_and_restart_keeps_the_data(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedPostgres(data_dir)
    with caplog.at_level(logging.INFO, logger="stellate.orm"):
        url = await server.start()
    assert url.startswith("postgresql://postgres:@/postgres?host=")  # a Unix socket
    assert str(data_dir) in caplog.text
    assert "psql" in caplog.text
    assert server.psql_command.endswith(f"'{url}'")
    assert Path(server.psql_command.split()[0]).name == "psql"

    db = Database(url, alias="embedded", pool_size=1)
    await db.connect()
    try:
        assert (await db.query_val("SHOW server_version")).startswith("16.")
        await db.execute("CREATE TABLE IF NOT EXISTS kept (note text)")
        await db.execute("INSERT INTO kept VALUES ('survives a restart')")
    finally:
        await db.close()
    await server.stop()
    assert not await server_answers(url)

    again = EmbeddedPostgres(data_dir)
    url_again = await again.start()
    try:
        db = Database(url_again, alias="embedded", pool_size=1)
        await db.connect()
        try:
            assert await db.query_val("SELECT note FROM kept") == "survives a restart"
        finally:
            await db.close()
    finally:
        await again.stop()


async def test_two_users_share_the_server_until_the_last_stops(data_dir: Path) -> None:
    first, second = EmbeddedPostgres(data_dir), EmbeddedPostgres(data_dir)
    url = await first.start()
    assert await second.start() == url
    await first.stop()
    assert await server_answers(url)
    await second.stop()
    assert not await server_answers(url)


async def test_url_before_start_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="is not started: await start"):
        _ = EmbeddedPostgres(data_dir).url


async def test_the_plugin_starts_it_without_a_url_outside_production(
    clean_env: pytest.MonkeyPatch, outside_tests: None, data_dir: Path
) -> None:
    clean_env.setenv("STELLATE_EMBEDDED_DIR", str(data_dir))
    app = App(plugins=["orm"])
    async with AppClient(app):
        url = app.db.url
        assert url is not None
        assert "host=" in url
        assert "PostgreSQL 16" in await app.db.query_val("SELECT version()")
    assert not await server_answers(url)


MIGRATION = '''"""Create the pantry."""

from __future__ import annotations

from stellate.orm.migrations import operations as ops

dependencies = []

operations = [
    ops.RunSQL(sql="CREATE TABLE pantry (id int PRIMARY KEY)", reverse="DROP TABLE pantry"),
]
'''


async def test_the_plugin_migrates_the_embedded_database(
    clean_env: pytest.MonkeyPatch,
    outside_tests: None,
    data_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_pantry.py").write_text(MIGRATION)
    clean_env.setenv("STELLATE_EMBEDDED_DIR", str(data_dir))
    clean_env.setenv("STELLATE_MIGRATIONS_DIR", str(folder))
    app = App(plugins=["orm"])
    try:
        with caplog.at_level(logging.INFO, logger="stellate.orm"):
            async with AppClient(app):
                assert await app.db.query_val("SELECT to_regclass('pantry')::text") == "pantry"
        assert "Applied 1 migration(s) to the embedded PostgreSQL" in caplog.text
        caplog.clear()
        async with AppClient(app):  # a restart finds nothing left to apply
            assert await app.db.query_val("SELECT count(*) FROM pantry") == 0
        assert "Applied" not in caplog.text
    finally:
        async with connect() as db:
            await db.execute("DROP TABLE IF EXISTS pantry, stellate_migrations")


async def test_connect_without_a_url_uses_the_environment_and_embedded(
    clean_env: pytest.MonkeyPatch, outside_tests: None, data_dir: Path
) -> None:
    clean_env.setenv("STELLATE_EMBEDDED_DIR", str(data_dir))
    async with connect() as db:
        assert await db.query_val("SELECT 40 + 2") == 42
        url = db.url
    assert url is not None
    assert not await server_answers(url)


async def test_connect_without_a_url_in_production_names_the_variable(
    clean_env: pytest.MonkeyPatch, outside_tests: None
) -> None:
    clean_env.setenv("STELLATE_ENV", "production")
    with pytest.raises(ImproperlyConfigured, match="STELLATE_DATABASE_URL is not set"):
        async with connect():
            pass
