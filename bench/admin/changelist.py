"""The admin's change list: requests/s of the bookstore's book list and its query count.

One fresh uvicorn process serves ``examples.bookstore`` (with the admin) in production
mode on ``--server-core``; wrk on ``--wrk-core`` loads ``GET /admin/bookstore/book/``
as a logged-in superuser: a page of 50 books with two foreign-key columns (author
and publisher, joined in the same query) and the category and publisher filters.

Before measuring, the page is fetched once in-process with a query observer, and
the number of SQL statements is reported (it must not depend on the page size).

This is an absolute number on this machine, reported for the issue; the side-by-side
with Django's admin is the suite's ``admin`` scenario (``bench/suite_admin.py``).

Usage (from the repository root)::

    uv run python -m bench.admin.changelist           # ~1 minute
    uv run python -m bench.admin.changelist --help
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import environment
from bench.errors import BenchError
from bench.frameworks import REPO_ROOT, Framework
from bench.rest.list_vs_handwritten import _migrate, _seed
from bench.scenario_http import service_env
from bench.server import Server, process_cpu_seconds
from bench.stats import summarize
from bench.wrk import run_wrk

BOOKSTORE = Framework(
    "stellate-admin",
    "bench.rest.bookstore_app:app",
    REPO_ROOT,
    peer=False,
    description="examples.bookstore with the admin, book change list",
)
PATH = "/admin/bookstore/book/"
USERNAME = "bench-admin"
PASSWORD = "bench " + uuid.uuid4().hex  # a fresh password each run; set on the account below


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.admin.changelist", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/stellate_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--wrk-core", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="where to save the samples")
    options = parser.parse_args(argv)
    if options.reps < 1:
        parser.error(f"--reps must be at least 1, got `{options.reps}`")
    return options


async def _superuser(env: dict[str, str]) -> None:
    """Create (or reset the password of) the benchmark's superuser account."""
    from stellate.auth import UserStore
    from stellate.orm import connect

    with environment.environ_set(env):
        async with connect(env["STELLATE_DATABASE_URL"]):
            users = UserStore(validators=[])
            await users.ensure_tables()
            user = await users.get_by_username(USERNAME)
            if user is None:
                await users.create_user(USERNAME, PASSWORD, is_staff=True, is_superuser=True)
            else:
                await users.set_password(user, PASSWORD)


async def _count_queries(env: dict[str, str]) -> tuple[int, int, list[str]]:
    """Fetch the page in-process and return (status, rows, statements)."""
    from examples.bookstore.app import create_app
    from stellate.core.testing import AppClient
    from stellate.orm import get_db

    with environment.environ_set(env):
        app = create_app()
        async with AppClient(app, base_url="https://bench") as client:
            login = await client.post(
                "/admin/login/", data={"username": USERNAME, "password": PASSWORD}
            )
            if login.status_code != 303:
                raise BenchError(f"In-process login failed: {login.status_code} {login.text[:300]}")
            await client.get(PATH)  # warm the compiled-SQL caches
            statements: list[str] = []
            remove = get_db().add_observer(
                lambda event: statements.append(event.sql) if event.kind == "query" else None
            )
            try:
                page = await client.get(PATH)
            finally:
                remove()
    rows = len(re.findall(r'<tr id="row-', page.text))
    return page.status_code, rows, statements


def _login(port: int) -> str:
    """Log in over HTTP; returns the Cookie header value of the session."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = f"username={USERNAME}&password={PASSWORD.replace(' ', '+')}"
    connection.request(
        "POST",
        "/admin/login/",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 303:
        raise BenchError(f"Login to the server failed with {response.status}")
    cookies = [
        value.split(";", 1)[0]
        for name, value in response.getheaders()
        if name.lower() == "set-cookie" and value.startswith("stellate_session=")
    ]
    if not cookies:
        raise BenchError("The login response set no session cookie")
    return cookies[0]


def _check_page(port: int, cookie: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", PATH, headers={"Cookie": cookie})
    response = connection.getresponse()
    text = response.read().decode()
    if response.status != 200:
        raise BenchError(f"GET {PATH} answered {response.status}: {text[:300]}")
    return len(re.findall(r'<tr id="row-', text))


def _measure(options: argparse.Namespace, loop: str, http_impl: str, env: dict[str, str]) -> Any:
    with Server(BOOKSTORE, loop=loop, http=http_impl, core=options.server_core, env=env) as server:
        server.start()
        cookie = _login(server.port)
        rows = _check_page(server.port, cookie)
        if rows != 50:
            raise BenchError(f"The change list shows {rows} rows, not 50")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(f'wrk.headers["Cookie"] = {json.dumps(cookie)}\n')
        try:
            url = f"http://127.0.0.1:{server.port}{PATH}"
            run_wrk(
                url,
                seconds=options.warmup,
                connections=options.connections,
                core=None,
                script=script.name,
            )
            cpu_before = process_cpu_seconds(server.pid)
            result = run_wrk(
                url,
                seconds=options.duration,
                connections=options.connections,
                core=options.wrk_core,
                script=script.name,
            )
            cpu = process_cpu_seconds(server.pid) - cpu_before
        finally:
            os.unlink(script.name)
    return {
        "rps": result.requests_per_second,
        "cpu_us_per_request": cpu / result.requests * 1e6,
        "p50_ms": result.latency_p50_ms or 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(list(sys.argv[1:] if argv is None else argv))
    try:
        environment.ensure_taskset()
        environment.check_cores(options.server_core, options.wrk_core)
        environment.ensure_wrk()
        environment.ensure_database(options.database_url)
        environment.ensure_redis(options.redis_url)
        env = service_env(options.database_url, options.redis_url, "production")
        _migrate(env)
        books = asyncio.run(_seed(options.database_url))
        asyncio.run(_superuser(env))
        status, rows, statements = asyncio.run(_count_queries(env))
        if status != 200 or rows != 50:
            raise BenchError(f"In-process page: status {status}, {rows} rows")
        print(f"{books} books; {PATH} shows {rows} rows in {len(statements)} queries:")
        for number, sql in enumerate(statements, 1):
            print(f"  {number}. {sql[:160]}")
        loop, http_impl = environment.server_options(speedups=True)
        samples = []
        for rep in range(options.reps):
            sample = _measure(options, loop, http_impl, env)
            samples.append(sample)
            print(
                f"rep {rep + 1}/{options.reps}: {sample['rps']:.0f} req/s, "
                f"{sample['cpu_us_per_request']:.0f} µs CPU/req, p50 {sample['p50_ms']:.1f} ms",
                flush=True,
            )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rps = summarize([s["rps"] for s in samples])
    cpu = summarize([s["cpu_us_per_request"] for s in samples])
    summary = {
        "path": PATH,
        "rows": 50,
        "queries": len(statements),
        "rps_median": rps.median,
        "cpu_us_per_request_median": cpu.median,
        "server": f"uvicorn 1 worker ({loop}, {http_impl}) on core {options.server_core}",
        "wrk": f"-t1 -c{options.connections} -d{options.duration:g}s on core {options.wrk_core}",
    }
    print(json.dumps(summary, indent=2))
    if options.json is not None:
        options.json.write_text(json.dumps({**summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
