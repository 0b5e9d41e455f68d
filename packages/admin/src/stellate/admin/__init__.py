"""stellate.admin: the auto-generated admin site (``App(plugins=[..., "admin"])``)."""

from __future__ import annotations

from stellate.admin.access import Access
from stellate.admin.log import AdminAction, AdminLogEntry
from stellate.admin.options import ModelAdmin, TabularInline, action
from stellate.admin.plugin import AdminPlugin
from stellate.admin.settings import AdminSettings
from stellate.admin.site import AdminPage, AdminSite

__all__ = [
    "Access",
    "AdminAction",
    "AdminLogEntry",
    "AdminPage",
    "AdminPlugin",
    "AdminSettings",
    "AdminSite",
    "ModelAdmin",
    "TabularInline",
    "action",
]
