"""Hostile values for every query parameter, path segment and body field.

Each payload has a query/path form (already percent-encoded, so invalid UTF-8 can be
sent) and a JSON form (raw bytes of one JSON value, so huge numbers and invalid
UTF-8 reach the server exactly as written). ``BODIES`` are whole request bodies.
``LEAK_MARKERS`` are strings no response or log line may contain: traces of SQL the
ORM compiled, tracebacks, driver names, connection URLs.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote


class Payload(NamedTuple):
    name: str
    query: str
    json: bytes


def _text(name: str, value: str) -> Payload:
    import json

    return Payload(name, quote(value, safe=""), json.dumps(value).encode())


DEEP = 100_000

PAYLOADS: tuple[Payload, ...] = (
    _text("sql-or", "' OR '1'='1"),
    _text("sql-drop", "1; DROP TABLE bookstore_books; --"),
    _text("sql-union", "0 UNION SELECT password FROM stellate_users --"),
    _text("sql-sleep", "1' AND pg_sleep(3) IS NULL --"),
    _text("sql-comment", "1/**/OR/**/1=1"),
    _text("like-wildcards", "%_%"),
    _text("long", "a" * 60_000),
    _text("nul", "a\x00b"),
    Payload("invalid-utf8", "%FF%FE%FD", b'"\xff\xfe\xfd"'),
    Payload("lone-surrogate", "%ED%A0%80", b'"\\ud800"'),
    Payload("huge-int", "9" * 400, b"9" * 400),
    Payload("int64-overflow", "-9223372036854775809", b"-9223372036854775809"),
    Payload("huge-float", "1e999", b"1e999"),
    _text("nan", "NaN"),
    _text("infinity", "-Infinity"),
    Payload("object", quote('{"$ne": 1}'), b'{"$ne": 1}'),
    Payload("list", quote("[1,2]"), b"[1, 2]"),
    Payload("bool", "true", b"true"),
    Payload("null", "null", b"null"),
    _text("traversal", "../../../../etc/passwd"),
    _text("encoded-traversal", "..%2F..%2Fetc%2Fpasswd"),
    _text("header-injection", "x\r\nSet-Cookie: pwned=1\r\nX-Injected: 1"),
    _text("format-string", "%s%n%x{0.__class__}"),
    _text("unicode", "\u202etxt.exe\ufeff\U0001d54f"),
    _text("empty", ""),
)

BODIES: tuple[tuple[str, bytes], ...] = (
    ("deep-arrays", b"[" * DEEP + b"]" * DEEP),
    ("deep-objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    ("invalid-utf8", b'{"name": "\xff\xfe"}'),
    ("not-json", b"name=x&title=y"),
    ("truncated", b'{"name": "x"'),
    ("empty", b""),
    ("scalar", b"42"),
    ("array", b"[]"),
    ("nul-bytes", b'{"name": "a\x00"}'),
    ("bom", b'\xef\xbb\xbf{"name": "x"}'),
)

#: Strings that would mean SQL, a traceback or a connection URL reached a client or a log.
LEAK_MARKERS: tuple[str, ...] = (
    "Traceback",
    'File "/',
    "asyncpg",
    "postgresql://",
    "redis://",
    'FROM "bookstore_',
    'INTO "bookstore_',
    '"bookstore_books"."',
    "$1",
    "SQLSTATE",
)
