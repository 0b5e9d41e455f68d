"""ASGI entry point (uvicorn, with the same settings as every other peer)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangobench.settings")
os.environ["BENCH_DJANGO_ASGI"] = "1"  # settings: no persistent connections under ASGI
application = get_asgi_application()
