"""Smoke tests of the benchmark harness (``python -m bench``).

They check that the benchmarked apps start under uvicorn and answer identically,
that the harness's measuring parts read real processes and real wrk output, and
that its failures say what went wrong. They never assert a speed: speed goals are
measured by ``python -m bench http`` and reported as ratios, not unit-tested.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL = os.environ.get(
    "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("STELLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NO_WRK = "wrk is not installed (apt-get install wrk)"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The ``bench`` package, which lives at the repository root and is not installed."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    import bench
    import bench.environment
    import bench.frameworks
    import bench.profiling
    import bench.scenario_http
    import bench.server
    import bench.wrk

    return bench


def _env(bench: ModuleType) -> dict[str, str]:
    env: dict[str, str] = bench.scenario_http.service_env(DATABASE_URL, REDIS_URL, "production")
    return env


def _options(bench: ModuleType) -> tuple[str, str]:
    options: tuple[str, str] = bench.environment.server_options(speedups=True)
    return options


def test_apps_start_and_answer_identically(bench: ModuleType) -> None:
    loop, http = _options(bench)
    answers = {}
    for name in ("starlette", "stellate", "stellate-core"):
        framework = bench.frameworks.framework(name)
        with bench.server.Server(
            framework, loop=loop, http=http, core=None, env=_env(bench)
        ) as server:
            spawn = server.start()
            assert 0 < spawn < 30
            answers[name] = bench.server.fetch(server.port)
            assert bench.server.process_cpu_seconds(server.pid) > 0
            missing = bench.server.fetch(server.port, "/no-such-route")
            assert missing.status == 404
    assert bench.scenario_http.compare_answers(answers) == []
    assert {answer.body for answer in answers.values()} == {b'{"hello":"world"}'}
    assert {answer.content_type for answer in answers.values()} == {"application/json"}


def test_check_command_starts_every_app(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.__main__ import main

    args = ["check", "--frameworks", "starlette,stellate", "--no-speedups"]
    code = main([*args, "--database-url", DATABASE_URL, "--redis-url", REDIS_URL])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok: 2 apps answer identically" in out
    assert "stellate       200 application/json" in out


def test_a_plugin_that_fails_at_startup_is_reported(bench: ModuleType) -> None:
    loop, http = _options(bench)
    broken = dataclasses.replace(
        bench.frameworks.framework("stellate"), env={"BENCH_STELLATE_PLUGINS": "orm,nosuchplugin"}
    )
    with (
        bench.server.Server(broken, loop=loop, http=http, core=None, env=_env(bench)) as server,
        pytest.raises(bench.errors.BenchError) as caught,
    ):
        server.start()
    message = str(caught.value)
    assert "The `stellate` server (bench.apps.stellate_app:app) exited with code" in message
    assert "Plugin `nosuchplugin` is not installed" in message


@pytest.mark.skipif(shutil.which("wrk") is None, reason=NO_WRK)
def test_wrk_load_is_counted_in_requests_and_server_cpu(bench: ModuleType) -> None:
    loop, http = _options(bench)
    framework = bench.frameworks.framework("starlette")
    with bench.server.Server(framework, loop=loop, http=http, core=None, env={}) as server:
        server.start()
        cpu_before = bench.server.process_cpu_seconds(server.pid)
        result = bench.wrk.run_wrk(server.url, seconds=1, connections=4, core=None)
        cpu_after = bench.server.process_cpu_seconds(server.pid)
    assert result.requests > 0
    assert result.errors == 0
    assert result.non_2xx == 0
    assert 0.5 < result.seconds < 2
    assert result.requests_per_second == pytest.approx(result.requests / result.seconds, rel=0.05)
    assert result.latency_p50_ms is not None
    assert result.latency_p99_ms is not None
    assert result.latency_p50_ms <= result.latency_p99_ms
    assert cpu_after > cpu_before


def test_wrk_against_a_closed_port_fails_clearly(bench: ModuleType) -> None:
    if shutil.which("wrk") is None:
        pytest.skip(NO_WRK)
    port = bench.server.free_port()
    with pytest.raises(bench.errors.BenchError, match="wrk"):
        bench.wrk.run_wrk(f"http://127.0.0.1:{port}/", seconds=1, connections=1, core=None)


def test_unparseable_wrk_output_is_quoted(bench: ModuleType) -> None:
    with pytest.raises(
        bench.errors.BenchError, match=r"(?s)printed no request count.*bogus output"
    ):
        bench.wrk.parse_wrk_output("bogus output")


def test_answers_that_differ_are_named(bench: ModuleType) -> None:
    answer = bench.server.Answer
    problems = bench.scenario_http.compare_answers(
        {
            "good": answer(200, "application/json", b'{"hello":"world"}'),
            "text": answer(200, "text/plain", b'{"hello":"world"}'),
            "other": answer(500, "application/json", b'{"hello":"there"}'),
        }
    )
    assert problems == [
        "`text` answered content-type `text/plain`, expected `application/json`",
        "`other` answered status 500, expected 200",
        "`other` answered body b'{\"hello\":\"there\"}', expected {'hello': 'world'}",
    ]


def test_ratios_read_higher_is_better_except_spawn(bench: ModuleType) -> None:
    samples = []
    for repetition in range(3):
        for name, rps, cpu in (("starlette", 1000.0 + repetition, 30.0), ("slow", 500.0, 60.0)):
            samples.append(
                {
                    "framework": name,
                    "repetition": repetition,
                    "requests_per_second": rps,
                    "cpu_us_per_request": cpu,
                    "server_core_foreign_share": 0.0,
                }
            )
    spawns = {"starlette": [0.1, 0.2, 0.1], "slow": [0.3, 0.3, 0.4]}
    summary = bench.scenario_http.summarize_http(samples, spawns, ["starlette", "slow"])
    assert summary["starlette"]["rps_ratio"] == 1
    assert summary["slow"]["rps_ratio"] == pytest.approx(500 / 1001)
    assert summary["slow"]["rps_ratio_paired"]["min"] == pytest.approx(500 / 1002)
    assert summary["slow"]["cpu_efficiency_ratio"] == pytest.approx(0.5)
    assert summary["slow"]["spawn_ratio"] == pytest.approx(3)
    assert summary["slow"]["spawn_ratio_of_minimums"] == pytest.approx(3)
    assert summary["slow"]["spawn_ms"]["max"] == pytest.approx(400)


def test_bad_options_are_rejected_with_the_option_name(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.__main__ import main

    assert main(["http", "--reps", "0", "--no-speedups"]) == 2
    assert "--reps is `0`: it must be at least 1" in capsys.readouterr().err
    assert main(["check", "--frameworks", "starlette,flask", "--no-speedups"]) == 2
    assert "Unknown framework `flask`: choose from starlette, stellate" in capsys.readouterr().err
    assert main(["http", "--server-core", "1", "--wrk-core", "1", "--no-speedups"]) == 2
    assert "must not share the server's core" in capsys.readouterr().err


def test_profile_drives_the_request_path_in_process(bench: ModuleType) -> None:
    framework = bench.frameworks.framework("stellate-core")
    result = bench.profiling.profile_framework(framework, _env(bench), requests=300, top=5)
    assert result.requests == 300
    assert result.us_per_request > 0
    assert result.calls_per_request > 10
    assert "function calls in" in result.report
    with pytest.raises(bench.errors.BenchError, match="peers venv"):
        bench.profiling.profile_framework(
            bench.frameworks.framework("fastapi"), _env(bench), requests=1
        )


def test_import_profile_groups_real_importtime_output(bench: ModuleType) -> None:
    import bench.imports

    framework = bench.frameworks.framework("starlette")
    profile = bench.imports.profile_imports(framework, {}, samples=1)
    assert profile.samples == 1
    assert profile.by_package["starlette"] > 0
    assert profile.by_package["uvicorn"] > 0
    assert profile.total_ms == pytest.approx(sum(profile.by_package.values()))
    table = bench.imports.compare_imports([profile, profile], top=3)
    assert "TOTAL" in table
    assert "starlette" in table


def test_import_profile_reports_a_broken_app_module(bench: ModuleType) -> None:
    import bench.imports

    broken = dataclasses.replace(
        bench.frameworks.framework("starlette"), app="bench.apps.no_such_module:app"
    )
    with pytest.raises(bench.errors.BenchError) as caught:
        bench.imports.profile_imports(broken, {}, samples=1)
    assert "Importing `bench.apps.no_such_module` for `starlette` failed" in str(caught.value)
    assert "ModuleNotFoundError" in str(caught.value)


def test_startup_phases_are_measured_in_a_fresh_interpreter(bench: ModuleType) -> None:
    import bench.imports

    framework = bench.frameworks.framework("stellate-core")
    phases = bench.imports.startup_phases(framework, _env(bench), samples=1)
    assert list(phases) == [
        "interpreter start",
        "import uvicorn",
        "import app module (builds the app)",
        "lifespan startup",
    ]
    assert all(value >= 0 for value in phases.values())
    assert phases["import app module (builds the app)"] > 0
    table = bench.imports.compare_phases(["stellate-core"], [phases])
    assert table.splitlines()[-1].endswith("TOTAL")


def test_spawn_target_needs_both_the_median_and_the_fastest_starts(bench: ModuleType) -> None:
    import bench.report

    row = {"rps_ratio": 0.95, "cpu_efficiency_ratio": 0.89, "spawn_ratio": 1.1}
    fast = {"summary": {"stellate": {**row, "spawn_ratio_of_minimums": 1.15}}}
    noisy = {"summary": {"stellate": {**row, "spawn_ratio_of_minimums": 2.0}}}
    assert bench.report.http_verdict(fast) == [
        "stellate requests/s: 0.95x Starlette (target >= 0.90x): met",
        "stellate CPU efficiency (Starlette µs/req ÷ Stellate µs/req): 0.89x Starlette "
        "(target >= 0.90x): MISSED",
        "stellate spawn-to-first-response time: 1.10x Starlette (target <= 1.20x): met",
    ]
    assert bench.report.http_verdict(noisy)[-1] == (
        "stellate spawn-to-first-response time: 1.10x Starlette by medians but 2.00x by "
        "fastest starts (target <= 1.20x): MISSED (the medians are inflated by noise)"
    )
    assert bench.report.http_verdict({"summary": {}}) == ["`stellate` was not measured in this run"]


def test_report_command_rejects_a_file_that_is_not_http_results(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.__main__ import main

    other = tmp_path / "other.json"
    other.write_text('{"scenario": "orm"}')
    assert main(["report", str(other)]) == 2
    assert f"`{other}` is not the result of `python -m bench http`" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "Cannot read results file" in capsys.readouterr().err
