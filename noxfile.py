"""Per-package test sessions, each in its own environment, plus lint, types, examples, bench.

Run one with ``uv run nox -s core`` (list them with ``uv run nox -l``).

Each package session installs only that package, what it depends on and the test
tools, with ``uv sync --package stellate-<name>`` into the session's own virtualenv
(``UV_PROJECT_ENVIRONMENT``). ``uv run --package`` would not do: it runs in the shared
``.venv``, where every workspace package is installed, so a missing dependency
would go unnoticed. The session then checks which ``stellate.*`` packages are
importable before running ``pytest tests/<name>``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = ("core", "orm", "rest", "auth", "tasks", "admin")
#: pytest's exit code when it collected no tests (a package whose tests are not written yet).
NO_TESTS_COLLECTED = 5

nox.options.default_venv_backend = "uv"
nox.options.sessions = [*PACKAGES, "lint", "typecheck", "examples"]


def _stellate_dependencies(name: str) -> set[str]:
    """``name`` and every stellate package it depends on, transitively, from the pyprojects."""
    found: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        project = tomllib.loads((ROOT / "packages" / current / "pyproject.toml").read_text())
        for requirement in project["project"].get("dependencies", []):
            if requirement.startswith("stellate-"):
                dependency = requirement.removeprefix("stellate-")
                pending.append(dependency.split("[")[0].split(">")[0].split("=")[0].strip())
    return found


def _sync(session: nox.Session, *args: str) -> None:
    """``uv sync`` the lock file into this session's virtualenv."""
    env = {"UV_PROJECT_ENVIRONMENT": str(session.virtualenv.location)}
    session.run_install("uv", "sync", "--locked", *args, env=env, external=True)


def _check_isolation(session: nox.Session, expected: set[str]) -> None:
    """Fail unless exactly the ``expected`` stellate packages are importable in the session."""
    names = ",".join(PACKAGES)
    code = (
        "import importlib.util as u; "
        f'print(",".join(n for n in "{names}".split(",") if u.find_spec("stellate." + n)))'
    )
    output = session.run("python", "-c", code, silent=True)
    found = {name for name in str(output).strip().split(",") if name}
    session.log(f"stellate packages installed: {', '.join(sorted(found))}")
    if found != expected:
        session.error(
            f"expected exactly {sorted(expected)} installed, found {sorted(found)}: "
            "check the dependencies in the packages' pyproject.toml"
        )


def _run_pytest(session: nox.Session, *paths: str) -> None:
    # Arguments after `--` replace the default paths: `uv run nox -s core -- tests/core -x`.
    session.run(
        "python",
        "-m",
        "pytest",
        *(session.posargs or paths),
        success_codes=[0, NO_TESTS_COLLECTED],
    )


def _package_session(name: str) -> None:
    @nox.session(name=name)
    def tests(session: nox.Session) -> None:
        _sync(session, "--package", f"stellate-{name}", "--group", "dev", "--all-extras")
        if name == "core":
            # The example third-party plugin depends on core alone; core's tests use it.
            session.run_install(
                "uv", "pip", "install", "--no-deps", "--python", session.virtualenv.location,
                str(ROOT / "examples" / "plugin_hello"), external=True,
            )  # fmt: skip
        _check_isolation(session, _stellate_dependencies(name))
        test_dir = ROOT / "tests" / name
        if not any(test_dir.rglob("test_*.py")):
            session.skip(f"tests/{name}/ has no test files yet")
        _run_pytest(session, f"tests/{name}")

    tests.__doc__ = f"Test stellate-{name} installed alone (with its dependencies)."


for _name in PACKAGES:
    _package_session(_name)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and the import-linter layering contracts."""
    _sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package, and on the examples."""
    _sync(session)
    session.run("mypy")
    session.run("mypy", "--strict", "examples/hello", "examples/plugin_hello/src")


@nox.session
def examples(session: nox.Session) -> None:
    """The example app and the example plugin, with only stellate-core installed."""
    _sync(session, "--package", "stellate-plugin-hello", "--group", "dev")
    _check_isolation(session, {"core"})
    _run_pytest(session, "tests/core/test_core_examples.py", "tests/core/test_core_plugin_hello.py")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite (bench/): ``python -m bench suite``, every peer, writes RESULTS.md.

    ``uv run nox -s bench -- suite --quick`` (or ``-- http``) passes arguments through.
    """
    if not (ROOT / "bench" / "__main__.py").is_file():
        session.error("bench/__main__.py is missing: the benchmark harness is not in this checkout")
    _sync(session)
    session.run("python", "-m", "bench", *(session.posargs or ["suite"]))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with ``mkdocs build --strict`` (any warning fails)."""
    _sync(session, "--group", "docs")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """The reliability suite in full (tests/reliability/README.md), or the soak.

    ``uv run nox -s reliability`` runs tests/reliability with every hostile payload and
    more property examples, the task worker's SIGTERM/SIGKILL tests and schemathesis
    over the bookstore with 150 examples per operation (anonymous and staff).
    ``uv run nox -s reliability -- soak --seconds 300`` runs the soak instead
    (arguments after ``soak`` go to it).
    """
    _sync(session)
    if session.posargs[:1] == ["soak"]:
        session.run("python", "-m", "tests.reliability.soak", *session.posargs[1:])
        return
    env = {
        "STELLATE_RELIABILITY_FULL": "1",
        "STELLATE_SCHEMATHESIS_EXAMPLES": "150",
        "STELLATE_SCHEMATHESIS_TIMEOUT": "2400",
    }
    session.run(
        "python",
        "-m",
        "pytest",
        *(
            session.posargs
            or [
                "tests/reliability",
                "tests/tasks/test_tasks_processes.py",
                "tests/examples/test_examples_bookstore_schemathesis.py",
            ]
        ),
        env=env,
    )
