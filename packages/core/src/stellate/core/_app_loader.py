"""Import the app a ``module:attribute`` string names, with errors that say how to fix it."""

from __future__ import annotations

import importlib
import os
import sys

import click

from stellate.core.app import App
from stellate.core.exceptions import StartupError

APP_ENV = "STELLATE_APP"

NO_APP_MESSAGE = (
    "No app given: pass --app module:attribute "
    "(e.g. `stellate --app examples.hello.app:app routes`) "
    f"or set {APP_ENV}=module:attribute"
)


class AppLoadError(click.ClickException):
    """The app's module was found but importing it or building the app failed (exit 1)."""


class AppSpecError(click.UsageError):
    """The ``module:attribute`` string is malformed or names nothing (exit 2)."""


def load_app(spec: str) -> App:
    """Import ``module:attribute`` and return the :class:`App` it names.

    The current directory is put on ``sys.path`` first, as uvicorn does, so
    ``stellate --app app:app`` works from a project folder.

    Raises:
        AppSpecError: ``spec`` is not ``module:attribute``, or the module or
            attribute does not exist, or it is not an App.
        AppLoadError: importing the module failed (the app could not start, or
            its code raised).
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name.strip() or not attribute.strip():
        raise AppSpecError(
            f"`{spec}` is not `module:attribute`: write it like `examples.hello.app:app`"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise AppSpecError(
                f"Cannot import module `{module_name}` (from `{spec}`): run stellate from the "
                "folder that contains it, or fix the module name"
            ) from None
        raise AppLoadError(
            f"Importing `{module_name}` failed: ModuleNotFoundError: {exc}; "
            f"install `{missing}` or fix the import"
        ) from None
    except StartupError as exc:
        raise AppLoadError(str(exc)) from None
    except Exception as exc:
        raise AppLoadError(
            f"Importing `{module_name}` failed: {type(exc).__name__}: {exc}; "
            "fix the error in that module"
        ) from None
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppSpecError(
                f"Module `{module_name}` has no attribute `{attribute}`: check the name after "
                f"the colon in `{spec}`"
            ) from None
    if not isinstance(target, App):
        raise AppSpecError(
            f"`{spec}` is a {type(target).__name__}, not a stellate App: point it at the "
            "`App(...)` instance"
        )
    return target
