"""Password validators and the generated common-password list."""

from __future__ import annotations

import importlib.util
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from stellate.auth.validators import (
    CommonPasswordValidator,
    MinimumLengthValidator,
    NumericPasswordValidator,
    PasswordValidationError,
    UserAttributeSimilarityValidator,
    validate_password,
)

SCRIPT = Path(__file__).resolve().parents[2] / "packages/auth/scripts/build_common_passwords.py"


def _errors(password: str, **attributes: str) -> list[str]:
    try:
        validate_password(password, user_attributes=attributes)
    except PasswordValidationError as exc:
        return exc.messages
    return []


def test_a_good_passphrase_passes() -> None:
    assert _errors("violet tractor under the sea", username="alice") == []


def test_too_short_says_how_long_it_is_and_needs_to_be() -> None:
    messages = _errors("Xk#9vq2")
    assert messages == [
        "This password is too short: it has 7 characters and needs at least 10. "
        "A few unrelated words make a long, memorable password."
    ]
    assert MinimumLengthValidator(4).validate("Xk#9", user_attributes={}) is None


@pytest.mark.parametrize(
    ("password", "attributes", "field"),
    [
        ("alice-wonder-2024", {"username": "alicewonder"}, "username"),
        ("Alicewonderx", {"username": "alicewonder"}, "username"),
        ("bob.smith.rocks!", {"email": "bob.smith@example.com"}, "email"),
        ("my first_name is Catherine", {"first_name": "Catherine"}, "first name"),
    ],
)
def test_similar_to_user_attributes(password: str, attributes: dict[str, str], field: str) -> None:
    message = UserAttributeSimilarityValidator().validate(password, user_attributes=attributes)
    assert message == (
        f"This password is too similar to your {field}: "
        "choose one that does not contain or resemble it."
    )


def test_unrelated_password_is_not_similar() -> None:
    validator = UserAttributeSimilarityValidator()
    attributes = {"username": "alice", "email": "alice@example.com"}
    assert validator.validate("violet tractor under the sea", user_attributes=attributes) is None


def test_all_digits_rejected() -> None:
    assert NumericPasswordValidator().validate("20240117", user_attributes={}) == (
        "This password is entirely numeric: add letters or use a passphrase."
    )
    assert NumericPasswordValidator().validate("2024O117", user_attributes={}) is None


@pytest.mark.parametrize(
    "password", ["password123", "Password2019", "qwertyuiop", "1q2w3e4r5t", "P@$$w0rd", "dragon!!"]
)
def test_common_passwords_rejected_case_insensitively(password: str) -> None:
    assert CommonPasswordValidator().validate(password, user_attributes={}) is not None


def test_every_problem_is_reported_at_once() -> None:
    messages = _errors("12345678", username="12345678")
    assert len(messages) == 4
    assert messages[0].startswith("This password is too short: it has 8 characters")
    assert "similar to your username" in messages[1]
    assert "entirely numeric" in messages[2]
    assert "most commonly used" in messages[3]
    with pytest.raises(PasswordValidationError) as info:
        validate_password("12345678")
    assert str(info.value).startswith("This password is too short")


def test_custom_list_file(tmp_path: Path) -> None:
    listing = tmp_path / "banned.txt"
    listing.write_text("acmecorp2024\nhunter22\n")
    validator = CommonPasswordValidator(str(listing))
    assert validator.validate("ACMEcorp2024", user_attributes={}) is not None
    assert validator.validate("password123", user_attributes={}) is None


def test_validator_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="`min_length` must be at least 1, got `0`"):
        MinimumLengthValidator(0)
    with pytest.raises(ValueError, match=r"`max_similarity` must be between 0.1 and 1.0, got `2`"):
        UserAttributeSimilarityValidator(2)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_common_passwords", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_common_passwords"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_list_is_what_the_script_builds() -> None:
    script = _load_script()
    words = script.build()
    committed = (
        resources.files("stellate.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    )
    assert script.render(words) == committed, (
        "common-passwords.txt.gz is stale: run "
        "`uv run python packages/auth/scripts/build_common_passwords.py` and commit it"
    )
    assert 30_000 < len(words) < 80_000
    assert words == sorted(set(words))
    assert all(word == word.lower() and len(word) >= 4 for word in words)
    assert {"password", "123456789", "qwerty123", "iloveyou2000"} <= set(words)
