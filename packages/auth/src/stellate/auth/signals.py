"""Signals sent by the auth routes; connect receivers to react to logins and logouts.

Receivers get the app as sender and keyword arguments: ``request`` always, ``user``
(a :class:`~stellate.auth.users.UserRecord`) for ``user_logged_in`` / ``user_logged_out``,
``username`` for ``user_login_failed``. Passwords are never passed.

Example:
    ```python
    @user_logged_in.connect
    async def remember_device(sender, *, request, user, **kwargs):
        ...
    ```
"""

from __future__ import annotations

from stellate.core.signals import Signal

__all__ = ["user_logged_in", "user_logged_out", "user_login_failed"]

user_logged_in = Signal("user_logged_in")
user_logged_out = Signal("user_logged_out")
user_login_failed = Signal("user_login_failed")
