"""SignedAPIKeyMixin on an app's own model, as in the guide (the class renamed: model class
names are global to the ORM and `APIKey` is a likely name elsewhere in the test suite)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellate.auth.signed_keys import SignedAPIKeyMixin
from stellate.core import HTTPException
from stellate.core.signing import SigningKey
from stellate.orm import Database, Field, Model, QueryEvent
from stellate.orm.schema import create_table_sql


class AuthTestAPIKey(SignedAPIKeyMixin):
    class Meta:
        table = "auth_test_api_keys"

    class TokenConfig:
        keys = [SigningKey(secret="apikey-2026-q2", version=1)]  # noqa: RUF012
        key_display_prefix = "sk_myapp_"

    id: int = Field(primary_key=True, auto=True)
    user_id: int = Field()
    name: str = Field(default="")


class AuthTestRotatedKey(SignedAPIKeyMixin):
    """The same table with a new key prepended (rotation)."""

    class Meta:
        table = "auth_test_api_keys"

    class TokenConfig:
        keys = [  # noqa: RUF012
            SigningKey(secret="apikey-2026-q3", version=2),
            SigningKey(secret="apikey-2026-q2", version=1),
        ]
        key_display_prefix = "sk_myapp_"

    id: int = Field(primary_key=True, auto=True)
    user_id: int = Field()
    name: str = Field(default="")


@pytest.fixture
async def table(db: Database) -> Database:
    for statement in create_table_sql(AuthTestAPIKey):
        await db.execute(statement)
    return db


async def test_guide_sample(table: Database) -> None:
    # Generate (show raw_key to user ONCE)
    result = await AuthTestAPIKey.generate(user_id=7, name="Production Key")
    assert result.raw_key.startswith("sk_myapp_")
    assert result.raw_key not in repr(result)

    # Verify (HMAC-first, then DB lookup)
    api_key = await AuthTestAPIKey.verify(result.raw_key)
    if api_key is None:
        raise HTTPException(401, "Invalid API key")
    assert api_key.user_id == 7
    assert api_key.name == "Production Key"
    assert api_key.last_used_at is not None
    assert "key_hash" not in api_key.to_dict()
    # Only a hash of the secret part is stored.
    row = await table.fetchrow("SELECT * FROM auth_test_api_keys WHERE id = $1", api_key.pk)
    assert result.raw_key.split(".")[3] not in " ".join(map(str, row.values()))


async def test_forged_key_costs_zero_queries(table: Database) -> None:
    result = await AuthTestAPIKey.generate(user_id=8)
    seen: list[str] = []

    def observe(event: QueryEvent) -> None:
        seen.append(event.sql)

    remove = table.add_observer(observe)
    try:
        raw = result.raw_key
        forgeries = [
            raw[:-10] + ("A" if raw[-10] != "A" else "B") + raw[-9:],
            raw.replace("sk_myapp_", "sk_other_"),
            "sk_myapp_1.abc.def.ghi.jkl",
            "",
        ]
        for forged in forgeries:
            assert await AuthTestAPIKey.verify(forged) is None
    finally:
        remove()
    assert seen == []


async def test_revoked_and_expired_keys_fail(table: Database) -> None:
    revoked = await AuthTestAPIKey.generate(user_id=9)
    await revoked.key.revoke()
    assert await AuthTestAPIKey.verify(revoked.raw_key) is None
    expired = await AuthTestAPIKey.generate(user_id=9, expires_in=timedelta(seconds=-1))
    assert await AuthTestAPIKey.verify(expired.raw_key) is None
    assert not expired.key.is_active
    live = await AuthTestAPIKey.generate(user_id=9, expires_in=timedelta(hours=1))
    assert (await AuthTestAPIKey.verify(live.raw_key)) is not None


async def test_key_rotation_keeps_old_keys_valid(table: Database) -> None:
    old = await AuthTestAPIKey.generate(user_id=10)
    assert await AuthTestRotatedKey.verify(old.raw_key) is not None
    new = await AuthTestRotatedKey.generate(user_id=10)
    assert await AuthTestRotatedKey.verify(new.raw_key) is not None
    # A key signed with the new secret is unknown to a server that lacks it.
    assert await AuthTestAPIKey.verify(new.raw_key) is None


def test_missing_token_config_explains() -> None:
    class AuthTestBareKey(SignedAPIKeyMixin):
        class Meta:
            table = "auth_test_bare_keys"

        id: int = Field(primary_key=True, auto=True)

    with pytest.raises(TypeError, match="`AuthTestBareKey` needs a TokenConfig"):
        AuthTestBareKey.parse_key("sk_x")
    assert issubclass(AuthTestBareKey, Model)
