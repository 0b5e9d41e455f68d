"""``StaticPathRouter``: parameterless paths are looked up, yet the route that answers
is always the one Starlette's in-order loop would pick (bench/: issue 9 profile)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Router

from stellate.core import App, Request
from stellate.core.routing import StaticPathRouter
from stellate.core.testing import AppClient


def test_app_routes_through_the_static_path_router() -> None:
    app = App()
    assert isinstance(app.router, StaticPathRouter)
    assert isinstance(app.router, Router)


async def test_an_earlier_route_with_parameters_still_wins() -> None:
    app = App()

    @app.get("/things/{name}")
    async def any_thing(request: Request, name: str) -> dict[str, str]:
        return {"route": "param", "name": name}

    @app.get("/things/special")
    async def special(request: Request) -> dict[str, str]:
        return {"route": "static"}

    @app.get("/other")
    async def other(request: Request) -> dict[str, str]:
        return {"route": "other"}

    async with AppClient(app) as http:
        assert (await http.get("/things/special")).json() == {"route": "param", "name": "special"}
        assert (await http.get("/other")).json() == {"route": "other"}
    assert "/things/special" not in app.router._static_routes()
    assert "/other" in app.router._static_routes()


async def test_an_earlier_mount_over_the_path_still_wins() -> None:
    inner = App()
    inner.add_route("/x", lambda request: {"from": "mount"}, methods=["GET"])
    app = App()
    app.mount("/sub", inner)

    @app.get("/sub/x")
    async def shadowed(request: Request) -> dict[str, str]:
        return {"from": "route"}

    async with AppClient(app) as http:
        assert (await http.get("/sub/x")).json() == {"from": "mount"}


async def test_method_not_allowed_and_slash_redirect_behave_as_in_starlette() -> None:
    app = App()

    @app.get("/only-get")
    async def only_get(request: Request) -> dict[str, bool]:
        return {"ok": True}

    @app.post("/only-get")
    async def then_post(request: Request) -> dict[str, str]:
        return {"method": "post"}

    @app.get("/slashed/")
    async def slashed(request: Request) -> dict[str, bool]:
        return {"slashed": True}

    async with AppClient(app) as http:
        assert (await http.get("/only-get")).json() == {"ok": True}
        # The indexed route is GET only: POST falls through to the next route.
        assert (await http.post("/only-get", json={})).json() == {"method": "post"}
        assert (await http.delete("/only-get")).status_code == 405
        response = await http.get("/slashed", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith("/slashed/")
        assert (await http.get("/missing")).status_code == 404


async def test_a_route_added_after_the_index_was_built_is_found() -> None:
    async def late(request: Any) -> dict[str, str]:
        return {"late": "yes"}

    app = App()

    @app.get("/early")
    async def early(request: Request) -> dict[str, str]:
        return {"early": "yes"}

    router = app.router
    assert isinstance(router, StaticPathRouter)
    assert set(router._static_routes()) == {"/early"}
    app.add_route("/late", late, methods=["GET"])
    assert set(router._static_routes()) == {"/early", "/late"}
    async with AppClient(app) as http:
        assert (await http.get("/late")).json() == {"late": "yes"}
