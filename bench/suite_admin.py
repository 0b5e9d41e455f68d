"""The ``admin`` scenario of ``python -m bench suite``: the change list vs Django admin.

Both serve the bookstore's book change list to a logged-in superuser, 50 rows with the
author and publisher columns, over the suite's one data set:

- Stellate: ``examples.bookstore`` with the admin plugin (``bench.admin.changelist``),
  uvicorn 1 worker, ``GET /admin/bookstore/book/``;
- Django: ``django.contrib.admin`` in the DRF peer's project (``peers/djangobench``,
  ``admin.py``: the same columns, filters, search, ordering and 50 rows per page, and
  ``list_select_related``), gunicorn 1 sync worker, ``GET /admin/djangobench/book/``.

Each server start logs in over HTTP (Django's CSRF form included), checks that the
page lists the same 50 book titles in the same order as the other implementation,
then wrk sends the session cookie: warm-up, idle wait, measured window, as for the
other scenarios (server CPU per request primary, requests/s beside).
"""

from __future__ import annotations

import asyncio
import html
import http.client
import json
import os
import re
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.admin import changelist
from bench.errors import BenchError
from bench.frameworks import Framework
from bench.server import Server, process_tree_cpu_seconds
from bench.stats import core_busy_seconds
from bench.suite_http import IMPLEMENTATIONS, PEERS_DIR, settle
from bench.venvs import venv_python
from bench.wrk import run_wrk

__all__ = ["ADMIN_IMPLEMENTATIONS", "AdminSide", "admin_rounds", "check_admin", "page_titles"]

ROWS = 50
DJANGO_USERNAME = "bench-admin"
DJANGO_PASSWORD = "bench " + uuid.uuid4().hex  # fresh each run; set on the account below

_DJANGO_SUPERUSER = """
import os, django
django.setup()
from django.contrib.auth import get_user_model
User = get_user_model()
user, _ = User.objects.get_or_create(username=os.environ["BENCH_ADMIN_USERNAME"])
user.is_staff = user.is_superuser = user.is_active = True
user.set_password(os.environ["BENCH_ADMIN_PASSWORD"])
user.save()
"""


@dataclass(frozen=True)
class AdminSide:
    """One implementation of the change list: its server and how to log in to it."""

    name: str
    framework: Framework
    path: str
    stack: str
    login: Callable[[int], str]


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    found = {}
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            found[key.strip()] = rest.split(";", 1)[0]
    return found


def _django_login(port: int) -> str:
    """Log in through Django's admin login form (CSRF token included); the Cookie header."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/admin/login/?next=/admin/")
        response = connection.getresponse()
        page = response.read().decode()
        csrf_cookie = _cookies(response).get("csrftoken")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if response.status != 200 or csrf_cookie is None or token is None:
            raise BenchError(
                f"Django's admin login page answered {response.status} without a CSRF "
                "token: is django.contrib.admin in peers/djangobench/settings.py?"
            )
        body = urlencode(
            {
                "csrfmiddlewaretoken": token.group(1),
                "username": DJANGO_USERNAME,
                "password": DJANGO_PASSWORD,
                "next": "/admin/",
            }
        )
        connection.request(
            "POST",
            "/admin/login/?next=/admin/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf_cookie}",
            },
        )
        response = connection.getresponse()
        response.read()
        session = _cookies(response).get("sessionid")
        if response.status != 302 or not session:
            raise BenchError(
                f"Logging in to Django's admin answered {response.status} with no session "
                "cookie: the superuser is created by admin_rounds (check its output)"
            )
    finally:
        connection.close()
    return f"sessionid={session}; csrftoken={csrf_cookie}"


#: Stellate first: the ratio is the other's CPU per request / Stellate's.
ADMIN_IMPLEMENTATIONS: dict[str, AdminSide] = {
    "stellate": AdminSide(
        "stellate",
        changelist.BOOKSTORE,
        changelist.PATH,
        "Stellate admin (examples.bookstore BookAdmin), uvicorn 1 worker",
        changelist._login,
    ),
    "django": AdminSide(
        "django",
        IMPLEMENTATIONS["django"].framework,
        "/admin/djangobench/book/",
        "django.contrib.admin (list_select_related), gunicorn 1 sync worker, "
        "database sessions (Django's default)",
        _django_login,
    ),
}

_TITLE_CELL = {
    # Stellate: each row is <tr id="row-<pk>">; the first column links to the book.
    "stellate": re.compile(r'<tr id="row-[^"]*".*?<a [^>]*>(.*?)</a>', re.S),
    # Django: the first list_display column is <th class="field-title"><a ...>title</a>.
    "django": re.compile(r'<th class="field-title"><a [^>]*>(.*?)</a>', re.S),
}


def page_titles(name: str, page: str) -> list[str]:
    """The book titles of a change list page, in row order."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in _TITLE_CELL[name].findall(page)
    ]


