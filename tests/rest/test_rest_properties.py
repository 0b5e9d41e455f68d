"""Property tests: body validation never crashes, blames only real fields, and agrees
with the model's own validation."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_api import BookSerializer
from rest_models import Book

from stellate.rest import ParseError, ValidationError

FIELDS = ["title", "isbn", "price", "pages", "format", "author_id", "owner_id", "id", "junk"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=120)
    | st.sampled_from(["hardcover", "ebook", "9780000000000", "12.50", "-1", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS))


def validate(body: Any, partial: bool) -> dict[str, Any] | ValidationError:
    serializer = BookSerializer(data=msgspec.json.encode(body), partial=partial)
    try:
        asyncio.run(serializer.is_valid())
    except ValidationError as exc:
        return exc
    return serializer.validated_data


@settings(max_examples=300, deadline=None)
@given(body=bodies, partial=st.booleans())
@example(
    body={"title": "T", "isbn": "9780000000000", "price": "12.50", "author_id": 1},
    partial=False,
)
@example(body={"title": "T", "isbn": "9780000000000", "price": -1, "pages": 0}, partial=False)
def test_errors_name_only_sent_or_required_fields(body: dict[str, Any], partial: bool) -> None:
    result = validate(body, partial)
    writable = BookSerializer.compiled().writable
    if isinstance(result, ValidationError):
        required = {n for n, spec in writable.items() if spec.required and not partial}
        assert result.errors
        assert set(result.errors) <= set(body) | required
        for messages in result.errors.values():
            assert messages
            assert all(isinstance(m, str) and m for m in messages)
    else:
        assert set(result) <= set(writable)
        assert set(result) <= set(body)
        if not partial:
            # What the serializer accepts, the model accepts too.
            Book(**result)


@settings(max_examples=100, deadline=None)
@given(body=st.one_of(json_values, st.binary(max_size=30)))
def test_any_body_is_a_400_never_a_crash(body: Any) -> None:
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    serializer = BookSerializer(data=data)
    status = 200
    try:
        asyncio.run(serializer.is_valid())
    except (ValidationError, ParseError) as exc:
        status = exc.status_code
    assert status in (200, 400)
