"""Data integrity under real concurrency, on a database whose transactions commit.

Every test runs on a throwaway database (``temporary_database``) with a pool of 20
connections, not in the rolled-back test transaction: concurrent tasks must really
race each other through PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stellate.orm import (
    Database,
    F,
    Field,
    Model,
    StaleObjectError,
    UniqueViolation,
    VersionedMixin,
    transaction,
)
from stellate.orm.database import activate, restore
from stellate.orm.testing import create_tables, temporary_database


class RelCounter(Model):
    class Meta:
        table = "rel_counters"

    id: int = Field(primary_key=True, auto=True)
    hits: int = Field(default=0)


class RelProduct(Model):
    class Meta:
        table = "rel_products"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(max_length=50)
    stock: int = Field(ge=0)


class RelSale(Model):
    class Meta:
        table = "rel_sales"

    id: int = Field(primary_key=True, auto=True)
    product_id: int = Field(foreign_key=RelProduct, related_name="sales")
    buyer: int = Field()


class RelMember(Model):
    class Meta:
        table = "rel_members"

    id: int = Field(primary_key=True, auto=True)
    email: str = Field(unique=True, max_length=100)
    name: str = Field(default="", max_length=100)


class RelDocument(VersionedMixin, Model):
    class Meta:
        table = "rel_documents"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(max_length=100)


MODELS = (RelCounter, RelProduct, RelSale, RelMember, RelDocument)


@pytest.fixture(scope="module")
async def committing() -> AsyncIterator[Database]:
    async with temporary_database() as scratch:
        assert scratch.url is not None
        wide = Database(scratch.url, alias="default", pool_size=20, acquire_timeout=60)
        await wide.connect()
        previous = activate({"default": wide}, testing=True)
        try:
            await create_tables(*MODELS)
            yield wide
        finally:
            restore(previous)
            await wide.close()


async def test_a_thousand_concurrent_f_increments_are_exact(committing: Database) -> None:
    counter = await RelCounter.objects.create()

    async def hit() -> None:
        await RelCounter.objects.filter(id=counter.id).update(hits=F("hits") + 1)

    await asyncio.gather(*(hit() for _ in range(1000)))
    assert (await RelCounter.objects.get(id=counter.id)).hits == 1000


async def test_fifty_orders_against_a_stock_of_ten_sell_exactly_ten(committing: Database) -> None:
    product = await RelProduct.objects.create(name="lamp", stock=10)

    async def order(buyer: int) -> bool:
        async with transaction():
            locked = await RelProduct.objects.select_for_update().get(id=product.id)
            if locked.stock == 0:
                return False
            # Read, think, write: without the row lock two orders would sell one item.
            await asyncio.sleep(0.001)
            locked.stock -= 1
            await locked.save(update_fields=["stock"])
            await RelSale.objects.create(product_id=product.id, buyer=buyer)
            return True

    results = await asyncio.gather(*(order(buyer) for buyer in range(50)))
    assert results.count(True) == 10
    assert (await RelProduct.objects.get(id=product.id)).stock == 0
    sales = await RelSale.objects.filter(product_id=product.id).all()
    assert len(sales) == 10
    assert len({sale.buyer for sale in sales}) == 10


async def test_concurrent_get_or_create_makes_one_row(committing: Database) -> None:
    results = await asyncio.gather(
        *(
            RelMember.objects.get_or_create(email="ada@example.com", defaults={"name": f"n{i}"})
            for i in range(50)
        )
    )
    assert [created for _, created in results].count(True) == 1
    assert len({member.id for member, _ in results}) == 1
    assert await RelMember.objects.filter(email="ada@example.com").count() == 1


async def test_stale_versioned_saves_are_rejected(committing: Database) -> None:
    doc = await RelDocument.objects.create(title="draft")
    first = await RelDocument.objects.get(id=doc.id)
    second = await RelDocument.objects.get(id=doc.id)
    first.title = "first"
    await first.save()
    second.title = "second"
    with pytest.raises(StaleObjectError):
        await second.save()
    stored = await RelDocument.objects.get(id=doc.id)
    assert (stored.title, stored.version) == ("first", 2)


async def test_of_twenty_concurrent_saves_from_one_version_one_wins(committing: Database) -> None:
    doc = await RelDocument.objects.create(title="draft")
    copies = await asyncio.gather(*(RelDocument.objects.get(id=doc.id) for _ in range(20)))

    async def save(index: int, copy: RelDocument) -> bool:
        copy.title = f"editor {index}"
        try:
            await copy.save()
        except StaleObjectError:
            return False
        return True

    won = await asyncio.gather(*(save(i, copy) for i, copy in enumerate(copies)))
    assert won.count(True) == 1
    stored = await RelDocument.objects.get(id=doc.id)
    assert stored.version == 2
    assert stored.title == f"editor {won.index(True)}"


async def _five_rows_then_a_taken_email() -> None:
    async with transaction():
        for index in range(5):
            await RelMember.objects.create(email=f"batch{index}@example.com")
        await RelCounter.objects.create(hits=7)
        await RelMember.objects.create(email="taken@example.com")


async def _bulk_insert_with_a_taken_email() -> None:
    async with transaction():
        await RelMember.objects.bulk_create(
            [RelMember(email=f"bulk{index}@example.com") for index in range(5)]
            + [RelMember(email="taken@example.com")]
        )


async def test_a_failing_multi_row_write_in_a_transaction_leaves_nothing(
    committing: Database,
) -> None:
    before = await RelMember.objects.count()
    await RelMember.objects.create(email="taken@example.com")
    with pytest.raises(UniqueViolation):
        await _five_rows_then_a_taken_email()
    with pytest.raises(UniqueViolation):
        await _bulk_insert_with_a_taken_email()
    assert await RelMember.objects.count() == before + 1
    assert await RelMember.objects.filter(email__startswith="batch").count() == 0
    assert await RelMember.objects.filter(email__startswith="bulk").count() == 0
    assert await RelCounter.objects.filter(hits=7).count() == 0


async def _sell_then_fail_payment(product_id: int) -> None:
    async with transaction():
        await RelProduct.objects.filter(id=product_id).update(stock=F("stock") - 1)
        await RelSale.objects.create(product_id=product_id, buyer=1)
        raise RuntimeError("payment failed")


async def test_an_exception_after_writes_rolls_every_one_back(committing: Database) -> None:
    product = await RelProduct.objects.create(name="desk", stock=3)
    with pytest.raises(RuntimeError, match="payment failed"):
        await _sell_then_fail_payment(product.id)
    assert (await RelProduct.objects.get(id=product.id)).stock == 3
    assert await RelSale.objects.filter(product_id=product.id).count() == 0
