"""``CursorSigner``: the HMAC that signs pagination cursors (expiry, tampering, keys)."""

from __future__ import annotations

import base64
import time

import pytest

from stellate.rest.pagination import CursorSigner

DATA = {"v": [980], "r": False, "o": "-id", "u": "/api/books/"}


def test_round_trip_and_no_expiry() -> None:
    signer = CursorSigner("s" * 48)
    assert signer.decode_data(signer.encode_data(DATA, ttl=60)) == DATA
    assert signer.decode_data(signer.encode_data(DATA, ttl=None)) == DATA


def test_expired_cursor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = CursorSigner("s" * 48)
    token = signer.encode_data(DATA, ttl=30)
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    assert signer.decode_data(token) is None


def test_another_secret_or_a_changed_byte_is_refused() -> None:
    token = CursorSigner("s" * 48).encode_data(DATA, ttl=60)
    assert CursorSigner("t" * 48).decode_data(token) is None
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[5] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert CursorSigner("s" * 48).decode_data(forged) is None


@pytest.mark.parametrize("token", ["", "!!!", "abc", "A" * 43, "x" * 200])
def test_garbage_is_none_not_an_error(token: str) -> None:
    assert CursorSigner("s" * 48).decode_data(token) is None
