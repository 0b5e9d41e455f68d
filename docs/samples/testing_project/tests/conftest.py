# --8<-- [start:conftest]
import pytest

from app import Bookmark, create_app
from stellate.core import App
from stellate.orm.testing import create_tables


@pytest.fixture(autouse=True)
async def tables(db: object) -> None:
    """Every test runs in the `db` fixture's transaction, rolled back afterwards."""
    await create_tables(Bookmark)  # or ship migrations/: the `database` fixture applies them


@pytest.fixture
def app() -> App:  # the `client` fixture serves this app
    return create_app({"env": "test"})


# --8<-- [end:conftest]
