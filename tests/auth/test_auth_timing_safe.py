"""Every comparison of a secret in stellate.auth is constant-time.

Scans the package's source: an ``==``/``!=``/``in`` comparison whose operand names a
token, hash, signature, digest, secret or fingerprint is a timing leak; such values
must go through ``hmac.compare_digest``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stellate.auth

SECRET_WORDS = ("token", "hash", "signature", "digest", "secret", "fingerprint", "binding")
SOURCE = Path(stellate.auth.__file__).parent


def _names(node: ast.AST) -> list[str]:
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.append(child.id.lower())
        elif isinstance(child, ast.Attribute):
            found.append(child.attr.lower())
        elif isinstance(child, ast.Subscript) and isinstance(child.slice, ast.Constant):
            found.append(str(child.slice.value).lower())
    return found


def _is_none_or_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant)


def test_secrets_are_compared_in_constant_time() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(_is_none_or_literal(operand) for operand in operands):
                continue  # `x == "…"`-style checks of public values / None checks
            names = [name for operand in operands for name in _names(operand)]
            if any(word in name for name in names for word in SECRET_WORDS):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == [], "use hmac.compare_digest:\n" + "\n".join(offenders)


def test_constant_time_helpers_are_used() -> None:
    for module in ("csrf.py", "apikeys.py", "signed_keys.py", "account_tokens.py"):
        assert "hmac.compare_digest(" in (SOURCE / module).read_text(), module
