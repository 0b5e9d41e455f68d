"""Field.clean: NaN and infinity in a bounded number field are validation errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stellate.orm import Field, Model, ValidationError


class Priced(Model):
    class Meta:
        table = "clean_nan_priced"

    id: int | None = Field(default=None, primary_key=True)
    price: Decimal = Field(default=Decimal("1"), ge=0, le=1000)
    weight: float = Field(default=1.0, ge=0)
    free: Decimal = Field(default=Decimal("0"))


@pytest.mark.parametrize(
    "value",
    [
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
)
def test_non_finite_decimal_in_a_range_names_the_field(value: Decimal) -> None:
    with pytest.raises(ValidationError) as info:
        Priced(price=value)
    assert set(info.value.errors) == {"price"}
    assert "must be a finite number" in info.value.errors["price"][0]
    assert "price" in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_in_a_range_names_the_field(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        Priced(weight=value)
    assert set(info.value.errors) == {"weight"}
    assert "must be a finite number" in info.value.errors["weight"][0]


def test_full_clean_reports_nan_set_after_construction() -> None:
    row = Priced()
    row.price = Decimal("NaN")
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert "must be a finite number" in info.value.errors["price"][0]


def test_finite_values_and_unbounded_fields_are_unchanged() -> None:
    assert Priced(price=Decimal("999.5"), weight=0.0).price == Decimal("999.5")
    assert Priced(free=Decimal("NaN")).free.is_nan()  # no range: PostgreSQL stores NaN
    with pytest.raises(ValidationError) as info:
        Priced(price=Decimal("1000.01"))
    assert "must be <= 1000" in info.value.errors["price"][0]
