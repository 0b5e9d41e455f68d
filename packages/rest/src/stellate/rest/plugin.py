"""The `rest` plugin: renders API errors raised anywhere in the app as problem details."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec
from starlette.exceptions import HTTPException as StarletteHTTPException

from stellate.core import ImproperlyConfigured, Plugin
from stellate.orm.exceptions import IntegrityError
from stellate.orm.exceptions import ValidationError as OrmValidationError
from stellate.rest.exceptions import APIException, api_exception_handler
from stellate.rest.settings import RestSettings
from stellate.rest.throttling import (
    MemoryThrottleStore,
    PostgresThrottleStore,
    RedisThrottleStore,
)

if TYPE_CHECKING:
    from stellate.core import App


class RestPlugin(Plugin):
    """Enables stellate-rest in an app.

    Views render their own errors; this plugin gives the rest of the app the same
    problem+json shape: plain route handlers (the standalone ``paginate_queryset``
    sample, for instance) and HTTP errors anywhere (unknown routes included). An
    ``APIException`` becomes its answer, a stellate-orm ``ValidationError`` a 400
    naming the fields, and an ``IntegrityError`` a 409 naming the constraint.
    """

    name: ClassVar[str] = "rest"
    requires: ClassVar[tuple[str, ...]] = ("orm",)
    settings: ClassVar[type[msgspec.Struct] | None] = RestSettings
    env_prefix: ClassVar[str | None] = "STELLATE_"

    def setup(self, app: App) -> None:
        config = self.config if isinstance(self.config, RestSettings) else RestSettings()
        kind = config.throttle_store
        if kind == "auto":
            kind = "redis" if config.redis_url else "postgres"
        if kind == "redis":
            if not config.redis_url:
                raise ImproperlyConfigured(
                    "STELLATE_THROTTLE_STORE is `redis` but no Redis URL is set: set "
                    "STELLATE_REDIS_URL (or REDIS_URL) to redis://host:6379/0"
                )
            redis_store = RedisThrottleStore(config.redis_url)
            app.state.stellate_rest_throttle_store = redis_store
            app.on_shutdown(redis_store.close)
        elif kind == "memory":
            app.state.stellate_rest_throttle_store = MemoryThrottleStore()
        else:
            app.state.stellate_rest_throttle_store = PostgresThrottleStore()
        # One error shape in the whole app: core's HTTPException (and Starlette's 404
        # and 405) keep their `detail` and gain the problem details members.
        app.add_exception_handler(StarletteHTTPException, api_exception_handler)
        app.add_exception_handler(APIException, api_exception_handler)
        app.add_exception_handler(OrmValidationError, api_exception_handler)
        app.add_exception_handler(IntegrityError, api_exception_handler)
