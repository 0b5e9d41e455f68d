"""Declarative access policies: IAM-style statements instead of permission class stacks.

A policy lists statements; each names actions, principals, an effect (``allow`` or
``deny``) and optional named conditions. A request is allowed when at least one
matching statement allows it and none denies it (deny wins; no match means deny).
Policies are plain objects: ``policy.allows(user=..., action=...)`` checks one without
a request, which is how their tests are written.

Example:
    ```python
    class BookAccessPolicy(AccessPolicy):
        statements = (
            {"action": ["list", "retrieve"], "principal": "*", "effect": "allow"},
            {"action": "create", "principal": "authenticated", "effect": "allow"},
            {"action": ["update", "partial_update", "destroy"], "principal": "authenticated",
             "effect": "allow", "condition": "is_owner"},
            {"action": "publish", "principal": ["staff", "group:editors"], "effect": "allow"},
            {"action": "*", "principal": "group:banned", "effect": "deny"},
        )

        def is_owner(self, context: PolicyContext) -> bool:
            return context.obj is not None and context.obj.owner_id == context.user["id"]


    class BookViewSet(ModelViewSet):
        permission_classes = (BookAccessPolicy,)
    ```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from stellate.rest.permissions import SAFE_METHODS, BasePermission, is_authenticated, is_staff

__all__ = ["AccessPolicy", "PolicyContext"]

_EFFECTS = frozenset({"allow", "deny"})
_KEYS = frozenset({"action", "principal", "effect", "condition"})


class PolicyContext:
    """What a condition sees: the user, the action, the object (or ``None``) and more."""

    __slots__ = ("action", "method", "obj", "request", "user", "view")

    def __init__(
        self,
        *,
        user: Any,
        action: str,
        obj: Any = None,
        method: str = "GET",
        request: Any = None,
        view: Any = None,
    ) -> None:
        self.user = user
        self.action = action
        self.obj = obj
        self.method = method
        self.request = request
        self.view = view


def _read(user: Any, key: str) -> Any:
    return user.get(key) if isinstance(user, Mapping) else getattr(user, key, None)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class AccessPolicy(BasePermission):
    """Statements deciding who may run which viewset action; a permission class.

    Principals: ``*`` (anyone), ``authenticated``, ``anonymous``, ``staff``,
    ``superuser``, ``id:<id>``, ``group:<name>`` (from ``user["groups"]``).
    Actions: viewset action names (``list``, ``create``, ``publish``...), the HTTP
    method of an ``APIView`` in lower case, ``*``, or ``<safe_methods>`` /
    ``<method:post>``. Conditions name methods of the policy taking a
    ``PolicyContext``; a list means all must hold.

    Conditions of detail actions run when the object is known (in ``get_object``);
    those of collection actions run with ``obj=None`` before the handler.
    """

    statements: ClassVar[Sequence[Mapping[str, Any]]] = ()
    message = "Access denied by the access policy."
    requires_authentication = True

    # -- evaluation without a request (tests, scripts) ---------------------------------

    def allows(
        self, *, user: Any, action: str, obj: Any = None, method: str = "GET", view: Any = None
    ) -> bool:
        """Whether the statements allow ``user`` to run ``action`` (on ``obj``)."""
        context = PolicyContext(user=user, action=action, obj=obj, method=method, view=view)
        return self._decide(context, check_conditions=True)

    def _decide(self, context: PolicyContext, *, check_conditions: bool) -> bool:
        allowed = False
        for index, statement in enumerate(self.statements):
            self._check_statement(index, statement)
            if not self._matches_action(statement, context):
                continue
            if not self._matches_principal(statement, context.user):
                continue
            conditions = _names(statement.get("condition", ()))
            if statement["effect"] == "deny":
                if not check_conditions and conditions:
                    continue  # decided once the object is known
                if self._conditions_hold(conditions, context):
                    return False
            elif not check_conditions or self._conditions_hold(conditions, context):
                allowed = True
        return allowed

    def _check_statement(self, index: int, statement: Mapping[str, Any]) -> None:
        where = f"`{type(self).__name__}.statements[{index}]`"
        unknown = set(statement) - _KEYS
        if unknown:
            raise TypeError(
                f"{where} has unknown keys {sorted(unknown)}; use `action`, `principal`, "
                "`effect` and `condition`"
            )
        for key in ("action", "principal", "effect"):
            if key not in statement:
                raise TypeError(f"{where} needs `{key}`")
        if statement["effect"] not in _EFFECTS:
            raise TypeError(f"{where} has effect `{statement['effect']}`; use `allow` or `deny`")

    @staticmethod
    def _matches_action(statement: Mapping[str, Any], context: PolicyContext) -> bool:
        for name in _names(statement["action"]):
            if name in ("*", context.action):
                return True
            if name == "<safe_methods>" and context.method in SAFE_METHODS:
                return True
            if name.startswith("<method:") and name[8:-1].upper() == context.method:
                return True
        return False

    @staticmethod
    def _matches_principal(statement: Mapping[str, Any], user: Any) -> bool:
        authenticated = is_authenticated(user)
        for name in _names(statement["principal"]):
            if name == "*":
                return True
            if name == "authenticated" and authenticated:
                return True
            if name == "anonymous" and not authenticated:
                return True
            if name in ("staff", "admin") and is_staff(user):
                return True
            if not authenticated:
                continue
            if name == "superuser" and _read(user, "is_superuser"):
                return True
            if name.startswith("id:") and str(_read(user, "id")) == name[3:]:
                return True
            if name.startswith("group:") and name[6:] in (_read(user, "groups") or ()):
                return True
        return False

    def _conditions_hold(self, conditions: Sequence[str], context: PolicyContext) -> bool:
        for name in conditions:
            check = getattr(self, name, None)
            if not callable(check):
                raise TypeError(
                    f"`{type(self).__name__}` names the condition `{name}` but has no method "
                    f"`{name}(self, context)`: define it or fix the statement"
                )
            if not check(context):
                return False
        return True

    # -- as a permission class ------------------------------------------------------------

    def _context(self, request: Any, view: Any, obj: Any = None) -> PolicyContext:
        action = getattr(view, "action", None) or request.method.lower()
        return PolicyContext(
            user=request.user,
            action=action,
            obj=obj,
            method=request.method,
            request=request,
            view=view,
        )

    def has_permission(self, request: Any, view: Any) -> bool:
        context = self._context(request, view)
        # Detail endpoints (the URL names an object) check conditions on the object.
        detail = bool(getattr(view, "kwargs", None))
        return self._decide(context, check_conditions=not detail)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return self._decide(self._context(request, view, obj), check_conditions=True)
