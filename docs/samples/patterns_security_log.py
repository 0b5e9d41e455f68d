"""Patterns guide: the security audit log."""

from __future__ import annotations

from stellate.auth import SecurityEvent, require_auth
from stellate.core import App, HTTPException, Request
from stellate.core.testing import AppClient

PASSWORD = "correct horse battery staple"

# --8<-- [start:log]
app = App(plugins=["orm", "auth"])  # the plugin logs logins, logouts, CSRF refusals...


@app.post("/api/exports")
async def export(request: Request) -> dict[str, bool]:
    user = require_auth(request)
    if not user.is_staff:
        # Your own refusals go in the same log (never put secrets in `detail`).
        await request.app.auth.security_log.log_from_request(
            SecurityEvent.PERMISSION_DENIED, request, detail="export: staff only"
        )
        raise HTTPException(403, "Exports are for staff")
    return {"queued": True}


# --8<-- [end:log]


async def main() -> None:
    async with AppClient(app) as client:
        # --8<-- [start:use]
        await app.auth.users.create_user("ada", PASSWORD)
        await client.post("/auth/login", json={"username": "ada", "password": "wrong"})
        login = await client.post("/auth/login", json={"username": "ada", "password": PASSWORD})
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        refused = await client.post("/api/exports", headers=csrf)
        assert refused.status_code == 403

        log = app.auth.security_log
        events = [record.event for record in await log.get_recent(limit=3)]
        assert events == [
            SecurityEvent.PERMISSION_DENIED,  # the export, by a non-staff user
            SecurityEvent.LOGIN_SUCCESS,
            SecurityEvent.LOGIN_FAILED,
        ]
        failures = await log.get_by_event(SecurityEvent.LOGIN_FAILED, since_hours=1)
        assert failures[0].detail.count(PASSWORD) == 0  # no secrets in the log
        # --8<-- [end:use]
