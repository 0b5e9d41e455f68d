"""The ORM models over the auth tables, in the orm's rolled-back test transaction."""

from __future__ import annotations

import pytest

from stellate.auth.models import Group, Permission, User
from stellate.auth.passwords import PasswordHasher
from stellate.auth.users import UserStore
from stellate.core.responses import encode_json
from stellate.orm import Database, ValidationError

GOOD = "violet tractor under the sea"


@pytest.fixture
async def store(db: Database) -> UserStore:
    users = UserStore(db, hasher=PasswordHasher("owasp-minimum"))
    await users.ensure_tables()
    return users


async def test_orm_reads_what_the_store_writes(store: UserStore) -> None:
    record = await store.create_user("alice", GOOD, email="alice@example.com", groups=["editors"])
    user = await User.objects.filter(username="alice").first()
    assert user is not None
    assert user.pk == record.id
    assert user.email == "alice@example.com"
    assert user.has_usable_password
    assert await user.check_password(GOOD, PasswordHasher("owasp-minimum"))
    assert not await user.check_password("wrong", PasswordHasher("owasp-minimum"))
    [loaded] = await User.objects.filter(pk=record.id).prefetch_related("groups").all()
    assert [group.name for group in loaded.groups] == ["editors"]
    assert loaded.principal(["editors"]) == record.principal()


async def test_password_hash_never_serialised(store: UserStore) -> None:
    await store.create_user("bob", GOOD)
    user = await User.objects.filter(username="bob").first()
    assert user is not None
    assert "password" not in user.to_dict()
    assert b"argon2" not in encode_json(user)
    assert "argon2" not in repr(user)


async def test_has_perm_through_groups_and_directly(store: UserStore) -> None:
    await store.create_user("carol", GOOD, groups=["editors"])
    await store.create_user("dave", GOOD)
    await store.create_user("root", GOOD, is_superuser=True)
    await store.grant("books.change_book", group="editors")
    dave = await User.objects.filter(username="dave").first()
    assert dave is not None
    await store.grant("books.delete_book", user_id=dave.pk)
    carol = await User.objects.filter(username="carol").first()
    root = await User.objects.filter(username="root").first()
    assert carol is not None
    assert root is not None
    assert await carol.has_perm("books.change_book")
    assert not await carol.has_perm("books.delete_book")
    assert await dave.has_perm("books.delete_book")
    assert await root.has_perm("anything.at_all")
    assert await store.get_permissions(carol.pk) == {"books.change_book"}
    carol.is_active = False
    assert not await carol.has_perm("books.change_book")


async def test_orm_created_user_can_be_found_by_the_store(store: UserStore) -> None:
    user = User(username="erin", email="erin@example.com")
    await user.save()
    record = await store.get_by_username("ERIN")
    assert record is not None
    assert record.id == user.pk
    assert not record.has_usable_password
    group = Group(name="staff")
    await group.save()
    permission = Permission(codename="books.add_book")
    await permission.save()
    await Group.permissions.add(group, permission)
    await User.groups.add(user, group)
    assert await store.get_permissions(user.pk) == {"books.add_book"}


def test_field_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match="codename"):
        Permission(codename="not a codename")
