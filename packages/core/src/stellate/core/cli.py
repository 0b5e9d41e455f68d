"""The ``stellate`` command line: run, inspect and check an app, scaffold a project.

Plugins add their own commands with ``app.add_command(click_command)`` in
``setup()``; the CLI loads them from the app named by ``--app`` (or
``STELLATE_APP``) only when one of them is asked for or listed.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from stellate.core._app_loader import APP_ENV, NO_APP_MESSAGE, AppSpecError, load_app
from stellate.core._deploy_checks import deploy_problems
from stellate.core._scaffold import (
    PROJECT_NAME,
    FeatureError,
    local_packages,
    resolve_features,
    write_project,
)
from stellate.core.app import App
from stellate.core.plugins import (
    installed_plugins,
    missing_plugin_reason,
    requested_plugins,
)

__all__ = ["cli", "main"]

NOT_ENABLED = "not in plugins list / STELLATE_PLUGINS"
#: The app of a project made by ``stellate new``, used when no app is named.
PROJECT_APP = "app:app"


@dataclass
class _State:
    """What the root command parsed, shared with every subcommand."""

    app_spec: str | None
    app: App | None = None
    warned: bool = False
    clashes: list[str] = field(default_factory=list)


def _state(ctx: click.Context) -> _State:
    root = ctx.find_root()
    if not isinstance(root.obj, _State):
        spec = root.params.get("app_spec") or os.environ.get(APP_ENV) or _project_app()
        root.obj = _State(app_spec=spec)
    return root.obj


def _project_app() -> str | None:
    """``app:app`` in a folder with an ``app.py`` (a project made by ``stellate new``)."""
    return PROJECT_APP if Path(PROJECT_APP.split(":")[0] + ".py").is_file() else None


def _get_app(ctx: click.Context, spec: str | None = None) -> App:
    """The app of this invocation, imported once; usage error when none is named."""
    state = _state(ctx)
    spec = spec or state.app_spec
    if not spec:
        raise AppSpecError(NO_APP_MESSAGE)
    if state.app is None or spec != state.app_spec:
        state.app_spec, state.app = spec, load_app(spec)
        state.clashes = _command_clashes(state.app, ctx.find_root().command)
    if state.clashes and not state.warned:
        state.warned = True
        for clash in state.clashes:
            click.echo(f"Warning: {clash}", err=True)
    return state.app


def _command_clashes(app: App, root: click.Command) -> list[str]:
    builtins = root.commands if isinstance(root, click.Group) else {}
    owners: dict[str, tuple[str, Any]] = getattr(app, "_commands", {})
    clashes = []
    for name in sorted(app.commands):
        if name in builtins:
            owner = owners.get(name, ("the app", None))[0]
            clashes.append(
                f"CLI command `{name}` of {owner} has the name of the built-in "
                f"`stellate {name}`, which wins: rename the plugin's command"
            )
    return clashes


class StellateGroup(click.Group):
    """The root group: built-in commands plus those of the app's plugins, loaded lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands)
        state = _state(ctx)
        if state.app_spec:
            # Listing is best effort: a broken app must not break `stellate --help`.
            with contextlib.suppress(click.ClickException):
                names.update(_get_app(ctx).commands)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = self.commands.get(cmd_name)
        if builtin is not None:
            return builtin
        state = _state(ctx)
        if not state.app_spec:
            raise click.UsageError(
                f"No command `{cmd_name}`: built-in commands are "
                f"{', '.join(sorted(self.commands))}; plugin commands need the app: pass "
                f"--app module:attribute or set {APP_ENV}"
            )
        app = _get_app(ctx)
        command = app.commands.get(cmd_name)
        if command is None:
            plugin_commands = ", ".join(sorted(app.commands)) or "none"
            raise click.UsageError(
                f"No command `{cmd_name}`: built-in commands are "
                f"{', '.join(sorted(self.commands))}; the plugins of `{state.app_spec}` add: "
                f"{plugin_commands}"
            )
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; errors are printed as one line and exit 2 (usage) or 1 (failure)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            message = exc.format_message()
            if exc.ctx is not None and not isinstance(exc, AppSpecError):
                message += f" (see `{exc.ctx.command_path} --help`)"
            click.echo(f"Error: {message}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=StellateGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Commands of the app's plugins are listed too when --app or STELLATE_APP names the app."
    ),
)
@click.option(
    "--app",
    "app_spec",
    metavar="MODULE:ATTR",
    envvar=APP_ENV,
    is_eager=True,
    help=(
        f"The app, as `module:attribute` (default: ${APP_ENV}, else `{PROJECT_APP}` when "
        "./app.py exists, as in a project made by `stellate new`)."
    ),
)
@click.version_option(package_name="stellate-core", prog_name="stellate")
@click.pass_context
def cli(ctx: click.Context, app_spec: str | None) -> None:
    """Run, inspect and check a Stellate app.

    \b
    Examples:
      stellate run examples.hello.app:app --reload
      stellate --app examples.hello.app:app routes
      STELLATE_APP=app:app stellate check --deploy
      stellate new mysite
    """
    _state(ctx).app_spec = app_spec or _state(ctx).app_spec or _project_app()


