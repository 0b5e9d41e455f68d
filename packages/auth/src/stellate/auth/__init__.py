"""stellate.auth: users, argon2id passwords, signed sessions, CSRF, throttling, security log.

The ORM models of the auth tables (``User``, ``Group``, ``Permission``) live in
``stellate.auth.models`` and are not imported here: model class names are global to
the ORM, and importing this package must not claim ``User`` for an app that has its own.
"""

from __future__ import annotations

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKey, APIKeyAuth, APIKeyStore, GeneratedKey
from stellate.auth.csrf import CSRFMiddleware, csrf_input, csrf_token
from stellate.auth.guards import (
    load_user,
    login_required,
    permission_required,
    require_auth,
    require_staff,
    staff_required,
)
from stellate.auth.headers import (
    SecurityHeaders,
    SecurityHeadersMiddleware,
    cors_middleware,
    csp_nonce,
)
from stellate.auth.mail import ConsoleMailer, Mailer, MailMessage, MemoryMailer
from stellate.auth.middleware import AuthMiddleware
from stellate.auth.passwords import PasswordHasher, hash_password, verify_password
from stellate.auth.plugin import AuthPlugin
from stellate.auth.principal import Principal
from stellate.auth.security import (
    SecurityEvent,
    SecurityLog,
    SecurityRecord,
    get_security_log,
    set_security_log,
)
from stellate.auth.services import Auth
from stellate.auth.sessions import SessionAuth
from stellate.auth.settings import AuthSettings
from stellate.auth.signals import user_logged_in, user_logged_out, user_login_failed
from stellate.auth.signed_keys import GeneratedAPIKey, SignedAPIKeyMixin
from stellate.auth.throttle import LoginThrottle
from stellate.auth.users import UserExistsError, UserRecord, UserStore, UserTables
from stellate.auth.validators import PasswordValidationError, validate_password
from stellate.auth.view_permissions import HasPermission, ModelPermissions, ObjectPermissions

__all__ = [
    "APIKey",
    "APIKeyAuth",
    "APIKeyStore",
    "AccountTokens",
    "Auth",
    "AuthMiddleware",
    "AuthPlugin",
    "AuthSettings",
    "CSRFMiddleware",
    "ConsoleMailer",
    "GeneratedAPIKey",
    "GeneratedKey",
    "HasPermission",
    "LoginThrottle",
    "MailMessage",
    "Mailer",
    "MemoryMailer",
    "ModelPermissions",
    "ObjectPermissions",
    "PasswordHasher",
    "PasswordValidationError",
    "Principal",
    "SecurityEvent",
    "SecurityHeaders",
    "SecurityHeadersMiddleware",
    "SecurityLog",
    "SecurityRecord",
    "SessionAuth",
    "SignedAPIKeyMixin",
    "UserExistsError",
    "UserRecord",
    "UserStore",
    "UserTables",
    "cors_middleware",
    "csp_nonce",
    "csrf_input",
    "csrf_token",
    "get_security_log",
    "hash_password",
    "load_user",
    "login_required",
    "permission_required",
    "require_auth",
    "require_staff",
    "set_security_log",
    "staff_required",
    "user_logged_in",
    "user_logged_out",
    "user_login_failed",
    "validate_password",
    "verify_password",
]
