"""Build ``stellate/auth/data/common-passwords.txt.gz``, the list CommonPasswordValidator uses.

The list is generated, not downloaded: the patterns that dominate every published
breach corpus (digit runs, keyboard walks, repeated characters, a few hundred words
people pick, those words with the digits, years and symbols people append, and
their capitalised / leetspeak spellings) are expanded from the seeds below. The
result is lowercase, deduplicated, sorted, one password per line, gzip-compressed
without a timestamp so the committed file is byte-for-byte reproducible:

    uv run python packages/auth/scripts/build_common_passwords.py

``tests/auth/test_auth_validators.py`` rebuilds it in memory and checks the committed
file matches, so edit the seeds here and re-run instead of editing the file.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "src"
    / "stellate"
    / "auth"
    / "data"
    / "common-passwords.txt.gz"
)


def _words(block: str) -> list[str]:
    return block.split()


#: Words that recur at the top of breach corpora (RockYou, the LinkedIn and Adobe
#: dumps, annual "worst passwords" reports), plus the product and role words of a web app.
WORDS = _words(
    """
password passw0rd passwort motdepasse contrasena senha parola wachtwoord haslo
letmein welcome welcome1 hello hellothere iloveyou iloveu loveyou lovely loveme love
monkey dragon master shadow sunshine princess football baseball basketball soccer
hockey golf tennis superman batman spiderman ironman pokemon starwars yoda jedi
trustno1 freedom whatever nothing secret secure security access admin administrator
root toor user guest login logon default changeme change test tester testing demo
qwerty azerty qwertz abc abcd abcdef abcdefg abcdefgh asdf asdfgh zxcvbn zxcvbnm
qazwsx michael jennifer jessica ashley charlie daniel thomas robert jordan hunter
george andrew joshua matthew nicole michelle amanda samantha jasmine anthony
william maria alexander computer internet google yahoo facebook linkedin twitter
instagram microsoft windows apple samsung android iphone mustang ferrari porsche
corvette harley yamaha chelsea arsenal liverpool barcelona madrid juventus
killer pepper ginger cookie cheese banana orange lemon chocolate coffee summer
winter autumn spring flower rainbow purple silver golden diamond angel angels
heaven jesus christ blessed faith lucky money rich power magic matrix ninja
pirate knight wizard tigger tiger lion eagle falcon phoenix dolphin bear buster
maggie ginger snoopy scooter bailey charlie1 daisy molly lucky1 sparky rocky
cowboy cowboys yankees lakers eagles steelers packers dallas boston chicago
london paris berlin tokyo america canada mexico france germany england
family friends forever happy smile sweet sweetie honey baby babygirl babyboy
mother father mommy daddy sister brother darling beautiful princess1 prince
qwerty123 password1 letmein1 trustno1 access14 shadow1 master1 dragon1
hello123 admin123 root123 test123 pass pass123 passpass mypass mypassword
stellate django flask starlette python javascript java linux ubuntu debian
server database postgres postgresql mysql oracle redis docker kubernetes
company office manager support service system network cisco router wifi
secret1 private public open sesame opensesame letmeinnow iamtheking
"""
)

#: Keyboard walks and other shapes people type without thinking.
SHAPES = _words(
    """
qwerty qwertyuiop qwertyui qwer1234 1qaz2wsx 1q2w3e4r 1q2w3e4r5t 1q2w3e 1qazxsw2
zaq12wsx zaq1zaq1 asdfghjkl asdfjkl qweasd qweasdzxc qazwsxedc zxcvbnm123
1234qwer qwe123 asd123 zxc123 q1w2e3r4 a1b2c3 a1b2c3d4 abc123 abcd1234 aaa111
123abc 123qwe 123asd poiuytrewq mnbvcxz lkjhgfdsa
"""
)

SUFFIXES = (
    [
        "",
        "1",
        "12",
        "123",
        "1234",
        "12345",
        "123456",
        "!",
        "!!",
        "1!",
        "123!",
        "01",
        "007",
        "69",
        "99",
        "00",
        "11",
        "22",
        "13",
        "21",
        "23",
        "77",
        "88",
        "@123",
        "#1",
        "$",
        "2",
    ]
    + [str(year) for year in range(1950, 2031)]
    + [f"{year % 100:02d}" for year in range(1980, 2031)]
)

LEET_SUFFIXES = ["", "1", "12", "123", "!", "1!"]

LEET = str.maketrans({"a": "@", "e": "3", "i": "1", "o": "0", "s": "$"})


def _digit_runs() -> set[str]:
    runs: set[str] = set()
    digits = "01234567890"
    for start in range(10):
        for length in range(4, 13):
            forward = (digits[start:] + digits * 2)[:length]
            runs.add(forward)
            runs.add(forward[::-1])
    for digit in "0123456789":
        for length in range(4, 13):
            runs.add(digit * length)
    for pair in ("12", "69", "00", "11", "13", "21", "99"):
        for repeat in range(2, 7):
            runs.add(pair * repeat)
    # Dates (DDMMYYYY and friends) are too many to list; the all-digits validator
    # rejects them anyway.
    return runs


def _repeats() -> set[str]:
    found: set[str] = set()
    for char in "abcdefghijklmnopqrstuvwxyz!@#$%*.":
        for length in range(4, 13):
            found.add(char * length)
    return found


def build() -> list[str]:
    """Return the sorted, lowercase list of common passwords."""
    found: set[str] = set(_digit_runs()) | _repeats()
    for base in [*WORDS, *SHAPES]:
        for suffix in SUFFIXES:
            found.add(f"{base}{suffix}")
        found.add(base * 2)
        found.add(base[::-1])
        # Leetspeak with the few endings people pair it with, not every year.
        for suffix in LEET_SUFFIXES:
            found.add(f"{base.translate(LEET)}{suffix}")
    return sorted(word.lower() for word in found if len(word) >= 4)


def render(words: list[str]) -> bytes:
    """The gzip bytes of ``words`` (one per line), reproducible: no name or timestamp."""
    text = ("\n".join(words) + "\n").encode()
    return gzip.compress(text, compresslevel=9, mtime=0)


def main() -> int:
    words = build()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(render(words))
    print(f"wrote {len(words)} passwords to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
