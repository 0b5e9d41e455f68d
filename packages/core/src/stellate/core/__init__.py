"""Stellate core: the App, the plugin protocol, requests, responses and settings."""

from __future__ import annotations

from stellate.core.app import App
from stellate.core.exceptions import HTTPException, ImproperlyConfigured, StartupError
from stellate.core.plugins import Plugin
from stellate.core.requests import Request, UploadedFile
from stellate.core.responses import JSONResponse, Response
from stellate.core.settings import CoreSettings, SettingsError, load_settings

__all__ = [
    "App",
    "CoreSettings",
    "HTTPException",
    "ImproperlyConfigured",
    "JSONResponse",
    "Plugin",
    "Request",
    "Response",
    "SettingsError",
    "StartupError",
    "UploadedFile",
    "load_settings",
]
