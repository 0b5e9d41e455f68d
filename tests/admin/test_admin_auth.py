"""Login, logout, staff-only access, per-model permissions, CSRF and secret fields."""

from __future__ import annotations

from typing import Any

from admin_models import Article, Reporter
from admin_support import BASE, PASSWORD, csrf_of, form_token, login

from stellate.core.testing import AppClient


async def test_anonymous_requests_go_to_the_login_page(client: AppClient) -> None:
    for url in ("/admin/", f"{BASE}/article/", f"{BASE}/article/add/", f"{BASE}/article/1/change/"):
        response = await client.get(url)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login/?next=")
    page = await client.get("/admin/login/")
    assert page.status_code == 200
    assert '<label for="id_username">Username</label>' in page.text
    assert 'name="password"' in page.text
    assert 'type="password"' in page.text


async def test_staff_login_redirects_to_next_and_shows_the_user(
    client: AppClient, make_user: Any
) -> None:
    user = await make_user(superuser=True)
    response = await client.post(
        "/admin/login/",
        data={"username": user.username, "password": PASSWORD, "next": f"{BASE}/article/"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/article/"
    dashboard = await client.get("/admin/")
    assert f'<strong id="current-user">{user.username}</strong>' in dashboard.text
    # Logged in already: the login page sends staff on.
    assert (await client.get("/admin/login/")).status_code == 303


async def test_login_refuses_open_redirects(client: AppClient, make_user: Any) -> None:
    user = await make_user(superuser=True)
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
        "/\t/evil.example/",
        "/\\evil.example/",
        "/\n/evil.example",
    ):
        client.cookies.clear()
        response = await client.post(
            "/admin/login/",
            data={"username": user.username, "password": PASSWORD, "next": target},
        )
        assert response.headers["location"] == "/admin/"


async def test_bad_password_and_non_staff_accounts_are_refused(
    client: AppClient, make_user: Any
) -> None:
    staff = await make_user()
    wrong = await client.post(
        "/admin/login/", data={"username": staff.username, "password": "not the password"}
    )
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.text
    assert f'value="{staff.username}"' in wrong.text  # the username is kept
    member = await make_user(staff=False)
    refused = await client.post(
        "/admin/login/", data={"username": member.username, "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert "stellate_session" not in refused.cookies
    empty = await client.post("/admin/login/", data={"username": "", "password": ""})
    assert empty.status_code == 400


async def test_repeated_failures_lock_the_login(client: AppClient, make_user: Any) -> None:
    staff = await make_user()
    for _ in range(5):
        await client.post("/admin/login/", data={"username": staff.username, "password": "nope"})
    locked = await client.post(
        "/admin/login/", data={"username": staff.username, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


async def test_logged_in_non_staff_users_get_403(client: AppClient) -> None:
    users = client.app.auth.users  # type: ignore[attr-defined]
    await users.create_user("reader-admin", PASSWORD)
    response = await client.post(
        "/auth/login", json={"username": "reader-admin", "password": PASSWORD}
    )
    assert response.status_code == 200
    page = await client.get("/admin/")
    assert page.status_code == 403
    assert "not staff" in page.text


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    client: AppClient, make_user: Any
) -> None:
    token = await login(client, await make_user(superuser=True))
    refused = await client.post("/admin/logout/")
    assert refused.status_code == 403
    done = await client.post("/admin/logout/", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/login/"
    assert (await client.get("/admin/")).status_code == 303


async def test_every_form_carries_a_csrf_token_and_posts_without_it_fail(
    client: AppClient, make_user: Any
) -> None:
    await login(client, await make_user(superuser=True))
    reporter = await Reporter.objects.create(name="Ann")
    article = await Article.objects.create(title="T", reporter_id=reporter.id)
    for url in (
        f"{BASE}/article/",
        f"{BASE}/article/add/",
        f"{BASE}/article/{article.id}/change/",
        f"{BASE}/article/{article.id}/delete/",
    ):
        page = await client.get(url)
        assert page.status_code == 200, url
        forms = page.text.count('method="post"')
        assert page.text.count('name="csrf_token"') >= forms > 0, url
    response = await client.post(f"{BASE}/article/{article.id}/delete/", data={"confirm": "yes"})
    assert response.status_code == 403
    assert await Article.objects.filter(id=article.id).exists()


async def test_view_permission_allows_reading_only(client: AppClient, make_user: Any) -> None:
    user = await make_user(perms=("admin_models.view_article",))
    token = await login(client, user)
    reporter = await Reporter.objects.create(name="Ann")
    article = await Article.objects.create(title="Readable", reporter_id=reporter.id)
    listing = await client.get(f"{BASE}/article/")
    assert listing.status_code == 200
    assert "Readable" in listing.text
    assert 'id="add-object"' not in listing.text
    assert "delete_selected" not in listing.text
    form = await client.get(f"{BASE}/article/{article.id}/change/")
    assert form.status_code == 200
    assert "View article" in form.text
    assert 'id="save"' not in form.text
    assert " disabled" in form.text
    # Writes are refused whatever the form says.
    changed = await client.post(
        f"{BASE}/article/{article.id}/change/", data={"csrf_token": token, "title": "Hacked"}
    )
    assert changed.status_code == 403
    assert (await client.get(f"{BASE}/article/add/")).status_code == 403
    assert (await client.get(f"{BASE}/article/{article.id}/delete/")).status_code == 403
    bulk = await client.post(
        f"{BASE}/article/",
        data={"csrf_token": token, "action": "delete_selected", "_selected": str(article.id)},
    )
    assert bulk.status_code == 403
    # Other models stay hidden.
    assert (await client.get(f"{BASE}/reporter/")).status_code == 403
    dashboard = await client.get("/admin/")
    assert f'href="{BASE}/article/"' in dashboard.text
    assert f'href="{BASE}/reporter/"' not in dashboard.text
    assert (await Article.objects.get(id=article.id)).title == "Readable"


async def test_change_permission_implies_view_and_group_permissions_count(
    client: AppClient, make_user: Any
) -> None:
    user = await make_user()
    users = client.app.auth.users  # type: ignore[attr-defined]
    await users.grant("admin_models.change_reporter", group="desk")
    await users.add_to_group(user.id, "desk")
    token = await login(client, user)
    reporter = await Reporter.objects.create(name="Ann")
    assert (await client.get(f"{BASE}/reporter/")).status_code == 200
    response = await client.post(
        f"{BASE}/reporter/{reporter.id}/change/",
        data={"csrf_token": token, "name": "Anne", "email": "anne@example.com"},
    )
    assert response.status_code == 303
    assert (await Reporter.objects.get(id=reporter.id)).name == "Anne"
    assert (await client.get(f"{BASE}/reporter/add/")).status_code == 403


async def test_secret_fields_are_never_rendered(client: AppClient, make_user: Any) -> None:
    token = await login(client, await make_user(superuser=True))
    reporter = await Reporter.objects.create(name="Ann", password="$argon2id$secret-hash")
    for url in (
        f"{BASE}/reporter/",
        f"{BASE}/reporter/{reporter.id}/change/",
        f"{BASE}/reporter/add/",
    ):
        page = await client.get(url)
        assert "secret-hash" not in page.text
        assert 'name="password"' not in page.text
    # Posting the secret field does not write it either.
    await client.post(
        f"{BASE}/reporter/{reporter.id}/change/",
        data={"csrf_token": token, "name": "Ann", "email": "", "password": "plain"},
    )
    assert (await Reporter.objects.get(id=reporter.id)).password == "$argon2id$secret-hash"


async def test_csrf_token_of_another_session_is_refused(client: AppClient, make_user: Any) -> None:
    first = await login(client, await make_user(superuser=True))
    page = await client.get(f"{BASE}/section/add/")
    assert form_token(page.text)
    await login(client, await make_user(superuser=True))
    assert csrf_of(client) != first
    response = await client.post(
        f"{BASE}/section/add/", data={"csrf_token": first, "name": "Sport"}
    )
    assert response.status_code == 403
