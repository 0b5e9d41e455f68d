"""The side-by-side suite (``python -m bench suite``): answers compared, harness exercised.

The quick runs here check that every implementation of the bookstore returns the
same JSON as Stellate, that a quick measurement writes its JSON, Markdown report
and charts with a ratio for every scenario, and that the answer normalisation keeps
real differences. They never assert a speed. The peers' venvs are built from PyPI:
their test is skipped, with the reason, only when the index cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_DATABASE_URL = os.environ.get(
    "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
#: The suite truncates the bookstore tables: it gets a database of its own.
DATABASE_URL = (
    TEST_DATABASE_URL.rsplit("/", 1)[0] + "/" + TEST_DATABASE_URL.rsplit("/", 1)[1] + "_suite"
)
REDIS_URL = os.environ.get("STELLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKSPACE_ONLY = "stellate,handwritten"
NEEDS = pytest.mark.skipif(
    shutil.which("wrk") is None and os.geteuid() != 0,
    reason="wrk is not installed and the harness may only install it as root",
)


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    import bench
    import bench.suite
    import bench.suite_http
    import bench.suite_report

    return bench


def _suite(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "bench", "suite",
        "--database-url", DATABASE_URL, "--redis-url", REDIS_URL,
        "--results-dir", str(tmp_path / "results"),
        "--markdown", str(tmp_path / "RESULTS.md"),
        "--charts-dir", str(tmp_path / "charts"),
        *arguments,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, check=False
    )


def _peers_installable(bench: ModuleType) -> bool:
    venvs = bench.suite.ORMS  # noqa: F841 - the module is imported for pypi_reachable
    built = all(
        (REPO_ROOT / "bench" / ".venvs" / name / "bin" / "python").exists()
        for name in ("fastapi", "litestar", "django", "tortoise")
    )
    return built or bool(bench.suite.pypi_reachable())


@NEEDS
def test_every_implementation_answers_like_stellate(bench: ModuleType, tmp_path: Path) -> None:
    if not _peers_installable(bench):
        pytest.skip("PyPI is unreachable, so the peers' venvs (bench/.venvs) cannot be built")
    done = _suite(tmp_path, "--quick", "--check-only")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in bench.suite_http.IMPLEMENTATIONS:
        assert f"  {name} " in done.stdout, f"{name} was not checked:\n{done.stdout}"
    assert "skipped" not in done.stdout
    assert "check: every implementation answers alike" in done.stdout
    for name in ("stellate", "django"):
        assert f"  {name:<10} admin change list: the same 50 titles" in done.stdout


@NEEDS
def test_admin_scenario_check_step_passes_in_quick_mode(bench: ModuleType, tmp_path: Path) -> None:
    if not _peers_installable(bench):
        pytest.skip("PyPI is unreachable, so the Django peer's venv cannot be built")
    done = _suite(
        tmp_path,
        "--quick", "--check-only", "--scenarios", "admin",
        "--implementations", "stellate,django", "--orms", "", "--no-tasks",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "superusers: Stellate (UserStore) and Django (contrib.auth, migrated) ready" in (
        done.stdout
    )
    for name in ("stellate", "django"):
        assert f"  {name:<10} admin change list: the same 50 titles (Book number 0000" in (
            done.stdout
        )


@NEEDS
def test_admin_login_with_a_wrong_password_is_refused(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (REPO_ROOT / "bench" / ".venvs" / "django" / "bin" / "python").exists():
        pytest.skip("the Django peer's venv (bench/.venvs/django) is not built")
    import bench.suite_admin as suite_admin
    from bench.errors import BenchError
    from bench.peers import dataset
    from bench.scenario_http import service_env
    from bench.server import Server

    env = service_env(DATABASE_URL, REDIS_URL, "production")
    bench.environment.ensure_database(DATABASE_URL)
    dataset.migrate(env)
    before = dict(os.environ)
    suite_admin.prepare(env, lambda line: None)
    # Preparing runs in this process: the benchmark's production settings must not
    # stay behind in the environment of every app the test run builds afterwards.
    assert dict(os.environ) == before
    monkeypatch.setattr(suite_admin, "DJANGO_PASSWORD", "not the password")
    side = suite_admin.ADMIN_IMPLEMENTATIONS["django"]
    with Server(side.framework, loop="asyncio", http="h11", core=None, env=env) as server:
        server.start()
        with pytest.raises(BenchError, match="no session cookie"):
            side.login(server.port)


STELLATE_ROW = (
    '<tr id="row-1">\n<td class="select-col"><input type="checkbox" name="_selected" '
    'value="1" aria-label="Select Book &amp; Co"></td><th scope="row">'
    '<a href="/admin/bookstore/book/1/change/">Book &amp; Co</a></th><td>Author 000</td></tr>'
)
DJANGO_ROW = (
    '<tr><td class="action-checkbox"><input type="checkbox" name="_selected_action" '
    'value="1"></td><th class="field-title"><a href="/admin/djangobench/book/1/change/">'
    'Book &amp; Co</a></th><td class="field-author nowrap">Author 000</td></tr>'
)


def test_admin_page_titles_read_both_change_lists(bench: ModuleType) -> None:
    import bench.suite_admin as suite_admin

    assert suite_admin.page_titles("stellate", STELLATE_ROW * 2) == ["Book & Co"] * 2
    assert suite_admin.page_titles("django", DJANGO_ROW * 3) == ["Book & Co"] * 3
    # A page of the other kind has no row this parser recognises: the check then fails.
    assert suite_admin.page_titles("django", STELLATE_ROW) == []
    assert suite_admin.page_titles("stellate", DJANGO_ROW) == []


def test_admin_target_and_section_from_a_results_document(bench: ModuleType) -> None:
    def run(cpu: float, rps: float) -> dict[str, float]:
        return {"cpu_us_per_request": cpu, "rps": rps, "others_core_share": 0.1}

    results = {
        "admin": {
            "path": {"stellate": "/admin/bookstore/book/", "django": "/admin/djangobench/book/"},
            "stack": {"stellate": "S", "django": "D"},
            "rows": 50,
            "samples": {"stellate": [run(5000, 100)] * 2, "django": [run(15000, 40)] * 2},
        }
    }
    summary = bench.suite_report.summarise(results)
    checks = {item["label"]: item for item in bench.suite_report.verdicts(summary, results)}
    admin = checks["admin change list: Stellate vs Django admin (CPU x)"]
    assert admin["value"] == pytest.approx(3.0)
    assert admin["met"] is True
    section = "\n".join(bench.suite_report.admin_section(results))
    assert "| django | D | 15,000 (15,000-15,000) | 40 (40-40) | 10% | 3.00x | 2.50x |" in section
    assert bench.suite_report.admin_summary({"admin": "not measured"}) is None
    assert bench.suite_report.admin_summary({"admin": {"samples": {"stellate": []}}}) is None


@NEEDS
def test_quick_suite_writes_results_report_and_charts(bench: ModuleType, tmp_path: Path) -> None:
    # Workspace implementations only: this checks the harness, not the peers.
    charts = bench.suite.pypi_reachable() or (REPO_ROOT / "bench/.venvs/charts").exists()
    done = _suite(
        tmp_path,
        "--quick",
        "--implementations", WORKSPACE_ONLY,
        "--scenarios", "plain,list,create,invalid",
        "--orms", "stellate-orm,asyncpg",
        *([] if charts else ["--no-charts"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = (tmp_path / "results").glob("suite-*.json")
    results = json.loads(path.read_text())
    http = results["summary"]["http"]
    assert set(http) == {"plain", "list", "create", "invalid"}
    for scenario, rows in http.items():
        assert set(rows) == {"stellate", "handwritten"}, scenario
        assert rows["stellate"]["cpu_ratio"] == pytest.approx(1.0)
        assert rows["handwritten"]["cpu"]["median"] > 0
        assert rows["handwritten"]["rps"]["median"] > 0
    assert set(results["summary"]["orm"]) == {"stellate-orm", "asyncpg"}
    assert results["summary"]["tasks"]["drain stellate"]["median"] > 0
    report = (tmp_path / "RESULTS.md").read_text()
    assert "quick mode" in report
    assert "| DB list: Stellate vs handwritten (CPU x) |" in report
    assert "pending" in report or "change list" in report
    if charts:
        assert (tmp_path / "charts" / "http-list.png").read_bytes().startswith(b"\x89PNG")
        assert "charts/http-list.png" in report


def test_suite_refuses_an_unknown_implementation(tmp_path: Path) -> None:
    done = _suite(tmp_path, "--quick", "--implementations", "stellate,flask", "--no-speedups")
    assert done.returncode == 2
    assert "Unknown implementation `flask`" in done.stderr
    assert "fastapi" in done.stderr  # the message lists the choices


def test_normalise_keeps_legitimate_differences_apart_from_real_ones(bench: ModuleType) -> None:
    normalise = bench.suite_http.normalise
    book = {
        "id": 1,
        "price": "12.50",
        "created_at": "2026-01-01T00:00:00Z",
        "tags": [{"id": 2, "name": "b"}, {"id": 1, "name": "a"}],
    }
    peer = {
        "id": 1,
        "price": "12.5",
        "created_at": "2026-01-01T00:00:00+00:00",
        "tags": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    mine = normalise("list", 200, {"results": [book], "next": "?cursor=signed", "previous": None})
    theirs = normalise("list", 200, {"results": [peer], "next": "http://h/?cursor=7"})
    assert mine == theirs
    wrong = normalise("list", 200, {"results": [{**peer, "price": "12.51"}], "next": "x"})
    assert wrong != mine
    assert normalise("list", 200, {"results": [peer], "next": None}) != mine
    assert normalise("invalid", 400, {"detail": "a"}) == normalise("invalid", 422, [{"x": 1}])
    assert normalise("invalid", 201, {}) != normalise("invalid", 400, {})
    assert normalise("create", 201, {"id": 5, "name": "n", "bio": ""}) == normalise(
        "create", 201, {"id": 9, "name": "n", "bio": ""}
    )
    assert normalise("create", 201, {"id": "5", "name": "n"}) != normalise(
        "create", 201, {"id": 5, "name": "n"}
    )
    assert normalise("plain", 200, {"hello": "world"}) != normalise("plain", 200, {"hello": "you"})


def test_targets_and_markdown_from_a_results_document(bench: ModuleType) -> None:
    def run(cpu: float, rps: float) -> dict[str, float]:
        return {"cpu_us_per_request": cpu, "rps": rps, "others_core_share": 0.1}

    results = {
        "started": "2026-11-25T15:00:00+00:00",
        "finished": "2026-11-25T15:30:00+00:00",
        "options": {"quick": False, "server_core": 0, "wrk_core": 1, "connections": 64,
                    "warmup": 2.0, "seconds": 5.0, "rounds": 2},
        "server": {"loop": "uvloop", "http": "httptools"},
        "machine": {"cpu": "test", "cores": 2, "kernel": "6", "load_average": [1.0, 1.0, 1.0]},
        "implementations": {"stellate": {"stack": "S"}, "fastapi": {"stack": "F"}},
        "http": {
            "stellate": [{"spawn": {"ms": 200.0}, "list": run(100, 1000)}] * 2,
            "fastapi": [{"spawn": {"ms": 400.0}, "list": run(500, 300)}] * 2,
        },
        "orm": {
            "stellate-orm": {"cpu_us": {"fetch_1000": [120.0]}, "versions": {}},
            "asyncpg": {"cpu_us": {"fetch_1000": [100.0]}, "versions": {}},
        },
        "tasks": {"drain stellate": [900.0], "drain arq tuned": [1000.0]},
        "admin": "pending: no change list",
    }  # fmt: skip
    summary = bench.suite_report.summarise(results)
    assert summary["http"]["list"]["fastapi"]["cpu_ratio"] == pytest.approx(5.0)
    assert summary["http"]["list"]["fastapi"]["rps_ratio"] == pytest.approx(1000 / 300)
    checks = {item["label"]: item for item in bench.suite_report.verdicts(summary, results)}
    assert checks["DB list: Stellate vs fastapi (CPU x)"]["met"] is True
    assert checks["DB list: Stellate vs django (CPU x)"]["met"] is None  # not measured
    assert checks["ORM fetch_1000: stellate-orm CPU ÷ raw asyncpg"]["value"] == pytest.approx(1.2)
    assert checks["tasks: Stellate worker drain ÷ drain arq tuned"]["met"] is True
    text = bench.suite_report.markdown(results)
    assert "| DB list: Stellate vs fastapi (CPU x) | 5.00x | >= 4 | met |" in text
    assert "not measured" in text
    assert "pending: no change list" in text
