"""TokenEngine: round trips, tampering, rotation, purposes, expiry and key validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import msgspec
import pytest

from stellate.core.signing import SigningKey, TokenEngine


class ManualClock:
    """Seconds since the epoch that only move when a test moves them."""

    def __init__(self, now: float = 1_800_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


KEY_1 = SigningKey(secret="old-key-2026-q2", version=1)
KEY_2 = SigningKey(secret="new-key-2026-q3", version=2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(clock: ManualClock) -> TokenEngine:
    return TokenEngine(keys=[KEY_1], clock=clock)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _replace_char(token: str, index: int) -> str:
    # Flip the highest of the six bits a base64 character carries: flipping the lowest
    # could land in the padding bits of the last character and decode to the same bytes.
    char = token[index]
    swapped = _B64[_B64.index(char) ^ 32] if char in _B64 else "A"
    return token[:index] + swapped + token[index + 1 :]


# -- sign / unsign ----------------------------------------------------------


@pytest.mark.parametrize("value", ["session-id-123", "a.b.c", "", "ünïcødé ✓", "x" * 4000])
def test_sign_round_trip(engine: TokenEngine, value: str) -> None:
    token = engine.sign(value)
    assert token.startswith("1.")
    assert engine.unsign(token) == value
    assert engine.unsign(token.encode()) == value


def test_each_token_has_its_own_salt(engine: TokenEngine) -> None:
    first, second = engine.sign("same"), engine.sign("same")
    assert first != second
    nonce_1, nonce_2 = first.split(".")[1], second.split(".")[1]
    assert nonce_1 != nonce_2
    assert len(nonce_1) == 12
    assert engine.unsign(first) == engine.unsign(second) == "same"


def test_signature_is_hmac_sha256_over_version_nonce_value_and_time(
    engine: TokenEngine,
) -> None:
    token = engine.sign("user:42")
    message, signature = token.rsplit(".", 1)
    derived = hmac.new(
        KEY_1.secret, b"stellate.signing.sign:default", digestmod=hashlib.sha256
    ).digest()
    expected = hmac.new(derived, message.encode(), digestmod=hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_every_tampered_position_is_refused(engine: TokenEngine) -> None:
    token = engine.sign("user:42")
    for index, char in enumerate(token):
        if char == ".":
            continue
        tampered = _replace_char(token, index)
        assert engine.unsign(tampered) is None, f"accepted a change at position {index}"


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "1", "1.", "nonsense", "1.a.b", "-1.x.y.z.w", "x1.a.b.c.d", "1" * 40 + ".a.b"],
)
def test_malformed_tokens_are_refused(engine: TokenEngine, garbage: str) -> None:
    assert engine.unsign(garbage) is None
    assert engine.decode_data(garbage) is None


def test_non_text_tokens_are_refused(engine: TokenEngine) -> None:
    assert engine.unsign(b"\xff\xfe") is None
    assert engine.decode_data(b"\xff\xfe") is None
    assert engine.unsign(42) is None  # type: ignore[arg-type]


def test_token_appended_or_truncated_is_refused(engine: TokenEngine) -> None:
    token = engine.sign("user:42")
    assert engine.unsign(token + "x") is None
    assert engine.unsign(token[:-1]) is None
    assert engine.unsign(token.rsplit(".", 1)[0]) is None


def test_unsign_max_age_counts_whole_seconds(engine: TokenEngine, clock: ManualClock) -> None:
    token = engine.sign("sid")
    clock.advance(10.0)
    assert engine.unsign(token, max_age=10) == "sid"
    assert engine.unsign(token) == "sid"
    clock.advance(1.0)
    assert engine.unsign(token, max_age=10) is None
    assert engine.unsign(token, max_age=timedelta(seconds=11)) == "sid"
    assert engine.unsign(token) == "sid"


def test_sign_rejects_non_strings(engine: TokenEngine) -> None:
    with pytest.raises(TypeError, match=r"takes a str, got `int`.*encode_data"):
        engine.sign(42)  # type: ignore[arg-type]


# -- rotation and key versions ------------------------------------------------


def test_rotation_first_key_signs_all_keys_verify(clock: ManualClock) -> None:
    old = TokenEngine(keys=[KEY_1], clock=clock)
    old_token = old.sign("sid")
    old_data = old.encode_data({"user_id": 42}, ttl=60)

    rotated = TokenEngine(keys=[KEY_2, KEY_1], clock=clock)
    assert rotated.unsign(old_token) == "sid"
    assert rotated.decode_data(old_data) == {"user_id": 42}
    new_token = rotated.sign("sid")
    assert new_token.startswith("2.")
    assert rotated.encode_data(1, ttl=60).startswith("2.")
    # Old servers that only know key 1 cannot verify the new key's tokens.
    assert old.unsign(new_token) is None

    retired = TokenEngine(keys=[KEY_2], clock=clock)
    assert retired.unsign(old_token) is None
    assert retired.decode_data(old_data) is None
    assert retired.unsign(new_token) == "sid"


def test_version_picks_the_key_and_cannot_be_relabelled(clock: ManualClock) -> None:
    rotated = TokenEngine(keys=[KEY_2, KEY_1], clock=clock)
    token = TokenEngine(keys=[KEY_1], clock=clock).sign("sid")
    data = TokenEngine(keys=[KEY_1], clock=clock).encode_data("d", ttl=60)
    # Key 1 is in the list, but the token now names key 2: only key 2 is tried.
    assert rotated.unsign("2" + token[1:]) is None
    assert rotated.decode_data("2" + data[1:]) is None
    assert rotated.unsign("3" + token[1:]) is None


def test_relabelling_fails_even_when_two_versions_share_a_secret(clock: ManualClock) -> None:
    twins = TokenEngine(
        keys=[SigningKey("shared", version=2), SigningKey("shared", version=1)], clock=clock
    )
    token, data = twins.sign("sid"), twins.encode_data("d", ttl=60)
    assert twins.unsign(token) == "sid"
    assert twins.decode_data(data) == "d"
    assert twins.unsign("1" + token[1:]) is None
    assert twins.decode_data("1" + data[1:]) is None


def test_same_secret_new_engine_verifies(clock: ManualClock) -> None:
    # Another server (another engine instance) with the same key verifies.
    token = TokenEngine(keys=[KEY_1], clock=clock).encode_data({"a": 1}, ttl=5)
    twin = TokenEngine(keys=[SigningKey("old-key-2026-q2", version=1)], clock=clock)
    assert twin.decode_data(token) == {"a": 1}
    other_secret = TokenEngine(keys=[SigningKey("different", version=1)], clock=clock)
    assert other_secret.decode_data(token) is None


# -- purposes -----------------------------------------------------------------


def test_a_session_token_is_not_a_csrf_token(clock: ManualClock) -> None:
    session = TokenEngine(keys=[KEY_1], purpose="session", clock=clock)
    csrf = session.with_purpose("csrf")
    assert csrf.purpose == "csrf"
    assert csrf.keys == session.keys
    token, data = session.sign("sid"), session.encode_data({"uid": 1}, ttl=60)
    assert csrf.unsign(token) is None
    assert csrf.decode_data(data) is None
    assert TokenEngine(keys=[KEY_1], purpose="session", clock=clock).unsign(token) == "sid"


def test_signed_strings_and_data_tokens_do_not_mix(engine: TokenEngine) -> None:
    assert engine.decode_data(engine.sign("sid")) is None
    assert engine.unsign(engine.encode_data("sid", ttl=60)) is None


# -- data tokens --------------------------------------------------------------


class Grant(msgspec.Struct):
    user_id: int
    scopes: list[str]


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        ({"user_id": 42, "action": "verify_email"}, {"user_id": 42, "action": "verify_email"}),
        ([1, 2.5, "three", True, None], [1, 2.5, "three", True, None]),
        ("ünïcødé", "ünïcødé"),
        ({"long": "x" * 5000}, {"long": "x" * 5000}),
        (Grant(7, ["read"]), {"user_id": 7, "scopes": ["read"]}),
    ],
)
def test_data_round_trip(engine: TokenEngine, data: object, decoded: object) -> None:
    token = engine.encode_data(data, ttl=3600)
    assert token.isascii()
    assert " " not in token
    assert engine.decode_data(token) == decoded


def test_data_token_is_url_safe_and_differs_per_call(engine: TokenEngine) -> None:
    first, second = (engine.encode_data({"a": 1}, ttl=60) for _ in range(2))
    assert first != second
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assert set(first) <= allowed


def test_tampered_data_token_is_refused(engine: TokenEngine) -> None:
    token = engine.encode_data({"user_id": 42, "admin": False}, ttl=60)
    for index, char in enumerate(token):
        if char == ".":
            continue
        assert engine.decode_data(_replace_char(token, index)) is None, index


def test_forged_payload_with_valid_looking_layout_is_refused(engine: TokenEngine) -> None:
    token = engine.encode_data({"user_id": 42}, ttl=60)
    version, payload, stamp, signature = token.split(".")
    forged_json = base64.urlsafe_b64decode(payload + "==").replace(b"42", b"1")
    forged = base64.urlsafe_b64encode(forged_json).rstrip(b"=").decode()
    assert engine.decode_data(f"{version}.{forged}.{stamp}.{signature}") is None


def test_data_expires_after_ttl(engine: TokenEngine, clock: ManualClock) -> None:
    token = engine.encode_data({"uid": 1}, ttl=10)
    clock.advance(9.999)
    assert engine.decode_data(token) == {"uid": 1}
    clock.advance(0.001)
    assert engine.decode_data(token) is None


def test_data_ttl_as_timedelta(engine: TokenEngine, clock: ManualClock) -> None:
    token = engine.encode_data("x", ttl=timedelta(minutes=5))
    clock.advance(299)
    assert engine.decode_data(token) == "x"
    clock.advance(1)
    assert engine.decode_data(token) is None


def test_data_without_ttl_never_expires(engine: TokenEngine, clock: ManualClock) -> None:
    token = engine.encode_data("forever", ttl=None)
    clock.advance(10 * 365 * 86400)
    assert engine.decode_data(token) == "forever"


def test_tokens_from_a_clock_slightly_ahead_verify_far_ahead_do_not(clock: ManualClock) -> None:
    ahead = ManualClock(clock.now + 30)
    far_ahead = ManualClock(clock.now + 3600)
    verifier = TokenEngine(keys=[KEY_1], clock=clock)
    near = TokenEngine(keys=[KEY_1], clock=ahead)
    far = TokenEngine(keys=[KEY_1], clock=far_ahead)
    assert verifier.unsign(near.sign("sid"), max_age=60) == "sid"
    assert verifier.decode_data(near.encode_data(1, ttl=60)) == 1
    assert verifier.unsign(far.sign("sid")) is None
    assert verifier.decode_data(far.encode_data(1, ttl=None)) is None


def test_data_expires_in_real_time() -> None:
    engine = TokenEngine(keys=[KEY_1])
    token = engine.encode_data({"uid": 1}, ttl=0.3)
    assert engine.decode_data(token) == {"uid": 1}
    time.sleep(0.35)
    assert engine.decode_data(token) is None


def test_unencodable_data_names_the_type(engine: TokenEngine) -> None:
    with pytest.raises(TypeError, match=r"cannot encode `object` as JSON"):
        engine.encode_data(object(), ttl=60)
    with pytest.raises(TypeError, match=r"cannot encode `dict`"):
        engine.encode_data({"when": object()}, ttl=60)


@pytest.mark.parametrize(
    ("ttl", "error"),
    [
        (0, ValueError),
        (-5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (timedelta(0), ValueError),
        (True, TypeError),
        ("60", TypeError),
    ],
)
def test_bad_ttl_is_refused(engine: TokenEngine, ttl: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"`ttl`"):
        engine.encode_data("x", ttl=ttl)  # type: ignore[arg-type]


def test_bad_max_age_is_refused(engine: TokenEngine) -> None:
    with pytest.raises(ValueError, match=r"`max_age` must be a positive number"):
        engine.unsign(engine.sign("x"), max_age=0)


# -- key and engine validation ------------------------------------------------


@pytest.mark.parametrize("secret", ["", "   ", b""])
def test_empty_secret_is_refused(secret: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"SigningKey\(version=3\) has an empty `secret`"):
        SigningKey(secret=secret, version=3)


@pytest.mark.parametrize(
    ("version", "error", "message"),
    [
        (-1, ValueError, r"must be >= 0, got `-1`"),
        (True, TypeError, r"must be an int, got `True`"),
        ("1", TypeError, r"must be an int, got `'1'`"),
        (1.0, TypeError, r"must be an int, got `1.0`"),
    ],
)
def test_bad_version_is_refused(version: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        SigningKey(secret="s", version=version)  # type: ignore[arg-type]


def test_secret_must_be_text_or_bytes() -> None:
    with pytest.raises(TypeError, match=r"`secret` must be str or bytes, got `int`"):
        SigningKey(secret=123, version=1)  # type: ignore[arg-type]


def test_bytes_and_text_secrets_are_the_same_key(clock: ManualClock) -> None:
    text = TokenEngine(keys=[SigningKey("k3y", 1)], clock=clock)
    raw = TokenEngine(keys=[SigningKey(b"k3y", 1)], clock=clock)
    assert raw.unsign(text.sign("v")) == "v"


def test_duplicate_versions_are_refused() -> None:
    with pytest.raises(ValueError, match=r"two keys with version `1`"):
        TokenEngine(keys=[KEY_1, SigningKey("another", version=1)])


def test_empty_key_list_is_refused() -> None:
    with pytest.raises(ValueError, match=r"at least one key"):
        TokenEngine(keys=[])


def test_keys_must_be_signing_keys() -> None:
    with pytest.raises(TypeError, match=r"`keys\[1\]` must be a SigningKey, got `str`"):
        TokenEngine(keys=[KEY_1, "secret"])  # type: ignore[list-item]


def test_empty_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match=r"`purpose` must be a non-empty string"):
        TokenEngine(keys=[KEY_1], purpose="")


def test_reprs_never_show_secrets() -> None:
    engine = TokenEngine(keys=[KEY_2, KEY_1], purpose="session")
    assert "new-key" not in repr(KEY_2)
    assert repr(KEY_2) == "SigningKey(secret='***', version=2)"
    assert repr(engine) == "TokenEngine(versions=[2, 1], purpose='session')"
    assert "key-2026" not in repr(engine)
