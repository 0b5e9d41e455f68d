"""The project ``stellate new NAME [--with ...]`` writes: an app, its tests, packaging, a README.

Core only (the default) is an app with two routes. Each feature adds what a first
project with it needs and a test of it: ``orm`` a model, its first migration and the
embedded PostgreSQL; ``rest`` a CRUD API with OpenAPI docs; ``auth`` login and
protected writes; ``tasks`` a background task and a worker; ``admin`` the admin site.
The generated files import only public names of the packages they use.
"""

from __future__ import annotations

import re
from pathlib import Path

from stellate.core import _scaffold_templates as templates

PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

#: Features of ``--with``, in the order they are listed in help and plugins.
FEATURES = ("orm", "rest", "auth", "tasks", "admin")
#: What each feature needs besides itself.
FEATURE_REQUIRES = {
    "orm": (),
    "rest": ("orm",),
    "auth": ("orm",),
    "tasks": (),
    "admin": ("orm", "auth"),
}
_DISTRIBUTION = {
    "core": "stellate-core",
    "orm": "stellate-orm[embedded]",
    "rest": "stellate-rest",
    "auth": "stellate-auth",
    "tasks": "stellate-tasks[embedded]",
    "admin": "stellate-admin",
}


class FeatureError(ValueError):
    """``--with`` named something that is not a feature."""


def resolve_features(raw: str | None) -> tuple[str, ...]:
    """The features ``--with`` asks for plus those they require, in :data:`FEATURES` order.

    Raises:
        FeatureError: naming the unknown feature and the valid ones.
    """
    wanted: set[str] = set()
    for name in (part.strip().lower() for part in (raw or "").split(",")):
        if not name:
            continue
        if name not in FEATURE_REQUIRES:
            raise FeatureError(
                f"`{name}` is not a feature: choose from {', '.join(FEATURES)} "
                "(comma-separated, e.g. --with orm,rest)"
            )
        wanted.add(name)
        wanted.update(FEATURE_REQUIRES[name])
    return tuple(name for name in FEATURES if name in wanted)


def local_packages() -> Path | None:
    """The ``packages/`` folder of the Stellate checkout this stellate-core runs from, if any.

    A project created from a development checkout depends on those folders (editable),
    so it installs without a package index.
    """
    # .../packages/core/src/stellate/core/_scaffold.py -> .../packages
    packages = Path(__file__).resolve().parents[4]
    if (packages / "core" / "pyproject.toml").is_file() and (packages / "orm").is_dir():
        return packages
    return None


# -- pyproject ----------------------------------------------------------------------


def _pyproject(project: str, features: tuple[str, ...], local: Path | None) -> str:
    names = ["core", *features]
    dependencies = ", ".join(f'"{_DISTRIBUTION[name]}"' for name in names)
    text = f"""\
[project]
name = "{project}"
version = "0.1.0"
description = "A Stellate application"
requires-python = ">=3.11"
dependencies = [{dependencies}]

[dependency-groups]
dev = ["stellate-core[testing]", "pytest>=8.3", "pytest-asyncio>=1.0", "httpx>=0.27"]

[tool.uv]
# An application, not a library: nothing to build or publish.
package = false
"""
    if local is not None:
        text += (
            "\n# Stellate from a local checkout (`stellate new` ran from one): no index needed.\n"
        )
        text += "[tool.uv.sources]\n"
        for name in names:
            distribution = _DISTRIBUTION[name].split("[")[0]
            path = (local / name).as_posix()
            text += f'{distribution} = {{ path = "{path}", editable = true }}\n'
    text += """
[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
addopts = ["--strict-config", "--strict-markers"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
filterwarnings = ["error"]
"""
    return text


# -- app.py -------------------------------------------------------------------------


def _app_line(plugins: str) -> str:
    line = f"app = App(plugins=[{plugins}], settings=dict(settings or {{}}))"
    if len(line) <= 84:  # 88 columns (ruff's default) with the indent
        return line
    return f"app = App(\n        plugins=[{plugins}], settings=dict(settings or {{}})\n    )"