# -- run ----------------------------------------------------------------------------


@cli.command()
@click.argument("app_arg", metavar="[APP]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
@click.option("--reload", is_flag=True, help="Restart when code changes (development only).")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug", "trace"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
@click.pass_context
def run(
    ctx: click.Context,
    app_arg: str | None,
    host: str,
    port: int,
    workers: int,
    reload: bool,
    log_level: str,
) -> None:
    """Serve the app with uvicorn.

    APP is `module:attribute` (default: --app, else STELLATE_APP).

    The app is imported once first, so a configuration problem is reported
    before the server starts.

    \b
    Examples:
      stellate run examples.hello.app:app
      stellate run app:app --host 0.0.0.0 --port 8080 --workers 4
      stellate run app:app --reload
    """
    if reload and workers > 1:
        raise click.UsageError(
            "--reload runs one process: drop --workers, or drop --reload for production"
        )
    state = _state(ctx)
    spec = app_arg or state.app_spec
    _get_app(ctx, spec)
    import uvicorn

    uvicorn.run(
        spec or "",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level=log_level,
        log_config=_log_config(log_level),
        app_dir=os.getcwd(),
    )


def _log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging plus Stellate's loggers, so startup work is visible.

    Without it the ``stellate.*`` loggers have no handler and what the plugins do at
    startup (starting the embedded PostgreSQL, applying migrations, starting a worker)
    would be silent until something goes wrong.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    level = "DEBUG" if log_level == "trace" else log_level.upper()
    config["loggers"]["stellate"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


# -- plugins ------------------------------------------------------------------------


@cli.command()
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List installed plugins and which ones the app enables.

    A disabled plugin is shown with the reason and how to enable it. Without an
    app it shows what STELLATE_PLUGINS would enable.

    \b
    Examples:
      stellate --app examples.hello.app:app plugins
      STELLATE_PLUGINS=hello stellate plugins
    """
    installed = installed_plugins()
    rows: list[tuple[str, str, str, str]] = []
    state = _state(ctx)
    if state.app_spec:
        app = _get_app(ctx)
        enabled = {plugin.name: plugin for plugin in app.plugins}
        click.echo(f"Plugins of {state.app_spec}: {len(enabled)} enabled (in setup order):")
        for position, plugin in enumerate(app.plugins, 1):
            rows.append(
                (plugin.name, plugin.distribution, plugin.version, f"enabled (#{position})")
            )
        for name in sorted(set(installed) - set(enabled)):
            found = installed[name]
            rows.append((name, found.distribution, found.version, f"disabled: {NOT_ENABLED}"))
    else:
        requested = requested_plugins(None, os.environ)
        raw = os.environ.get("STELLATE_PLUGINS")
        click.echo(
            "No app given (--app / STELLATE_APP): installed plugins, and what "
            + (f"STELLATE_PLUGINS={raw} would enable:" if raw else "STELLATE_PLUGINS would enable:")
        )
        wanted = set(installed) if requested == "installed" else {str(n) for n in requested}
        for name in sorted(installed):
            found = installed[name]
            status = "enabled by STELLATE_PLUGINS" if name in wanted else f"disabled: {NOT_ENABLED}"
            rows.append((name, found.distribution, found.version, status))
        for name in sorted(wanted - set(installed)):
            rows.append((name, "-", "-", f"missing: {missing_plugin_reason(name, installed)}"))
    if not rows:
        click.echo("  (no plugins installed: packages advertise them in `stellate.plugins`)")
        return
    _echo_table(("plugin", "distribution", "version", "status"), rows)
    if any(row[3].startswith("disabled") for row in rows):
        click.echo('\nEnable one with App(plugins=[..., "NAME"]) or STELLATE_PLUGINS=NAME,...')


# -- routes -------------------------------------------------------------------------


@cli.command()
@click.pass_context
def routes(ctx: click.Context) -> None:
    """List the app's routes.

    Each with its method, path, name, handler and owner (the app or a plugin).

    \b
    Example:
      stellate --app examples.hello.app:app routes
    """
    app = _get_app(ctx)
    owners: dict[tuple[str, str], str] = getattr(app, "_route_owners", {})
    rows = list(_route_rows(app.routes, "", owners, None))
    if not rows:
        click.echo("The app has no routes.")
        return
    _echo_table(("method", "path", "name", "handler", "owner"), rows)


def _route_rows(
    items: Sequence[BaseRoute],
    prefix: str,
    owners: dict[tuple[str, str], str],
    inherited: str | None,
) -> Iterator[tuple[str, str, str, str, str]]:
    for route in items:
        if isinstance(route, Route):
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.discard("HEAD")  # Starlette adds HEAD to every GET route
            first = sorted(route.methods or {"*"})[0]
            owner = inherited or owners.get((route.path, first), "app")
            yield (
                ",".join(sorted(methods)) or "*",
                prefix + route.path,
                route.name or "",
                _qualified(route.endpoint),
                owner,
            )
        elif isinstance(route, WebSocketRoute):
            yield (
                "WS",
                prefix + route.path,
                route.name or "",
                _qualified(route.endpoint),
                inherited or "app",
            )
        elif isinstance(route, Mount):
            owner = inherited or owners.get((route.path + "/", "MOUNT"), "app")
            children = getattr(route.app, "routes", None)
            if children:
                yield from _route_rows(children, prefix + route.path, owners, owner)
            else:
                yield (
                    "MOUNT",
                    prefix + route.path + "/",
                    route.name or "",
                    _qualified(type(route.app)),
                    owner,
                )


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}" if module else name


# -- check --------------------------------------------------------------------------


@cli.command()
@click.option("--deploy", is_flag=True, help="Add production checks (secret key, debug, env…).")
@click.pass_context
def check(ctx: click.Context, deploy: bool) -> None:
    """Report the app's problems, each with its fix.

    Exits 1 when there is any.

    Building the app validates every plugin, its settings and its registrations.
    --deploy adds what production needs: STELLATE_ENV=production, debug off, a
    long random secret key, a log level above debug, no wildcard allowed hosts.

    \b
    Examples:
      stellate --app examples.hello.app:app check
      STELLATE_ENV=production stellate --app app:app check --deploy
    """
    state = _state(ctx)
    state.warned = True  # clashes are reported below as problems, not as a warning
    app = _get_app(ctx)
    problems = list(state.clashes)
    if deploy:
        problems.extend(deploy_problems(app))
    kind = "deploy check" if deploy else "check"
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        click.echo(f"{state.app_spec}: {len(problems)} {noun} ({kind}):")
        for problem in problems:
            click.echo(f"  - {problem}")
        ctx.exit(1)
    names = ", ".join(plugin.name for plugin in app.plugins) or "none"
    click.echo(
        f"{state.app_spec}: no problems found ({kind}; plugins: {names}; {len(app.routes)} routes)"
    )


# -- new ----------------------------------------------------------------------------


@cli.command()
@click.argument("name")
@click.option(
    "--with",
    "with_",
    metavar="FEATURES",
    default="",
    help=(
        "Comma-separated features: orm (models, migrations, embedded PostgreSQL), rest "
        "(CRUD API + OpenAPI), auth (login), tasks (background task + worker), admin. "
        "Each brings what it needs (rest implies orm)."
    ),
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create the project folder (default: here).",
)
@click.option(
    "--stellate-path",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help=(
        "A Stellate checkout's `packages/` folder to depend on by path instead of PyPI "
        "(default: this stellate-core's checkout when it runs from one)."
    ),
)
def new(name: str, with_: str, directory: Path, stellate_path: Path | None) -> None:
    """Create a new project folder whose tests pass as created.

    NAME gets an app.py, tests, a pyproject.toml and a README. With --with orm
    it also gets models.py and its first migration, applied to an embedded
    PostgreSQL when the app starts: one `uv run stellate run app:app` installs,
    migrates and serves.

    \b
    Examples:
      stellate new mysite && cd mysite && uv run pytest
      stellate new notes --with orm,rest,auth,tasks
      cd notes && uv run stellate run app:app --reload
    """
    if not PROJECT_NAME.match(name):
        raise click.BadParameter(
            f"`{name}` is not a project name: start with a letter and use letters, digits, "
            "`-` and `_`",
            param_hint="NAME",
        )
    try:
        features = resolve_features(with_)
    except FeatureError as exc:
        raise click.BadParameter(str(exc), param_hint="--with") from None
    target = directory / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(
            f"`{target}` already exists and is not empty: choose another NAME or --directory"
        )
    local = stellate_path.resolve() if stellate_path is not None else local_packages()
    if local is not None:
        click.echo(f"Depending on the Stellate packages in {local} (editable, no index needed)")
    for path in write_project(target, name, features, local):
        click.echo(f"  created {path}")
    with_text = ", ".join(features) if features else "core only"
    click.echo(
        f"\nCreated {name} ({with_text}). Next:\n  cd {target}\n  uv run pytest\n"
        "  uv run stellate run app:app --reload"
    )


# -- helpers ------------------------------------------------------------------------


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  " + "  ".join(cells).rstrip())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``stellate`` console script."""
    cli.main(args=argv, prog_name="stellate")
