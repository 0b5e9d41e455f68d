"""Production checks behind ``stellate check --deploy``."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.middleware.trustedhost import TrustedHostMiddleware

from stellate.core.app import App

if TYPE_CHECKING:
    from starlette.middleware import Middleware

#: Django's long-standing floor for a secret key, which generated keys easily clear.
MIN_SECRET_LENGTH = 50
MIN_SECRET_DISTINCT = 5
#: A key should be as hard to guess as a 128-bit random number.
MIN_SECRET_BITS = 128.0

GENERATE_KEY = "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`"


def estimated_entropy_bits(secret: str) -> float:
    """Shannon entropy of ``secret``'s characters times its length, in bits.

    An upper bound for a human-made key and close to the truth for a random one;
    it catches repeated patterns (``abcabc...``) that a length check misses.
    """
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum((n / total) * math.log2(n / total) for n in counts.values())
    return per_char * total


def secret_key_problems(secret: str | None, name: str = "STELLATE_SECRET_KEY") -> list[str]:
    """What is wrong with ``secret`` as a production secret key, each with the fix.

    Args:
        secret: the key.
        name: the variable it comes from, for the messages (plugins check theirs too).
    """
    if not secret:
        return [f"{name} is not set: generate one with {GENERATE_KEY}"]
    problems = []
    if len(secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"{name} has {len(secret)} characters: use at least "
            f"{MIN_SECRET_LENGTH}; generate one with {GENERATE_KEY}"
        )
    distinct = len(set(secret))
    bits = estimated_entropy_bits(secret)
    if distinct < MIN_SECRET_DISTINCT or bits < MIN_SECRET_BITS:
        problems.append(
            f"{name} is too predictable ({distinct} distinct characters, about "
            f"{bits:.0f} bits of entropy; at least {MIN_SECRET_BITS:.0f} needed): generate a "
            f"random one with {GENERATE_KEY}"
        )
    return problems


def deploy_problems(app: App) -> list[str]:
    """Everything about ``app`` that should not go to production, each with its fix."""
    settings = app.settings
    problems = []
    if settings.env != "production":
        problems.append(
            f"STELLATE_ENV is `{settings.env}`: set STELLATE_ENV=production for the deployed app"
        )
    if settings.debug:
        problems.append(
            "STELLATE_DEBUG is on: it shows tracebacks to visitors; set STELLATE_DEBUG=false"
        )
    problems.extend(secret_key_problems(settings.secret_key))
    if settings.log_level == "debug":
        problems.append(
            "STELLATE_LOG_LEVEL is `debug`: debug logs may hold request data and secrets; "
            "set STELLATE_LOG_LEVEL=info (or warning)"
        )
    problems.extend(_allowed_host_problems(app))
    for plugin in app.plugins:
        problems.extend(plugin.deploy_checks(app))
    return problems


def _allowed_host_problems(app: App) -> list[str]:
    # Only checked where the app restricts hosts at all: a wildcard there is a
    # leftover from development, while no host check is a deployment choice (a proxy
    # may do it).
    problems = []
    configured = getattr(app.settings, "allowed_hosts", None)
    if (
        isinstance(configured, Iterable)
        and not isinstance(configured, str)
        and "*" in list(configured)
    ):
        problems.append("STELLATE_ALLOWED_HOSTS contains `*`: list the host names the app serves")
    elif not configured and not any(
        _factory(middleware) is TrustedHostMiddleware for middleware in app.user_middleware
    ):
        problems.append(
            "No Host check: set STELLATE_ALLOWED_HOSTS=example.com (the names the app "
            "serves), unless the proxy in front refuses other hosts"
        )
    for middleware in app.user_middleware:
        if _factory(middleware) is not TrustedHostMiddleware:
            continue
        kwargs: dict[str, Any] = dict(middleware.kwargs)
        hosts = kwargs.get("allowed_hosts", middleware.args[0] if middleware.args else ["*"])
        if hosts is None or "*" in list(hosts):
            problems.append(
                "TrustedHostMiddleware allows every host (`*`): pass "
                "allowed_hosts=[...] with the host names the app serves"
            )
    return problems


def _factory(middleware: Middleware) -> object:
    return middleware.cls
