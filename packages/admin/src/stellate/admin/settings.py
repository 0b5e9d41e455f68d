"""Settings of the ``admin`` plugin, read from ``STELLATE_ADMIN_*`` variables."""

from __future__ import annotations

import msgspec

__all__ = ["AdminSettings"]


class AdminSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of stellate-admin (environment prefix ``STELLATE_ADMIN_``).

    Attributes:
        prefix: where the admin is served.
        title: the site title in the header and page titles.
        template_dirs: folders searched before the built-in templates (override
            ``admin/base.html`` or ``admin/<app>/<model>/change_form.html`` there).
    """

    prefix: str = "/admin"
    title: str = "Stellate admin"
    template_dirs: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.rstrip("/") == "":
            raise ValueError(
                f"STELLATE_ADMIN_PREFIX `{self.prefix}` must be a path such as `/admin` "
                "(not `/` or empty)"
            )