def _get_page(port: int, path: str, cookie: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    if response.status != 200:
        raise BenchError(f"GET {path} as the superuser answered {response.status}: {text[:300]}")
    return text


def prepare(env: dict[str, str], log: Callable[[str], None]) -> None:
    """Both superusers: Stellate's ``UserStore``; Django's after ``migrate`` (auth, admin...)."""
    asyncio.run(changelist._superuser(env))
    python = str(venv_python("django"))
    django_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "djangobench.settings",
        "PYTHONPATH": str(PEERS_DIR),
    }
    django_env |= {"BENCH_ADMIN_USERNAME": DJANGO_USERNAME, "BENCH_ADMIN_PASSWORD": DJANGO_PASSWORD}
    full_env = {**os.environ, **django_env}
    for command in (
        [python, "-m", "django", "migrate", "--noinput"],
        [python, "-c", _DJANGO_SUPERUSER],
    ):
        result = subprocess.run(
            command, cwd=PEERS_DIR, env=full_env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BenchError(
                f"Preparing Django's admin failed ({' '.join(command[:4])}):\n"
                + result.stderr[-1500:]
            )
    log("  superusers: Stellate (UserStore) and Django (contrib.auth, migrated) ready")


def check_admin(
    sides: list[AdminSide], *, loop: str, http: str, env: dict[str, str], log: Callable[[str], None]
) -> list[str]:
    """Log in to each side and compare the page's 50 titles; returns them.

    Raises:
        BenchError: a login failed, a page does not list 50 rows, or the titles differ.
    """
    reference: list[str] | None = None
    for side in sides:
        with Server(side.framework, loop=loop, http=http, core=None, env=env) as server:
            server.start()
            titles = page_titles(
                side.name, _get_page(server.port, side.path, side.login(server.port))
            )
        if len(titles) != ROWS:
            raise BenchError(
                f"`{side.name}` admin change list shows {len(titles)} rows, not {ROWS}"
            )
        if reference is None:
            reference = titles
        elif titles != reference:
            raise BenchError(
                f"`{side.name}` admin change list differs from `{sides[0].name}`: "
                f"{titles[:3]}… vs {reference[:3]}…"
            )
        log(
            f"  {side.name:<10} admin change list: the same {ROWS} titles "
            f"({titles[0]} … {titles[-1]})"
        )
    return reference or []


def _measure(
    side: AdminSide,
    *,
    loop: str,
    http: str,
    env: dict[str, str],
    server_core: int,
    wrk_core: int,
    seconds: float,
    warmup: float,
    connections: int,
) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as scratch,
        Server(side.framework, loop=loop, http=http, core=server_core, env=env) as server,
    ):
        server.start()
        cookie = side.login(server.port)
        if len(page_titles(side.name, _get_page(server.port, side.path, cookie))) != ROWS:
            raise BenchError(f"`{side.name}` admin change list lost its rows after login")
        script = Path(scratch) / "cookie.lua"
        script.write_text(f'wrk.headers["Cookie"] = {json.dumps(cookie)}\n')
        url = f"http://127.0.0.1:{server.port}{side.path}"
        if warmup > 0:
            try:
                run_wrk(
                    url, seconds=warmup, connections=connections, core=wrk_core, script=str(script)
                )
            except BenchError as exc:
                if "completed no request" not in str(exc):
                    raise
        settle(server.pid)
        cpu_before = process_tree_cpu_seconds(server.pid)
        busy_before = core_busy_seconds([server_core])[server_core]
        result = run_wrk(
            url, seconds=seconds, connections=connections, core=wrk_core, script=str(script)
        )
        cpu = process_tree_cpu_seconds(server.pid) - cpu_before
        busy = core_busy_seconds([server_core])[server_core] - busy_before
    return {
        "rps": result.requests_per_second,
        "cpu_us_per_request": cpu / result.requests * 1e6,
        "p50_ms": result.latency_p50_ms or 0.0,
        "p99_ms": result.latency_p99_ms or 0.0,
        "others_core_share": max(0.0, busy - cpu) / result.seconds,
    }


def admin_rounds(
    *,
    rounds: int,
    loop: str,
    http: str,
    env: dict[str, str],
    server_core: int,
    wrk_core: int,
    seconds: float,
    warmup: float,
    connections: int,
    check_only: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Prepare, check, then interleaved rounds of both sides; every sample and the setup."""
    sides = list(ADMIN_IMPLEMENTATIONS.values())
    prepare(env, log)
    titles = check_admin(sides, loop=loop, http=http, env=env, log=log)
    found: dict[str, Any] = {
        "path": {side.name: side.path for side in sides},
        "stack": {side.name: side.stack for side in sides},
        "rows": ROWS,
        "first_title": titles[0],
        "samples": {side.name: [] for side in sides},
    }
    if check_only:
        return found
    for number in range(rounds):
        shift = number % len(sides)
        for side in sides[shift:] + sides[:shift]:
            sample = _measure(
                side,
                loop=loop,
                http=http,
                env=env,
                server_core=server_core,
                wrk_core=wrk_core,
                seconds=seconds,
                warmup=warmup,
                connections=connections,
            )
            found["samples"][side.name].append(sample)
            log(
                f"  round {number + 1}/{rounds} {side.name:<10} admin "
                f"{sample['cpu_us_per_request']:,.0f}µs CPU/req, {sample['rps']:,.0f} req/s"
            )
    return found
