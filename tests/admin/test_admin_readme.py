"""The README's Python sample runs as written (with the test models as its models)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from admin_models import Article, Comment, Reporter
from admin_support import SETTINGS, login

from stellate.core.testing import AppClient
from stellate.orm import Database

README = Path(__file__).resolve().parents[2] / "packages" / "admin" / "README.md"


async def test_readme_sample_runs(tables: Database, make_user: Any, client: AppClient) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    # The sample reads its settings from the environment; the test passes them in.
    code = blocks[0].replace(
        'App(plugins=["orm", "auth", "admin"])',
        'App(plugins=["orm", "auth", "admin"], settings=SETTINGS)',
    )
    namespace: dict[str, Any] = {
        "Article": Article,
        "Comment": Comment,
        "Reporter": Reporter,
        "SETTINGS": SETTINGS,
    }
    exec(compile(code, str(README), "exec"), namespace)
    app = namespace["app"]
    assert type(app.admin.admin_for(Article)).__name__ == "ArticleAdmin"
    user = await make_user(superuser=True)
    async with AppClient(app) as other:
        await login(other, user)
        reporter = await Reporter.objects.create(name="Ann")
        await Article.objects.create(title="From the README", reporter_id=reporter.id)
        page = await other.get("/admin/admin_models/article/", params={"q": "readme"})
        assert page.status_code == 200
        assert "From the README" in page.text
        assert 'value="publish"' in page.text
