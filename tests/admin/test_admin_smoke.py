from __future__ import annotations

from typing import Any

from admin_models import Article, Reporter
from admin_support import login

from stellate.core.testing import AppClient


async def test_smoke(client: AppClient, make_user: Any) -> None:
    user = await make_user(superuser=True)
    await login(client, user)
    reporter = await Reporter.objects.create(name="Ann")
    await Article.objects.create(title="Hello", reporter_id=reporter.id)
    for url in ["/admin/", "/admin/admin_models/article/", "/admin/admin_models/article/add/"]:
        response = await client.get(url)
        assert response.status_code == 200, response.text