def _app_py(project: str, features: tuple[str, ...]) -> str:
    if not features:
        return templates.CORE_APP.substitute(project=project)
    has = set(features)
    doc = [
        f'"""The {project} application.',
        "",
        "Serve it with `stellate run app:app --reload` (or `uvicorn app:app`).",
    ]
    if "orm" in has:
        doc += [
            "With no STELLATE_DATABASE_URL an embedded PostgreSQL starts under `.stellate/`",
            "and the migrations in `migrations/` are applied to it at startup.",
        ]
    if "tasks" in has:
        doc += [
            "With no STELLATE_REDIS_URL an embedded Redis starts too, and in development a",
            "task worker runs inside the server.",
        ]
    lines = [*doc, '"""', "", "from __future__ import annotations", ""]
    if "tasks" in has:
        lines.append("import contextlib")
        lines.append("from collections.abc import AsyncIterator, Mapping")
    else:
        lines.append("from collections.abc import Mapping")
    lines += ["from typing import Any", "", "import msgspec"]
    if "auth" in has and "tasks" in has and "orm" in has:
        lines.append("from stellate.auth import require_auth")
    lines.append("from stellate.core import App, Request")
    if "rest" in has:
        lines.append("from stellate.rest import mount_openapi")
    local = []
    if "rest" in has:
        local.append("from api import router")
    if ("tasks" in has and "orm" in has) or "admin" in has:
        local.append("from models import Note")
    if local:
        lines += ["", *local]
    lines += [
        "",
        "",
        "class Greeting(msgspec.Struct):",
        '    """The body of POST /greetings."""',
        "",
        "    name: str",
        "",
    ]
    text = "\n".join(lines)
    if "tasks" in has:
        text += templates.WORKER_LIFESPAN
    plugins = ", ".join(f'"{name}"' for name in features)
    text += f'''

def create_app(settings: Mapping[str, Any] | None = None) -> App:
    """Build the app; `settings` win over the environment (tests pass theirs)."""
    {_app_line(plugins)}
    app.mount_health()
'''
    if "admin" in has:
        text += "    app.admin.register(Note)  # /admin/: staff log in there\n"
    if "rest" in has:
        text += '    app.include(router, prefix="/api")\n'
        text += (
            f'    mount_openapi(app, title="{project}", version="0.1.0")  # /openapi.json, /docs\n'
        )
    text += templates.ROUTES.format(project=project)
    if "tasks" in has and "orm" in has:
        guard = "        require_auth(request)  # 401 unless logged in\n" if "auth" in has else ""
        text += templates.TASK.format(guard=guard)
    elif "tasks" in has:
        text += templates.TASK_NO_ORM
    if "tasks" in has:
        text += '\n    if app.settings.env == "development":\n'
        text += "        app.add_lifespan(_development_worker)\n"
    else:
        text += "\n"
    text += "    return app\n\n\napp = create_app()\n"
    return text


# -- tests --------------------------------------------------------------------------


def _conftest(features: tuple[str, ...]) -> str:
    has = set(features)
    doc = ['"""Test fixtures: the `client` fixture of stellate-core\'s pytest plugin uses `app`.']
    if "orm" in has:
        doc += [
            "",
            "With stellate-orm, the `db` fixture runs each test in a transaction that is rolled",
            "back, on a test database migrated with `migrations/` (on the server of",
            "STELLATE_TEST_DATABASE_URL, or on an embedded PostgreSQL when it is unset).",
        ]
    text = "\n".join(doc) + ('\n"""' if len(doc) > 1 else '"""')
    text += "\n\nfrom __future__ import annotations\n\n"
    if not features:
        return (
            text
            + """import pytest
from stellate.core import App

from app import app as application


@pytest.fixture
def app() -> App:
    return application
"""
        )
    if "tasks" in has:
        text += "import os\nimport uuid\n\n"
    text += "import pytest\nfrom stellate.core import App\n\nfrom app import create_app\n"
    settings = ['"env": "test"']
    if "auth" in has:
        settings.append('"secret_key": "test-only-" + "k" * 50')
        # The lighter argon2 profile keeps the tests fast; production keeps the default.
        settings.append('"auth": {"password_profile": "owasp-minimum"}')
    if "tasks" in has:
        settings.append(
            '"tasks": {\n'
            "                # unset: an embedded Redis; each test app gets its own key prefix\n"
            '                "redis_url": os.environ.get("STELLATE_TEST_REDIS_URL"),\n'
            '                "tasks_prefix": f"test-{uuid.uuid4().hex}:",\n'
            + (
                "                # the enqueue_on_commit outbox sweep stays out of the tests' way\n"
                '                "tasks_outbox_interval": 60.0,\n'
                if "orm" in has
                else ""
            )
            + "            }"
        )
    body = ",\n            ".join(settings)
    if "orm" in has:
        text += """

@pytest.fixture(autouse=True)
def _rolled_back(db: object) -> None:
    \"\"\"Every test runs inside the `db` fixture's transaction, rolled back after it.\"\"\"
"""
    text += f"""

@pytest.fixture
def app() -> App:
    \"\"\"The app with test settings (they win over the environment).\"\"\"
    return create_app(
        {{
            {body},
        }}
    )
"""
    return text


