"""The `rest` plugin: renders API errors raised anywhere in the app as problem details."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from starlette.exceptions import HTTPException as StarletteHTTPException

from stellate.core import Plugin
from stellate.orm.exceptions import IntegrityError
from stellate.orm.exceptions import ValidationError as OrmValidationError
from stellate.rest.exceptions import APIException, api_exception_handler

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

    def setup(self, app: App) -> None:
        # One error shape in the whole app: core's HTTPException (and Starlette's 404
        # and 405) keep their `detail` and gain the problem details members.
        app.add_exception_handler(StarletteHTTPException, api_exception_handler)
        app.add_exception_handler(APIException, api_exception_handler)
        app.add_exception_handler(OrmValidationError, api_exception_handler)
        app.add_exception_handler(IntegrityError, api_exception_handler)
