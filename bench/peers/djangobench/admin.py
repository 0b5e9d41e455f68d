"""Django's admin for the change list scenario: books as in ``examples/bookstore/admin.py``.

The same columns, filters, search, ordering and page size as Stellate's ``BookAdmin``,
plus ``list_select_related`` for the two foreign-key columns: what a competent Django
user does so the 50 rows cost one query instead of 1 + 2 x 50.
"""

from __future__ import annotations

from django.contrib import admin

from djangobench.models import Book


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "author", "publisher", "price", "rating", "created_at")
    list_filter = ("category_id", "publisher", "created_at")
    search_fields = ("title", "isbn", "author__name")
    ordering = ("title",)
    list_per_page = 50
    list_select_related = ("author", "publisher")
