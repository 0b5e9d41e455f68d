"""Password validators: length, similarity to the user's names, all digits, common passwords.

Each validator is a small object with ``validate(password, *, user_attributes)`` that
returns a message users can act on, or ``None``. :func:`validate_password` runs them
all and raises one :class:`PasswordValidationError` listing every problem, so a form
can show them together.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from importlib import resources
from typing import Protocol

__all__ = [
    "CommonPasswordValidator",
    "MinimumLengthValidator",
    "NumericPasswordValidator",
    "PasswordValidationError",
    "PasswordValidator",
    "UserAttributeSimilarityValidator",
    "default_validators",
    "validate_password",
]


class PasswordValidationError(ValueError):
    """A password was rejected; ``messages`` lists every reason, each with what to do."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__(" ".join(self.messages))


class PasswordValidator(Protocol):
    """What :func:`validate_password` calls; implement it to add your own rule.

    Example:
        ```python
        class NoCompanyName:
            def validate(self, password, *, user_attributes):
                if "acme" in password.lower():
                    return "This password contains the company name: leave out `acme`."
                return None
        ```
    """

    def validate(self, password: str, *, user_attributes: Mapping[str, str]) -> str | None:
        """Return a message explaining the problem and the fix, or ``None`` when fine."""
        ...


class MinimumLengthValidator:
    """Rejects passwords shorter than ``min_length`` characters.

    The default, 10, is above the 8 that NIST SP 800-63B requires at minimum: length is
    what makes a password expensive to guess, and a passphrase reaches it easily.
    """

    __slots__ = ("min_length",)

    def __init__(self, min_length: int = 10) -> None:
        if min_length < 1:
            raise ValueError(f"`min_length` must be at least 1, got `{min_length}`")
        self.min_length = min_length

    def validate(self, password: str, *, user_attributes: Mapping[str, str]) -> str | None:
        if len(password) >= self.min_length:
            return None
        return (
            f"This password is too short: it has {len(password)} characters and needs at "
            f"least {self.min_length}. A few unrelated words make a long, memorable password."
        )


class UserAttributeSimilarityValidator:
    """Rejects passwords too close to the username, email or name of the user.

    Compares the password with each attribute and each part of it (an email's local
    part, words split on punctuation) with :class:`difflib.SequenceMatcher`, and also
    rejects a password that contains such a part outright.
    """

    __slots__ = ("max_similarity",)

    def __init__(self, max_similarity: float = 0.7) -> None:
        if not 0.1 <= max_similarity <= 1.0:
            raise ValueError(
                f"`max_similarity` must be between 0.1 and 1.0, got `{max_similarity}`"
            )
        self.max_similarity = max_similarity

    def validate(self, password: str, *, user_attributes: Mapping[str, str]) -> str | None:
        lowered = password.lower()
        for name, value in user_attributes.items():
            if not value:
                continue
            value = value.lower()
            parts = {value, *re.split(r"\W+", value), value.split("@", 1)[0]}
            for part in parts:
                if len(part) < 3:
                    continue
                contained = len(part) >= 4 and part in lowered
                similar = (
                    SequenceMatcher(a=lowered, b=part).quick_ratio() >= self.max_similarity
                    and SequenceMatcher(a=lowered, b=part).ratio() >= self.max_similarity
                )
                if contained or similar:
                    return (
                        f"This password is too similar to your {name.replace('_', ' ')}: "
                        "choose one that does not contain or resemble it."
                    )
        return None


class NumericPasswordValidator:
    """Rejects passwords made only of digits (dates, phone numbers, PINs)."""

    __slots__ = ()

    def validate(self, password: str, *, user_attributes: Mapping[str, str]) -> str | None:
        if password and password.isdigit():
            return "This password is entirely numeric: add letters or use a passphrase."
        return None


@functools.cache
def _load_common_passwords(path: str | None) -> frozenset[str]:
    # Loaded on first use (never at import) and kept: the list is read-only data.
    if path is None:
        data = resources.files("stellate.auth").joinpath("data/common-passwords.txt.gz")
        raw = data.read_bytes()
    else:
        with open(path, "rb") as handle:
            raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return frozenset(line.strip() for line in raw.decode().splitlines() if line.strip())


class CommonPasswordValidator:
    """Rejects passwords from a list of common ones (case-insensitive).

    The default list ships with stellate-auth and is built by
    ``packages/auth/scripts/build_common_passwords.py`` (about 49,000 entries: digit
    runs, keyboard walks, common words with the digits and years people append).

    Args:
        path: a file (plain or gzip) with one password per line, to use instead.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    @property
    def passwords(self) -> frozenset[str]:
        """The lowercase passwords this validator rejects."""
        return _load_common_passwords(self.path)

    def validate(self, password: str, *, user_attributes: Mapping[str, str]) -> str | None:
        if password.lower().strip() in self.passwords:
            return (
                "This password is one of the most commonly used and is guessed first by "
                "attackers: choose something less predictable."
            )
        return None


def default_validators(min_length: int = 10) -> list[PasswordValidator]:
    """The validators :func:`validate_password` uses when given none."""
    return [
        MinimumLengthValidator(min_length),
        UserAttributeSimilarityValidator(),
        NumericPasswordValidator(),
        CommonPasswordValidator(),
    ]


def validate_password(
    password: str,
    *,
    user_attributes: Mapping[str, str] | None = None,
    validators: Sequence[PasswordValidator] | None = None,
) -> None:
    """Check ``password`` against every validator.

    Args:
        password: the candidate password.
        user_attributes: what the password must not resemble, by name
            (``{"username": "alice", "email": "alice@example.com"}``).
        validators: the validators to run; :func:`default_validators` when ``None``.

    Raises:
        PasswordValidationError: listing every problem found.
    """
    attributes = user_attributes or {}
    problems = [
        message
        for validator in (default_validators() if validators is None else validators)
        if (message := validator.validate(password, user_attributes=attributes)) is not None
    ]
    if problems:
        raise PasswordValidationError(problems)
