"""Django models over the harness's bookstore tables (``managed = False``: never altered)."""

from __future__ import annotations

from django.db import models


class Publisher(models.Model):
    name = models.TextField()
    country = models.TextField()

    class Meta:
        managed = False
        db_table = "bookstore_publishers"

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    name = models.TextField()
    bio = models.TextField(blank=True, default="")

    class Meta:
        managed = False
        db_table = "bookstore_authors"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.TextField()

    class Meta:
        managed = False
        db_table = "bookstore_tags"
        ordering = ("id",)


class Book(models.Model):
    title = models.TextField()
    isbn = models.TextField()
    price = models.DecimalField(max_digits=12, decimal_places=2)
    pages = models.IntegerField()
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="books")
    category_id = models.IntegerField(null=True)
    rating = models.FloatField()
    review_count = models.IntegerField()
    created_at = models.DateTimeField()
    tags = models.ManyToManyField(Tag, db_table="bookstore_books_tags", related_name="books")

    class Meta:
        managed = False
        db_table = "bookstore_books"
