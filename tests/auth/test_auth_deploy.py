"""``stellate check --deploy`` with the auth plugin: what it reports and when it is quiet."""

from __future__ import annotations

import os

from stellate.core import App
from stellate.core._deploy_checks import deploy_problems

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
STRONG = "kq3V9-zP_rT7wX2mLb8yNc4HdJ6fGs0aEuQiOoYvRtWxZ1lK5nM"


def _app(env: str, auth: dict[str, object]) -> App:
    return App(
        plugins=["orm", "auth"],
        settings={
            "env": env,
            "secret_key": STRONG,
            "allowed_hosts": ["app.example.com"],
            "orm": {"database_url": URL, "embedded_database": False},
            "auth": auth,
        },
    )


def test_production_app_with_defaults_has_no_auth_problems() -> None:
    assert deploy_problems(_app("production", {})) == []


def test_development_app_reports_hsts_and_insecure_cookies() -> None:
    problems = "\n".join(deploy_problems(_app("development", {})))
    assert "HSTS is off" in problems
    assert "Session cookies lack the `Secure` flag" in problems
    assert "set STELLATE_ENV=production" in problems


def test_missing_headers_weak_session_secret_and_http_cors_origin_are_reported() -> None:
    app = _app(
        "production",
        {
            "security_headers": False,
            "session_secret": [STRONG, "changeme"],
            "cors_origins": ["http://app.example.com", "https://ok.example.com"],
        },
    )
    problems = "\n".join(deploy_problems(app))
    assert "STELLATE_AUTH_SECURITY_HEADERS is off" in problems
    assert "STELLATE_AUTH_SESSION_SECRET (key 2) has 8 characters" in problems
    assert "STELLATE_AUTH_SESSION_SECRET has" not in problems  # the first key is strong
    assert "`http://app.example.com`" in problems
    assert "ok.example.com" not in problems


def test_empty_csp_is_reported() -> None:
    app = _app("production", {"content_security_policy": ""})
    assert any("CONTENT_SECURITY_POLICY is empty" in p for p in deploy_problems(app))
