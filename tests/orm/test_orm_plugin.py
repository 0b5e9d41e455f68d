"""The orm plugin: settings from the environment, startup/shutdown, app.db, health."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from stellate.core import App, ImproperlyConfigured, Request, StartupError
from stellate.core.testing import AppClient, PluginContract
from stellate.orm import (
    Database,
    DatabaseConnectionError,
    OrmPlugin,
    get_db,
)
from stellate.orm.database import active_databases


def counting_app(**settings: Any) -> App:
    app = App(plugins=["orm"], settings={"orm": settings} if settings else None)

    @app.get("/count")
    async def count(request: Request) -> dict[str, Any]:
        total = await get_db().query_val("SELECT count(*) FROM pg_stat_activity")
        return {"total": total, "pool": app.db.pool_size}

    app.mount_health()
    return app


async def test_startup_opens_the_pool_and_shutdown_closes_it(
    clean_env: pytest.MonkeyPatch, outside_tests: None, test_url: str
) -> None:
    app = counting_app(database_url=test_url, pool_size=2)
    db = app.db
    assert isinstance(db, Database)
    assert not db.is_connected
    async with AppClient(app) as client:
        assert db.is_connected
        assert get_db() is db
        response = await client.get("/count")
        assert response.status_code == 200
        assert response.json()["pool"] == 2
        assert response.json()["total"] >= 1
    assert not db.is_connected
    assert active_databases() == {}


async def test_health_check_pings_the_database(
    clean_env: pytest.MonkeyPatch, outside_tests: None, test_url: str
) -> None:
    app = counting_app(database_url=test_url, pool_size=1)
    async with AppClient(app) as client:
        healthy = await client.get("/health")
        assert healthy.status_code == 200
        assert healthy.json()["checks"] == {"database": "ok"}
        await app.db.close()  # the database goes away under the running app
        sick = await client.get("/health")
        assert sick.status_code == 503
        assert "DatabaseNotConnectedError" in sick.json()["checks"]["database"]


async def test_settings_come_from_the_environment(
    clean_env: pytest.MonkeyPatch, outside_tests: None, test_url: str
) -> None:
    clean_env.setenv("DATABASE_URL", test_url)
    clean_env.setenv("STELLATE_POOL_SIZE", "3")
    clean_env.setenv(
        "STELLATE_DATABASES",
        json.dumps({"replica": test_url, "analytics": {"url": test_url, "pool_size": 1}}),
    )
    app = counting_app()
    async with AppClient(app):
        assert app.db.pool_size == 3
        replica, analytics = get_db("replica"), get_db("analytics")
        assert replica.pool_size == 3
        assert analytics.pool_size == 1
        assert await replica.query_val("SELECT 'from replica'") == "from replica"
        assert await analytics.query_val("SELECT current_setting('application_name')") == (
            "stellate:analytics"
        )
    assert not replica.is_connected


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"STELLATE_POOL_SIZE": "lots"}, "STELLATE_POOL_SIZE=`lots` is not valid"),
        ({"STELLATE_POOL_SIZE": "-1"}, "STELLATE_POOL_SIZE=`-1` is not valid"),
        ({"STELLATE_POOL_RESET": "sometimes"}, "expected one of `auto`, `full`"),
        (
            {"STELLATE_DATABASE_URL": "mysql://root:hunter2@db/app"},
            "STELLATE_DATABASE_URL `mysql://root:***@db/app` is not a PostgreSQL URL",
        ),
        (
            {"STELLATE_DATABASES": '{"my-replica": "postgresql://h/db"}'},
            "STELLATE_DATABASES has alias `my-replica`",
        ),
        (
            {"STELLATE_DATABASES": '{"replica": "redis://h/0"}'},
            "STELLATE_DATABASES['replica'] `redis://h/0` is not a PostgreSQL URL",
        ),
        (
            {
                "STELLATE_DATABASE_URL": "postgresql://h/a",
                "STELLATE_DATABASES": '{"default": "postgresql://h/b"}',
            },
            "keep only one of them",
        ),
        (
            {"STELLATE_DATABASES": '{"replica": {"url": "postgresql://h/db", "size": 2}}'},
            "unknown field `size`",
        ),
        ({"STELLATE_DATABASES": "replica=postgresql://h/db"}, "expected `object`"),
    ],
)
def test_invalid_settings_stop_the_app_with_the_variable_named(
    clean_env: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        clean_env.setenv(name, value)
    with pytest.raises(StartupError) as caught:
        App(plugins=["orm"])
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_production_without_a_database_url_refuses_to_start(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("STELLATE_ENV", "production")
    clean_env.setenv("STELLATE_SECRET_KEY", "k" * 40)
    with pytest.raises(StartupError) as caught:
        App(plugins=["orm"])
    message = str(caught.value)
    assert "STELLATE_DATABASE_URL is not set: production needs a database URL" in message
    clean_env.setenv("STELLATE_DATABASE_URL", "postgresql://app@db.internal/app")
    App(plugins=["orm"])  # with a URL it builds (nothing connects before startup)


async def test_no_url_with_the_embedded_database_turned_off_fails_at_startup(
    clean_env: pytest.MonkeyPatch, outside_tests: None
) -> None:
    clean_env.setenv("STELLATE_EMBEDDED_DATABASE", "false")
    app = App(plugins=["orm"])
    with pytest.raises(ImproperlyConfigured, match="STELLATE_EMBEDDED_DATABASE is off"):
        async with AppClient(app):
            pass


async def test_unreachable_database_fails_startup_with_the_masked_url(
    clean_env: pytest.MonkeyPatch, outside_tests: None
) -> None:
    app = App(
        plugins=["orm"],
        settings={"orm": {"database_url": "postgresql://u:pw@127.0.0.1:1/app"}},
    )
    with pytest.raises(DatabaseConnectionError) as caught:
        async with AppClient(app):
            pass
    assert "Cannot connect database `default` at `postgresql://u:***@127.0.0.1:1/app`" in str(
        caught.value
    )


async def test_under_the_db_fixture_the_app_uses_the_test_transaction(
    clean_env: pytest.MonkeyPatch, db: Database, assert_num_queries: Any
) -> None:
    await db.execute("CREATE TABLE visits (who text)")
    await db.execute("INSERT INTO visits VALUES ('test')")
    app = App(plugins=["orm"])

    @app.get("/visits")
    async def visits(request: Request) -> dict[str, Any]:
        await app.db.execute("INSERT INTO visits VALUES ('request')")
        return {"count": await get_db().query_val("SELECT count(*) FROM visits")}

    async with AppClient(app) as client:
        async with assert_num_queries(2):
            response = await client.get("/visits")
        assert response.json() == {"count": 2}
    # The app's writes are in the test transaction, rolled back with it; the test
    # database is still the default after the app stopped.
    assert get_db() is db
    assert await db.query_val("SELECT count(*) FROM visits") == 2


class TestOrmPluginContract(PluginContract):
    plugin_class = OrmPlugin

    def make_app(self, *, enabled: bool = True) -> App:
        # Settings of a plugin that is not enabled are an error, so only pass them with it.
        url = os.environ.get("STELLATE_TEST_DATABASE_URL")
        if not enabled:
            return App(plugins=[])
        return App(plugins=[OrmPlugin()], settings={"orm": {"database_url": url}} if url else None)


async def test_pool_settings_reach_the_connections_with_their_units(
    clean_env: pytest.MonkeyPatch, outside_tests: None, test_url: str
) -> None:
    clean_env.setenv("STELLATE_DATABASE_URL", test_url)
    clean_env.setenv("STELLATE_QUERY_TIMEOUT", "1500")  # ms
    clean_env.setenv("STELLATE_PREPARED_STATEMENTS", "false")
    clean_env.setenv("STELLATE_POOL_SIZE", "0")  # auto: 2 x CPU cores
    clean_env.setenv("STELLATE_POOL_ACQUIRE_TIMEOUT", "250")  # ms
    app = App(plugins=["orm"])
    async with AppClient(app):
        db = app.db
        assert db.pool_size == (os.cpu_count() or 1) * 2
        assert db.statement_cache_size == 0
        assert await db.query_val("SHOW statement_timeout") == "1500ms"
        assert await db.query_val("SHOW application_name") == "stellate:default"
        assert db._state.manager._acquire_timeout == 0.25


async def test_pgbouncer_mode_sends_no_startup_parameters(
    clean_env: pytest.MonkeyPatch, outside_tests: None, test_url: str
) -> None:
    clean_env.setenv("STELLATE_DATABASE_URL", test_url)
    clean_env.setenv("STELLATE_PGBOUNCER", "true")
    clean_env.setenv("STELLATE_QUERY_TIMEOUT", "1500")
    app = App(plugins=["orm"])
    async with AppClient(app):
        assert app.db.statement_cache_size == 0
        # PgBouncer rejects unknown startup parameters, so none are sent.
        assert await app.db.query_val("SHOW application_name") == ""
        assert await app.db.query_val("SHOW statement_timeout") == "0"


async def test_an_app_run_in_another_loop_opens_its_own_pool(
    clean_env: pytest.MonkeyPatch, database: Database, test_url: str
) -> None:
    # A CLI command under test runs the app in asyncio.run(): the session's test pool
    # belongs to another loop, so the app connects with its own settings.
    app = App(plugins=["orm"], settings={"orm": {"database_url": test_url, "pool_size": 1}})

    async def run_app() -> tuple[bool, object]:
        async with AppClient(app):
            return app.db is not database and app.db._state is not database._state, (
                await get_db().query_val("SELECT 'own pool'")
            )

    separate, answer = await asyncio.to_thread(asyncio.run, run_app())
    assert separate
    assert answer == "own pool"
    assert get_db() is database