def _test_app(project: str, features: tuple[str, ...]) -> str:
    has = set(features)
    imports = ["import re", ""] if "admin" in has else []
    if "auth" in has or "tasks" in has:
        imports.append("from stellate.core import App")
    imports.append("from stellate.core.testing import AppClient")
    if "orm" in has:
        imports += ["", "from models import Note"]
    header = "\n".join(imports) + "\n"
    if "auth" in has:
        header += '\nPASSWORD = "correct horse battery staple"  # noqa: S105 - a test password\n'
    text = templates.TEST_CORE.substitute(project=project, imports=header)
    if "orm" in has:
        text += templates.TEST_ORM
    if "auth" in has:
        text += templates.TEST_AUTH
    if "rest" in has:
        text += templates.TEST_REST_AUTH if "auth" in has else templates.TEST_REST_OPEN
    if "admin" in has:
        text += templates.TEST_ADMIN
    if "tasks" in has and "orm" in has:
        if "auth" in has:
            text += templates.TEST_TASKS.format(
                login="    headers = await login(client, app)\n", headers=", headers=headers"
            )
        else:
            text += templates.TEST_TASKS.format(login="", headers="")
    elif "tasks" in has:
        text += templates.TEST_TASKS_NO_ORM
    return text


# -- README -------------------------------------------------------------------------


def _readme(project: str, features: tuple[str, ...]) -> str:
    has = set(features)
    text = f"""\
# {project}

A [Stellate](https://pypi.org/project/stellate-core/) application.

    uv run stellate run app:app --reload     # installs, then serves http://127.0.0.1:8000
    uv run pytest                             # runs the tests
"""
    if "orm" in has:
        text += """
There is nothing to install or configure: with no `STELLATE_DATABASE_URL` an embedded
PostgreSQL starts under `.stellate/` and `migrations/` is applied to it at startup.
After changing `models.py`:

    uv run stellate --app app:app makemigrations --models models   # writes migrations/000N_*.py
    uv run stellate --app app:app migrate                          # applies them
    uv run stellate --app app:app showmigrations                   # what is applied
"""
    if "rest" in has:
        text += """
The API lives under `/api/notes/`; its OpenAPI document is `/openapi.json` and the
interactive docs are at http://127.0.0.1:8000/docs.
"""
    if "auth" in has:
        text += """
Create an account, then log in with `POST /auth/login` (`username`, `password`):

    uv run stellate --app app:app createsuperuser
"""
    if "tasks" in has:
        text += """
With no `STELLATE_REDIS_URL` an embedded Redis starts, and in development a task worker
runs inside the server. In production run workers on their own:

    uv run stellate --app app:app worker
"""
    text += """
Other useful commands:

    uv run stellate --app app:app routes      # every route and its handler
    uv run stellate --app app:app check       # is the app well configured?
    uv run stellate --app app:app plugins     # installed and enabled plugins
"""
    if not features:
        text += """
Add plugins with `uv add stellate-orm` and enable them by name:
`App(plugins=["orm"])` in `app.py`, or `STELLATE_PLUGINS=orm`.
"""
    return text


def scaffold_files(
    project: str, features: tuple[str, ...] = (), local: Path | None = None
) -> dict[str, str]:
    """The files of a new project called ``project``, by relative path.

    Args:
        project: the project name.
        features: resolved features (see :func:`resolve_features`).
        local: a Stellate checkout's ``packages/`` folder to depend on by path.
    """
    has = set(features)
    files = {
        "pyproject.toml": _pyproject(project, features, local),
        "app.py": _app_py(project, features),
    }
    if "orm" in has:
        files["models.py"] = templates.MODELS
        files["migrations/0001_initial.py"] = templates.MIGRATION
        files["migrations/_state.json"] = templates.STATE
    if "rest" in has:
        permission = "IsAuthenticatedOrReadOnly" if "auth" in has else "AllowAny"
        why = (
            "reads are public, writes need a login"
            if "auth" in has
            else "open to everyone: add auth (`--with auth`) to protect writes"
        )
        files["api.py"] = templates.API.substitute(permission=permission, why=why)
    files["tests/__init__.py"] = ""
    files["tests/conftest.py"] = _conftest(features)
    files["tests/test_app.py"] = _test_app(project, features)
    files["README.md"] = _readme(project, features)
    files[".gitignore"] = templates.GITIGNORE
    return files


def write_project(
    target: Path, project: str, features: tuple[str, ...] = (), local: Path | None = None
) -> list[Path]:
    """Write the project into ``target`` (which must not exist or be empty).

    Returns:
        The paths written, in order.
    """
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in scaffold_files(project, features, local).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
