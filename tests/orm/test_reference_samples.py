"""The ORM samples of the reference guides, run with only their imports changed.

Sources: ``Models & Fields Guide`` (001) and the ORM parts of ``Patterns & Best
Practices`` (000). ``hyperdjango.models`` / ``hyperdjango.expressions`` become
``stellate.orm``. Each sample is pasted as written inside a test; what a sample leaves
implicit (a model it references, rows to read) is set up around it and marked
"setup". ``hyperdjango.signals`` / ``hyperdjango.mixins`` become
``stellate.orm.signals`` / ``stellate.orm.mixins``. Samples of features not built
yet (file/vector fields, STI, CTEs, full-text search, ViewSets) are not here.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

import pytest

from stellate.orm import (
    Exists,
    F,
    Field,
    ManyToManyField,
    Model,
    OneToOneField,
    OuterRef,
    Q,
)
from stellate.orm.mixins import (
    OwnershipMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionedMixin,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.signals import post_delete, post_save, pre_save
from stellate.orm.testing import create_tables


async def test_defining_models_and_field_options(db: Any) -> None:
    class Product(Model):
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        sku: str = Field(unique=True, index=True)
        price: float = Field(default=0.0)
        stock: int = Field(default=0)
        description: str = Field(default="")
        is_active: bool = Field(default=True)
        weight_kg: float | None = Field(default=None)
        created_at: datetime | None = Field(default=None)
        updated_at: datetime | None = Field(default=None)

    class Options(Model):  # setup: the "Field Options" lines inside a model
        class Meta:
            table = "options"

        id: int = Field(primary_key=True, auto=True)  # Primary key with auto-increment
        email: str = Field(unique=True)  # UNIQUE constraint
        slug: str = Field(unique=True, index=True)  # UNIQUE + B-tree index
        name: str = Field()  # Required field, no default
        bio: str = Field(default="")  # Default value
        score: int = Field(default=0, ge=0, le=100)  # With validation constraints
        price: float = Field(ge=0.0)  # Non-negative
        status: str = Field(default="draft")  # String with default
        archived_at: datetime | None = Field(default=None)  # Nullable

    await create_tables(Product, Options)
    # Create
    product = await Product.objects.create(name="Widget", sku="WDG-001", price=29.99)

    # Save (INSERT or UPDATE depending on PK)
    product.price = 34.99
    await product.save()

    # Delete
    await product.delete()

    assert await Product.objects.count() == 0
    with pytest.raises(Exception, match="score"):
        Options(email="a@b", slug="s", name="n", price=1.0, score=101)


async def test_foreign_keys_and_select_related(db: Any) -> None:
    class Customer(Model):  # setup
        class Meta:
            table = "customers"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class Product(Model):  # setup
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class Order(Model):
        class Meta:
            table = "orders"

        id: int = Field(primary_key=True, auto=True)
        customer_id: int = Field(foreign_key=Customer)
        product_id: int = Field(foreign_key=Product)
        quantity: int = Field(default=1)
        total: float = Field(default=0.0)
        created_at: datetime | None = Field(default=None)

    await create_tables(Customer, Product, Order)
    customer = await Customer.objects.create(name="Cy")
    item = await Product.objects.create(name="Lamp")
    await Order.objects.create(customer_id=customer.id, product_id=item.id, total=9.5)
    printed = []

    orders = await Order.objects.select_related("customer", "product").all()
    for order in orders:
        printed.append((order.customer.name, order.product.name, order.total))

    assert printed == [("Cy", "Lamp", 9.5)]


async def test_nested_foreign_keys(db: Any) -> None:
    class Publisher(Model):  # setup
        class Meta:
            table = "publishers"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class Author(Model):  # setup
        class Meta:
            table = "authors"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        publisher_id: int = Field(foreign_key=Publisher)

    class Book(Model):  # setup
        class Meta:
            table = "books"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        author_id: int = Field(foreign_key=Author)

    await create_tables(Publisher, Author, Book)
    press = await Publisher.objects.create(name="Press")
    ann = await Author.objects.create(name="Ann", publisher_id=press.id)
    await Book.objects.create(title="T", author_id=ann.id)
    printed = []

    # Book -> Author -> Publisher
    books = await Book.objects.select_related("author__publisher").all()
    for book in books:
        printed.append((book.title, book.author.name, book.author.publisher.name))

    assert printed == [("T", "Ann", "Press")]


async def test_many_to_many(db: Any) -> None:
    class Article(Model):
        class Meta:
            table = "articles"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        tags: ClassVar = ManyToManyField("tags")

    class Tag(Model):
        class Meta:
            table = "tags"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field(unique=True)

    await create_tables(Tag, Article)
    assert Article.tags.table == "articles_tags"
    assert (Article.tags.source_column, Article.tags.target_column) == ("article_id", "tag_id")
    first = await Article.objects.create(title="First")
    await Article.objects.create(title="Second")
    python = await Tag.objects.create(name="python")
    web = await Tag.objects.create(name="web")
    await Article.tags.add(first, python, web)
    printed = []

    # Prefetch M2M in batch (1 extra query total, not N+1)
    articles = await Article.objects.prefetch_related("tags").all()
    for article in articles:
        printed.append((article.title, [t.name for t in article.tags]))

    assert sorted(printed) == [("First", ["python", "web"]), ("Second", [])]
    await Article.tags.remove(first, web)
    assert [t.name for t in await first.fetch("tags")] == ["python"]


async def test_one_to_one_and_abstract_proxy_multilevel(db: Any) -> None:
    class User(Model):  # setup
        class Meta:
            table = "users"

        id: int = Field(primary_key=True, auto=True)
        username: str = Field()

    class UserProfile(Model):
        class Meta:
            table = "user_profiles"

        id: int = Field(primary_key=True, auto=True)
        user_id: int = Field(foreign_key=User, unique=True)
        avatar_url: str = Field(default="")
        timezone: str = Field(default="UTC")
        theme: str = Field(default="light")

    class Author(Model):  # setup
        class Meta:
            table = "authors"

        id: int = Field(primary_key=True, auto=True)

    class BaseContent(Model):
        class Meta:
            abstract = True

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        slug: str = Field(unique=True, index=True)
        created_at: datetime | None = Field(default=None)
        updated_at: datetime | None = Field(default=None)

    class BlogPost(BaseContent):
        class Meta:
            table = "blog_posts"

        body: str = Field(default="")
        author_id: int = Field(foreign_key=Author)

    class NewsArticle(BaseContent):
        class Meta:
            table = "news_articles"

        summary: str = Field(default="")
        source_url: str = Field(default="")

    class PublishedPost(BlogPost):
        class Meta:
            proxy = True
            table = "blog_posts"

        # Custom manager that only returns published posts
        @classmethod
        def get_queryset(cls):
            return cls.objects.filter(published=True)

    class TimestampedModel(Model):
        class Meta:
            abstract = True

        created_at: datetime | None = Field(default=None)
        updated_at: datetime | None = Field(default=None)

    class SluggedModel(TimestampedModel):
        class Meta:
            abstract = True

        slug: str = Field(unique=True, index=True)

    class Page(SluggedModel):
        class Meta:
            table = "pages"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        body: str = Field(default="")

    await create_tables(User, UserProfile, Author, BlogPost, NewsArticle, Page)
    assert "UNIQUE" in create_table_sql(UserProfile)[0]
    assert set(BaseContent._meta.fields) <= set(BlogPost._meta.fields)
    assert set(BaseContent._meta.fields) <= set(NewsArticle._meta.fields)
    assert {"created_at", "updated_at", "slug"} <= set(Page._meta.fields)
    author = await Author.objects.create()
    post = await BlogPost.objects.create(title="t", slug="t", author_id=author.id)
    assert (await PublishedPost.objects.get(id=post.id)).title == "t"
    assert create_table_sql(PublishedPost) == []


async def test_meta_options_and_model_methods(db: Any) -> None:
    class Product(Model):
        class Meta:
            table = "products"  # Required: PostgreSQL table name
            abstract = False  # True = no table, share fields only
            proxy = False  # True = same table, different Python class
            unlogged = False  # True = UNLOGGED table (no WAL, fast, lost on crash)
            cache_ttl = 60  # Query cache TTL in seconds (None = no cache)
            database = "default"  # Database alias for multi-db routing

        id: int = Field(primary_key=True, auto=True)  # setup
        name: str = Field(default="")  # setup

    class Invoice(Model):
        class Meta:
            table = "invoices"

        id: int = Field(primary_key=True, auto=True)
        subtotal: float = Field(default=0.0)
        tax_rate: float = Field(default=0.0)
        discount: float = Field(default=0.0)
        status: str = Field(default="draft")

        @property
        def tax_amount(self) -> float:
            return self.subtotal * self.tax_rate

        @property
        def total(self) -> float:
            return self.subtotal + self.tax_amount - self.discount

        @property
        def is_paid(self) -> bool:
            return self.status == "paid"

        async def mark_paid(self):
            self.status = "paid"
            await self.save()

    await create_tables(Product, Invoice)
    invoice = await Invoice.objects.create(subtotal=100.0, tax_rate=0.15, discount=5.0)
    assert invoice.total == pytest.approx(110.0)
    await invoice.mark_paid()
    product = await Product.objects.create(name="p")

    # Refresh from database
    await product.refresh_from_db()

    assert (await Invoice.objects.get(id=invoice.id)).is_paid


async def test_does_not_exist_and_multiple(db: Any) -> None:
    class User(Model):  # setup
        class Meta:
            table = "users"

        id: int = Field(primary_key=True, auto=True)
        is_active: bool = Field(default=True)

    await create_tables(User)
    await User.objects.create()
    await User.objects.create()
    printed = []

    try:
        user = await User.objects.get(id=999)
    except User.DoesNotExist:
        printed.append("No user with that ID")

    try:
        user = await User.objects.get(is_active=True)  # noqa: F841
    except User.MultipleObjectsReturned:
        printed.append("Multiple active users found")

    assert printed == ["No user with that ID", "Multiple active users found"]


async def test_custom_queryset_helpers(db: Any) -> None:
    class Product(Model):  # setup
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        stock: int = Field(default=0)
        is_active: bool = Field(default=True)
        sale_price: float | None = Field(default=None)
        category_id: int = Field(default=1)
        created_at: datetime | None = Field(default=None)

    class ActiveProductQuerySet:
        """Custom queryset methods for products."""

        @staticmethod
        def in_stock(qs):
            return qs.filter(stock__gt=0, is_active=True)

        @staticmethod
        def on_sale(qs):
            return qs.filter(sale_price__isnull=False, sale_price__gt=0)

        @staticmethod
        def by_category(qs, category_id: int):
            return qs.filter(category_id=category_id)

    await create_tables(Product)
    await Product.objects.create(stock=3, created_at=datetime(2024, 1, 1))
    await Product.objects.create(stock=0, sale_price=2.0)

    # Usage:
    products = await ActiveProductQuerySet.in_stock(Product.objects).order_by("-created_at").all()

    assert len(products) == 1
    assert len(await ActiveProductQuerySet.on_sale(Product.objects).all()) == 1
    assert len(await ActiveProductQuerySet.by_category(Product.objects, 1).all()) == 2


async def test_custom_fields_json_array_money(db: Any) -> None:
    class JSONField(Field):
        """Store arbitrary JSON-serializable data in a JSONB column."""

        def __init__(self, *, default=None, default_factory=None, **kwargs):
            if default_factory is not None:
                kwargs["default"] = default_factory
            elif default is not None:
                kwargs["default"] = default
            super().__init__(**kwargs)
            self._default_factory = default_factory

        def db_type(self) -> str:
            """PostgreSQL column type."""
            return "JSONB"

        def to_db_value(self, value):
            """Serialize Python object to JSON string for storage."""
            if value is None:
                return None
            return json.dumps(value)

        def from_db_value(self, value):
            """Deserialize JSONB from database to Python object."""
            if value is None:
                return self._default_factory() if self._default_factory else None
            if isinstance(value, str):
                return json.loads(value)
            return value  # pg.zig returns dicts directly for JSONB

    class ArrayField(Field):
        """Store a list of values in a PostgreSQL array column."""

        def __init__(self, *, base_type: str = "TEXT", **kwargs):
            super().__init__(**kwargs)
            self.base_type = base_type

        def db_type(self) -> str:
            return f"{self.base_type}[]"

        def to_db_value(self, value):
            if value is None:
                return None
            return list(value)

        def from_db_value(self, value):
            if value is None:
                return []
            return list(value)

    class MoneyField(Field):
        """Store monetary values as NUMERIC(12, 2) with Decimal conversion."""

        def __init__(self, *, precision: int = 12, scale: int = 2, **kwargs):
            super().__init__(**kwargs)
            self.precision = precision
            self.scale = scale

        def db_type(self) -> str:
            return f"NUMERIC({self.precision}, {self.scale})"

        def to_db_value(self, value):
            if value is None:
                return None
            return str(Decimal(str(value)).quantize(Decimal(f"0.{'0' * self.scale}")))

        def from_db_value(self, value):
            if value is None:
                return Decimal("0.00")
            return Decimal(str(value))

    class Product(Model):
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        attributes: dict = JSONField(default_factory=dict)
        tags: list = JSONField(default_factory=list)

    class Article(Model):
        class Meta:
            table = "articles"

        id: int = Field(primary_key=True, auto=True)
        categories: list[str] = ArrayField(base_type="TEXT")
        scores: list[int] = ArrayField(base_type="INTEGER")

    class Invoice(Model):
        class Meta:
            table = "invoices"

        id: int = Field(primary_key=True, auto=True)
        subtotal: Decimal = MoneyField()
        tax: Decimal = MoneyField()

    await create_tables(Product, Article, Invoice)
    assert '"attributes" JSONB NOT NULL' in create_table_sql(Product)[0]
    assert '"categories" TEXT[] NOT NULL' in create_table_sql(Article)[0]
    assert '"subtotal" NUMERIC(12, 2) NOT NULL' in create_table_sql(Invoice)[0]

    # Create with nested data
    product = await Product.objects.create(
        name="Laptop",
        attributes={"cpu": "M4", "ram_gb": 32, "ports": ["usb-c", "hdmi"]},
        tags=["electronics", "computers", "sale"],
    )

    # Query with JSONB operators (via raw SQL or lookups)
    rows = await Product.objects.filter(attributes__contains={"cpu": "M4"}).all()

    assert [r.id for r in rows] == [product.id]
    assert rows[0].attributes["ports"] == ["usb-c", "hdmi"]
    assert rows[0].tags == ["electronics", "computers", "sale"]
    article = await Article.objects.create(categories=["a", "b"], scores=[1, 2])
    loaded = await Article.objects.get(id=article.id)
    assert (loaded.categories, loaded.scores) == (["a", "b"], [1, 2])
    assert await Article.objects.filter(categories__contains=["b"]).count() == 1
    await Article.objects.bulk_create([Article(categories=["x"], scores=[3])])
    invoice = await Invoice.objects.create(subtotal=Decimal("10.006"), tax=1.5)
    fresh = await Invoice.objects.get(id=invoice.id)
    assert (fresh.subtotal, fresh.tax) == (Decimal("10.01"), Decimal("1.50"))


async def test_enum_fields(db: Any) -> None:
    class TaskStatus(Enum):
        TODO = "todo"
        IN_PROGRESS = "in_progress"
        DONE = "done"

    class Priority(Enum):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        CRITICAL = "critical"

    class Task(Model):
        class Meta:
            table = "tasks"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        status: TaskStatus = Field(default=TaskStatus.TODO)
        priority: Priority = Field(default=Priority.NORMAL)

    await create_tables(Task)
    task = await Task.objects.create(title="t", priority=Priority.HIGH)
    loaded = await Task.objects.get(id=task.id)
    assert (loaded.status, loaded.priority) == (TaskStatus.TODO, Priority.HIGH)
    with pytest.raises(ValueError, match="`todo`, `in_progress`, `done`"):
        Task(title="x", status="later")


async def test_exists_f_update_returning(db: Any) -> None:
    class User(Model):  # setup
        class Meta:
            table = "users"

        id: int = Field(primary_key=True, auto=True)
        username: str = Field()

    class Post(Model):  # setup
        class Meta:
            table = "posts"

        id: int = Field(primary_key=True, auto=True)
        author_id: int = Field(foreign_key=User)
        score: int = Field(default=0)
        upvotes: int = Field(default=0)

    class Category(Model):  # setup
        class Meta:
            table = "categories"

        id: int = Field(primary_key=True, auto=True)
        note_count: int = Field(default=0)

    await create_tables(User, Post, Category)
    username = "ann"
    user = await User.objects.create(username=username)
    post_id = (await Post.objects.create(author_id=user.id, score=41)).id
    cat_id = (await Category.objects.create(note_count=3)).id
    delta = 2

    assert await User.objects.filter(username=username).exists()

    # Atomic increment — safe under concurrency
    await Post.objects.filter(id=post_id).update(score=F("score") + 1)

    # Multiple F expressions in one call
    await Post.objects.filter(id=post_id).update(
        score=F("score") + delta,
        upvotes=F("upvotes") + 1,
    )

    # Atomic decrement with F expression
    await Category.objects.filter(id=cat_id).update(note_count=F("note_count") - 1)

    rows = await Post.objects.filter(id=post_id).update(
        score=F("score") + 1,
        returning=["id", "score", "author_id"],
    )

    assert rows == [{"id": post_id, "score": 45, "author_id": user.id}]
    assert (await Category.objects.get(id=cat_id)).note_count == 2


async def test_to_sql_with_exists_outer_ref(db: Any) -> None:
    class Owner(Model):  # setup
        class Meta:
            table = "hn_users"

        id: int = Field(primary_key=True, auto=True)

    class Forum(Model):  # setup
        class Meta:
            table = "hn_forums"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()
        is_public: bool = Field(default=True)
        is_active: bool = Field(default=True)
        is_deleted: bool = Field(default=False)
        owner_id: int = Field(foreign_key=Owner)

    class StatusEvent(Model):  # setup
        class Meta:
            table = "hyper_status_events"

        id: int = Field(primary_key=True, auto=True)
        entity_type: str = Field(default="forum")
        entity_id: int = Field()
        status: str = Field(default="hidden")
        ended_at: datetime | None = Field(default=None)

    qs = (
        Forum.objects.filter(is_public=True)
        .exclude(Exists(StatusEvent.objects.filter(entity_id=OuterRef("id"))))
        .select_related("owner_id")
        .order_by("name")
    )

    text = str(qs.to_sql())
    assert text.startswith("-- SELECT (1 params)")
    assert "--   $1 = True" in text
    assert "LEFT JOIN" in text
    assert "NOT (EXISTS (SELECT 1 FROM" in text
    assert 'ORDER BY "hn_forums"."name" ASC' in text
    assert "$1" not in qs.to_sql().inlined()

    update = qs.filter(id=42).to_sql(
        kind="update",
        update_values={"is_active": False},
        update_returning=["id", "name"],
    )
    delete = qs.filter(is_deleted=True).to_sql(kind="delete")

    assert update.sql.startswith('UPDATE "hn_forums" SET "is_active" = $1 WHERE')
    assert update.sql.endswith('RETURNING "id", "name"')
    assert delete.sql.startswith('DELETE FROM "hn_forums" WHERE')

    await create_tables(Owner, Forum, StatusEvent)
    owner = await Owner.objects.create()
    shown = await Forum.objects.create(name="shown", owner_id=owner.id)
    hidden = await Forum.objects.create(name="hidden", owner_id=owner.id)
    await StatusEvent.objects.create(entity_id=hidden.id)

    visible = (
        await Forum.objects.filter(is_public=True)
        .exclude(
            Exists(
                StatusEvent.objects.filter(
                    entity_type="forum",
                    entity_id=OuterRef("id"),  # ← hn_forums.id
                    status="hidden",
                    ended_at=None,
                )
            )
        )
        .all()
    )

    assert [f.id for f in visible] == [shown.id]
    forums = await qs.all()
    assert forums[0].owner_id == owner.id
    assert forums[0].owner_id.id == owner.id


async def test_q_objects_and_forward_references(db: Any) -> None:
    class User(Model):
        class Meta:
            table = "users"

        id: int = Field(primary_key=True, auto=True)
        username: str = Field()
        role: str = Field(default="user")  # setup
        is_active: bool = Field(default=True)  # setup
        is_banned: bool = Field(default=False)  # setup
        status: str = Field(default="ok")  # setup

    class Post(Model):
        class Meta:
            table = "posts"

        id: int = Field(primary_key=True, auto=True)
        author_id: int = Field(foreign_key=User)  # Class ref — resolved at metaclass time
        title: str = Field()
        category: str = Field(default="")  # setup
        published: bool = Field(default=False)  # setup

    class Comment(Model):
        class Meta:
            table = "comments"

        id: int = Field(primary_key=True, auto=True)
        post_id: int = Field(foreign_key=Post)
        parent_id: int | None = Field(default=None, foreign_key="Comment")  # Self-ref

    class UserProfile(Model):
        class Meta:
            table = "profiles"

        id: int = Field(primary_key=True, auto=True)
        user_id: int = OneToOneField(User, related_name="profile")
        bio: str = Field(default="")

    await create_tables(User, Post, Comment, UserProfile)
    admin = await User.objects.create(username="a", role="admin")
    await User.objects.create(username="m", role="moderator", is_banned=True)
    await User.objects.create(username="b", status="banned", is_active=False)
    await Post.objects.create(
        author_id=admin.id, title="A web guide", category="web", published=True
    )
    await Post.objects.create(author_id=admin.id, title="python tutorial", category="python")
    first = await Comment.objects.create(post_id=1)
    await Comment.objects.create(post_id=1, parent_id=first.id)
    await UserProfile.objects.create(user_id=admin.id, bio="hi")

    # OR: match either condition
    users = await User.objects.filter(Q(role="admin") | Q(role="moderator")).all()
    assert len(users) == 2

    # AND with NOT: active non-banned users
    users = await User.objects.filter(Q(is_active=True) & ~Q(is_banned=True)).all()
    assert [u.username for u in users] == ["a"]

    # Nested: (OR) AND single
    posts = await Post.objects.filter(
        (Q(category="python") | Q(category="web")) & Q(published=True)
    ).all()
    assert len(posts) == 1

    # Mixed: Q + kwargs (kwargs are ANDed)
    posts = await Post.objects.filter(
        Q(title__icontains="guide") | Q(title__icontains="tutorial"), published=True
    ).all()
    assert len(posts) == 1

    # Q in exclude()
    active = await User.objects.exclude(Q(status="banned") | Q(status="suspended")).all()
    assert len(active) == 2

    assert await Post.objects.filter(Q(author__username="a")).count() == 2
    replies = await Comment.objects.filter(parent_id__isnull=False).select_related("parent").all()
    assert replies[0].parent.id == first.id
    users_with_profiles = await User.objects.prefetch_related("profile").order_by("id").all()
    assert users_with_profiles[0].profile.bio == "hi"
    assert users_with_profiles[1].profile is None


async def test_select_related_fk_field_spelling(db: Any) -> None:
    class Author(Model):  # setup
        class Meta:
            table = "authors"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class Book(Model):  # setup
        class Meta:
            table = "books"

        id: int = Field(primary_key=True, auto=True)
        author_id: int = Field(foreign_key=Author)

    await create_tables(Author, Book)
    author = await Author.objects.create(name="Ann")
    await Book.objects.create(author_id=author.id)
    printed = []

    # GOOD: single JOIN query
    books = await Book.objects.select_related("author_id").all()
    for book in books:
        printed.append(book.author_id.name)  # Already loaded, no extra query

    assert printed == ["Ann"]
    assert books[0].author_id == author.id


async def test_signals(db: Any) -> None:
    notified: list[int] = []  # setup
    deleted_files: list[str] = []  # setup

    async def send_order_notification(order: Any) -> None:  # setup
        notified.append(order.id)

    class MemoryStorage:  # setup
        async def delete(self, name: str) -> None:
            deleted_files.append(name)

    storage = MemoryStorage()  # setup

    class Order(Model):  # setup
        class Meta:
            table = "orders"

        id: int = Field(primary_key=True, auto=True)
        total: float = Field(default=0.0)
        updated_at: datetime | None = Field(default=None)

    class Product(Model):  # setup
        class Meta:
            table = "products"

        id: int = Field(primary_key=True, auto=True)
        image: str = Field(default="")

    @pre_save.connect
    async def set_timestamps(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
        """Auto-set updated_at on every save."""
        from datetime import UTC, datetime

        instance.updated_at = datetime.now(UTC)

    @post_save.connect
    async def notify_new_order(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        """Send notification when a new order is created."""
        if sender.__name__ == "Order" and created:
            await send_order_notification(instance)

    @post_delete.connect
    async def cleanup_files(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
        """Clean up uploaded files when a product is deleted."""
        if sender.__name__ == "Product" and instance.image:
            await storage.delete(instance.image)

    try:  # setup: exercise the receivers, then disconnect them
        await create_tables(Order, Product)
        order = await Order.objects.create(total=9.5)
        assert order.updated_at is not None
        first = order.updated_at
        await order.save()
        assert order.updated_at > first
        assert (await Order.objects.get(pk=order.id)).updated_at == order.updated_at
        assert notified == [order.id]  # created only, not on the second save
        product = await Product.objects.create(image="products/p.png")
        await product.delete()
        assert deleted_files == ["products/p.png"]
    finally:
        assert pre_save.disconnect(set_timestamps)
        assert post_save.disconnect(notify_new_order)
        assert post_delete.disconnect(cleanup_files)


async def test_mixins(db: Any) -> None:
    assert OwnershipMixin.__name__ == "OwnershipMixin"  # imported by the sample

    class Document(TimestampMixin, SoftDeleteMixin, VersionedMixin, Model):
        class Meta:
            table = "documents"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        body: str = Field(default="")

    class Task(SoftDeleteMixin, Model):
        class Meta:
            table = "tasks"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()
        completed: bool = Field(default=False)

    await create_tables(Document, Task)
    document = await Document.objects.create(title="Spec")  # setup
    assert document.created_at is not None
    assert document.version == 1
    await document.save()
    assert document.version == 2
    task = await Task.objects.create(title="Ship it")  # setup

    # Soft delete (sets deleted_at, not actual DELETE)
    await task.delete()

    # Query automatically excludes soft-deleted rows
    active_tasks = await Task.objects.all()

    # Include soft-deleted rows
    all_tasks = await Task.objects.unscoped().all()

    # Restore a soft-deleted record
    await task.restore()

    assert active_tasks == []
    assert [t.id for t in all_tasks] == [task.id]
    assert [t.id for t in await Task.objects.all()] == [task.id]
