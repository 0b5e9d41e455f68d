"""ModelSerializer on its own: options, output, validation passes and config errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from rest_models import Account, Author, Book, Format

from stellate.orm import FieldError
from stellate.rest import ModelSerializer, ParseError, ValidationError, model_serializer_for


class AccountSerializer(ModelSerializer[Account]):
    class Meta:
        model = Account
        fields = ("id", "email", "password", "is_active")
        read_only_fields = ("id",)
        write_only_fields = ("password",)

    async def validate_email(self, value: str) -> str:
        if "@" not in value:
            raise ValueError("must contain `@`")
        return value.lower()


class SlimBookSerializer(ModelSerializer[Book]):
    class Meta:
        model = Book
        exclude = ("created_at", "owner_id", "isbn")


def book(**values: Any) -> Book:
    base: dict[str, Any] = {
        "id": 1,
        "title": "T",
        "isbn": "9780000000000",
        "price": Decimal("2.00"),
        "author_id": 3,
    }
    base.update(values)
    return Book.from_row(base | {"pages": 10, "format": "ebook", "owner_id": None})


async def test_write_only_fields_are_accepted_and_never_output() -> None:
    serializer = AccountSerializer(data=b'{"email": "ANN@X.IO", "password": "pw"}')
    assert await serializer.is_valid()
    assert serializer.validated_data == {"email": "ann@x.io", "password": "pw"}
    account = Account.from_row({"id": 4, "email": "a@x.io", "password": "h", "is_active": True})
    assert AccountSerializer(account).data == {"id": 4, "email": "a@x.io", "is_active": True}


async def test_async_field_hook_errors_join_type_errors() -> None:
    serializer = AccountSerializer(data=b'{"email": "nope", "is_active": "yes"}')
    assert not await serializer.is_valid(raise_exception=False)
    with pytest.raises(ValidationError) as caught:
        await serializer.is_valid()
    assert caught.value.errors == {
        "is_active": ["Expected `bool`, got `str`"],
        "email": ["must contain `@`"],
    }


async def test_exclude_and_output_of_many() -> None:
    rows = [book(id=1), book(id=2, title="U")]
    data = SlimBookSerializer(rows, many=True).data
    assert [d["id"] for d in data] == [1, 2]
    assert set(data[0]) == {"id", "title", "price", "pages", "format", "author_id"}
    assert data[0]["format"] is Format.EBOOK
    assert msgspec.json.encode(data[0]["format"]) == b'"ebook"'


async def test_decimal_bounds_are_checked_after_decoding() -> None:
    serializer = SlimBookSerializer(
        data={"title": "T", "price": "-0.01", "author_id": 1}, partial=False
    )
    with pytest.raises(ValidationError) as caught:
        await serializer.is_valid()
    assert caught.value.errors == {"price": ["must be >= 0 (got `-0.01`)"]}


async def test_partial_accepts_any_subset() -> None:
    serializer = SlimBookSerializer(data=b'{"pages": 12}', partial=True)
    await serializer.is_valid()
    assert serializer.validated_data == {"pages": 12}
    empty = SlimBookSerializer(data=b"{}", partial=True)
    await empty.is_valid()
    assert empty.validated_data == {}


async def test_bad_bodies() -> None:
    with pytest.raises(ParseError, match="empty"):
        await SlimBookSerializer(data=b"").is_valid()
    with pytest.raises(ParseError, match="Malformed JSON body"):
        await SlimBookSerializer(data=b"{").is_valid()


def test_validated_data_before_validation_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"await serializer\.is_valid"):
        _ = SlimBookSerializer(data=b"{}").validated_data


def test_configuration_errors_name_the_fix() -> None:
    class NoFields(ModelSerializer[Author]):
        class Meta:
            model = Author

    with pytest.raises(TypeError, match="must list `fields`"):
        NoFields.compiled()

    class Typo(ModelSerializer[Author]):
        class Meta:
            model = Author
            fields = ("id", "nmae")

    with pytest.raises(FieldError, match=r"names `nmae`.*did you mean `name`"):
        Typo.compiled()

    class StringFields(ModelSerializer[Author]):
        class Meta:
            model = Author
            fields = "name"

    with pytest.raises(TypeError, match=r"write `\['name'\]`"):
        StringFields.compiled()

    class Forgotten(ModelSerializer[Book]):
        author = NoFields(source="author")

        class Meta:
            model = Book
            fields = ("id",)

    with pytest.raises(TypeError, match=r"declares `author` but `Meta\.fields` does not list it"):
        Forgotten.compiled()

    class NoModel(ModelSerializer[Any]):
        class Meta:
            fields = ("id",)

    with pytest.raises(TypeError, match="needs `class Meta: model = <Model class>`"):
        NoModel.compiled()


def test_derived_serializer_marks_server_owned_fields_read_only() -> None:
    derived = model_serializer_for(Book).compiled()
    assert "id" not in derived.writable
    assert "owner_id" not in derived.writable
    assert "created_at" not in derived.writable
    assert {"title", "isbn", "price", "author_id"} <= set(derived.writable)
    assert "created_at" in derived.readable
