"""The bookstore's admin: every model registered, books with reviews inline.

``create_app`` enables the ``admin`` plugin and calls :func:`register_admin`; the site
is then at ``/admin``. In development the demo account (staff, not superuser) is
given every bookstore permission by :func:`grant_demo_permissions`, so its login
opens the whole admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from examples.bookstore.models import Author, Book, Category, Publisher, Review, Tag
from stellate.admin import AdminSite, ModelAdmin, TabularInline, action

if TYPE_CHECKING:
    from stellate.auth import Auth
    from stellate.core import Request
    from stellate.orm import QuerySet

#: The group the demo account joins in development.
DEMO_GROUP = "bookstore-editors"


class ReviewInline(TabularInline):
    model = Review
    fields = ("user_id", "rating", "body")
    extra = 1


@action(description="Reset rating to zero")
async def reset_rating(model_admin: ModelAdmin, request: Request, queryset: QuerySet[Any]) -> str:
    changed = await queryset.update(rating=0.0, review_count=0)
    return f"Rating reset on {changed} book(s)"


class BookAdmin(ModelAdmin):
    list_display = ("title", "author_id", "publisher_id", "price", "rating", "created_at")
    list_filter = ("category_id", "publisher_id", "created_at")
    search_fields = ("title", "isbn", "author__name")
    ordering = ("title",)
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("title", "isbn", "author_id", "publisher_id", "category_id", "tags")}),
        ("Sales", {"fields": ("price", "pages", "rating", "review_count", "created_at")}),
    )
    readonly_fields = ("rating", "review_count", "created_at")
    inlines = (ReviewInline,)
    actions = (reset_rating,)
    autocomplete_fields = ("author_id",)


class AuthorAdmin(ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    ordering = ("name",)


class PublisherAdmin(ModelAdmin):
    list_display = ("name", "country")
    search_fields = ("name", "country")
    ordering = ("name",)


class ReviewAdmin(ModelAdmin):
    list_display = ("book_id", "user_id", "rating", "created_at")
    list_filter = ("book_id", "created_at")
    search_fields = ("body", "book__title")


def register_admin(site: AdminSite) -> None:
    """Register the bookstore's models with ``site`` (``app.admin``)."""
    site.register(Publisher, PublisherAdmin)
    site.register(Author, AuthorAdmin)
    site.register(Category, ModelAdmin)
    site.register(Tag, ModelAdmin)
    site.register(Book, BookAdmin)
    site.register(Review, ReviewAdmin)


async def grant_demo_permissions(site: AdminSite, auth: Auth, user_id: int) -> None:
    """Give ``user_id`` every permission of the registered models (idempotent)."""
    for model_admin in site.model_admins:
        for verb in ("view", "add", "change", "delete"):
            await auth.users.grant(model_admin.permission(verb), group=DEMO_GROUP)
    await auth.users.add_to_group(user_id, DEMO_GROUP)
