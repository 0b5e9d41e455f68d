"""Models guide: abstract bases, proxies, single-table inheritance, materialized views."""

from __future__ import annotations

from stellate.orm import Field, Model


# --8<-- [start:models]
class Stamped(Model):  # abstract: gives its fields to each subclass, has no table
    class Meta:
        abstract = True

    note: str = Field(default="")


class Post(Stamped):
    class Meta:
        table = "inherit_posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    published: bool = Field(default=False)


class PublishedPost(Post):  # proxy: same table, own behaviour and default filter
    class Meta:
        proxy = True
        default_filter = {"published": True}

    def headline(self) -> str:
        return self.title.upper()


class Vehicle(Model):  # single-table inheritance root
    class Meta:
        table = "inherit_vehicles"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    type: str = Field(default="vehicle")  # the discriminator


class Car(Vehicle):
    class Meta:
        sti = True
        sti_type = "car"

    doors: int = Field(default=4)  # a nullable column of inherit_vehicles


class VehicleCount(Model):  # a materialized view, refreshed on demand
    class Meta:
        table = "inherit_vehicle_counts"
        materialized_view = (
            "SELECT min(id) AS id, type, count(*)::int AS total FROM inherit_vehicles GROUP BY type"
        )

    id: int = Field(primary_key=True)
    type: str = Field()
    total: int = Field()


# --8<-- [end:models]


async def main() -> None:
    # --8<-- [start:use]
    await Post.objects.create(title="Draft")
    await Post.objects.create(title="Hello", published=True)
    assert [p.headline() for p in await PublishedPost.objects.all()] == ["HELLO"]

    await Car.objects.create(name="Golf")
    await Vehicle.objects.create(name="Cart")
    assert [car.name for car in await Car.objects.all()] == ["Golf"]  # WHERE type = 'car'
    vehicles = await Vehicle.objects.order_by("id").all()
    assert [type(v).__name__ for v in vehicles] == ["Car", "Vehicle"]  # a class per row

    await VehicleCount.refresh()
    counts = {c.type: c.total for c in await VehicleCount.objects.all()}
    assert counts == {"car": 1, "vehicle": 1}
    # --8<-- [end:use]
