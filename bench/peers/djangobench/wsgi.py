"""WSGI entry point (gunicorn, sync workers: the deployment Django's docs describe)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangobench.settings")
application = get_wsgi_application()
