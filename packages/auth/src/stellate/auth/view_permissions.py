"""Permission classes for ``stellate.rest`` viewsets, backed by auth's permissions.

stellate-auth does not import stellate-rest (the layering contract), so these classes
follow rest's permission protocol by shape: a class whose instances have
``has_permission(request, view)``, ``has_object_permission(request, view, obj)``,
``message`` and ``requires_authentication``. List them in ``permission_classes``
as they are; rest's ``&``/``|``/``~`` operators only combine rest's own classes, so
put combinations of these in one class of your own (a subclass overriding a method).

The checks cost no query: they read the codenames the session (or API key) carries
in ``request.user`` (see :class:`~stellate.auth.principal.Principal`), and the
object-level hooks decide from the loaded object.

Example:
    ```python
    CanPublish = HasPermission("bookstore.publish_book")

    class BookViewSet(ModelViewSet):
        model = Book
        permission_classes = [ObjectPermissions]  # view/add/change/delete_book

        @action(detail=True, methods=["post"], permission_classes=[CanPublish])
        async def publish(self, request, pk): ...
    ```
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar

from stellate.auth.permissions import decide_object_permission, permission_label
from stellate.auth.principal import Principal

__all__ = ["HasPermission", "ModelPermissions", "ObjectPermissions"]

#: The action of each HTTP method; ``None``: allowed to every authenticated user.
METHOD_ACTIONS: dict[str, str | None] = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": None,
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}

#: Viewset actions that act on one object, which the object hooks may allow.
DETAIL_ACTIONS = frozenset({"retrieve", "update", "partial_update", "destroy"})


def _principal(request: Any) -> Principal | None:
    user = request.scope.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        return None
    return user if isinstance(user, Principal) else Principal.from_data(user)


def _hooks(request: Any) -> tuple[Any, ...]:
    app = request.scope.get("app")
    auth = vars(app).get("auth") if app is not None else None
    users = getattr(auth, "users", None)
    return tuple(getattr(users, "object_permission_hooks", ()))


class ModelPermissions:
    """Django's model permissions: ``view`` to read, ``add`` to create, ``change`` to
    update, ``delete`` to destroy (``<label>.<action>_<model>`` of the view's model).

    Anonymous requests get 401, authenticated ones without the permission 403.
    """

    #: The 403 detail; ``{codename}`` is the missing permission.
    template: ClassVar[str] = "You need the `{codename}` permission to do this."
    requires_authentication: ClassVar[bool] = True

    def __init__(self) -> None:
        self.message = "You do not have permission to perform this action."

    def codename(self, request: Any, view: Any) -> str | None:
        """The permission ``request`` needs on ``view``'s model (``None``: none)."""
        action = METHOD_ACTIONS.get(request.method, "change")
        if action is None:
            return None
        model = view.get_model()
        return f"{permission_label(model)}.{action}_{model.__name__.lower()}"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = _principal(request)
        if user is None:
            return False
        codename = self.codename(request, view)
        if codename is None or user.has_perm(codename):
            return True
        self.message = self.template.format(codename=codename)
        return False

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return True


class ObjectPermissions(ModelPermissions):
    """Model permissions, refined per object by the object-level hooks.

    On a single object (retrieve, update, destroy) the hooks decide first, so an
    owner may edit their own row without ``change`` on the model, and a hook may
    refuse a row to a user who holds it; without an answer the model permission
    decides. Lists and creation need the model permission.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(view, "action", None) in DETAIL_ACTIONS and _principal(request) is not None:
            return True  # decided with the object, in has_object_permission
        return super().has_permission(request, view)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        user = _principal(request)
        codename = self.codename(request, view)
        if user is None or codename is None:
            return user is not None
        if user.is_superuser:
            return True
        decided = decide_object_permission(_hooks(request), user, codename, obj)
        allowed = user.has_perm(codename) if decided is None else decided
        if not allowed:
            self.message = self.template.format(codename=codename)
        return allowed


def HasPermission(codename: str) -> type[ModelPermissions]:
    """A permission class requiring ``codename`` (``"bookstore.publish_book"``).

    Example:
        ``permission_classes = [HasPermission("bookstore.publish_book")]``
    """
    app, dot, action = codename.partition(".")
    if not dot or not app or not action:
        raise ValueError(
            f"Permission `{codename}` must look like `<app>.<action>_<model>`, "
            "e.g. `bookstore.change_book`"
        )

    def fixed(self: ModelPermissions, request: Any, view: Any) -> str:
        return codename

    return typing.cast(
        "type[ModelPermissions]",
        type(f"HasPermission({codename})", (ModelPermissions,), {"codename": fixed}),
    )
