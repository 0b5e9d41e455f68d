"""ASGI entry point (uvicorn, with the same settings as every other peer)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangobench.settings")
application = get_asgi_application()
