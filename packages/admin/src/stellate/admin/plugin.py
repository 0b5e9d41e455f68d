"""The `admin` plugin: mounts the admin site of an app at ``/admin``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from stellate.admin.log import ensure_log_table
from stellate.admin.settings import AdminSettings
from stellate.admin.site import AdminSite
from stellate.admin.views import add_admin_routes
from stellate.core import Plugin

if TYPE_CHECKING:
    from stellate.core import App

__all__ = ["AdminPlugin"]


class AdminPlugin(Plugin):
    """Enables stellate-admin in an app.

    ``setup`` adds ``app.admin`` (an :class:`~stellate.admin.site.AdminSite` of this app
    only), the admin routes under ``STELLATE_ADMIN_PREFIX`` (``/admin``) and a startup
    hook creating the admin log table. Register models with
    ``app.admin.register(Model)``.
    """

    name: ClassVar[str] = "admin"
    requires: ClassVar[tuple[str, ...]] = ("orm", "auth")
    settings: ClassVar[type[msgspec.Struct] | None] = AdminSettings
    extensions: ClassVar[tuple[str, ...]] = ("admin",)

    def setup(self, app: App) -> None:
        config = self.config if isinstance(self.config, AdminSettings) else AdminSettings()
        site = AdminSite(
            prefix=config.prefix,
            title=config.title,
            template_dirs=config.template_dirs,
            reload_templates=app.settings.debug,
        )
        app.add_extension("admin", site)
        add_admin_routes(app, site)
        app.on_startup(site.check)
        app.on_startup(ensure_log_table)
