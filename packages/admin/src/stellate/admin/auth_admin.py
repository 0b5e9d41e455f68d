"""Admin pages for stellate-auth's users, groups and permissions (opt-in).

``register_auth_models(app.admin)`` imports ``stellate.auth.models`` (which claims the
ORM class names ``User``, ``Group`` and ``Permission``, so it is never done
implicitly) and registers them. The password hash is never shown or written here:
set passwords with ``stellate changepassword`` or the password-reset flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stellate.admin.options import ModelAdmin

if TYPE_CHECKING:
    from stellate.admin.site import AdminSite

__all__ = ["GroupAdmin", "UserAdmin", "register_auth_models"]


class UserAdmin(ModelAdmin):
    list_display = ("username", "email", "is_staff", "is_superuser", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "last_login")
    search_fields = ("username", "email")
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "email", "email_verified")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")


class GroupAdmin(ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    ordering = ("name",)


def register_auth_models(site: AdminSite) -> None:
    """Register ``User``, ``Group`` and ``Permission`` of stellate-auth with ``site``."""
    from stellate.auth.models import Group, Permission, User

    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
    site.register(Permission, ModelAdmin)
