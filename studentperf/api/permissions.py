"""Scopes: each API view names the one it needs in `required_scope` ("predict", "read" or "write")."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from .authentication import request_api_key


class HasScope(BasePermission):
    """An API key needs the view's `required_scope` among its scopes (403 otherwise); a session user must
    be logged in; anyone else gets 401.

    For now any logged-in user holds every scope: roles (teacher, model_admin) and their rights arrive with
    issue 4 and will be checked here.
    """

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        assert scope, f"{type(view).__name__} must set `required_scope`."
        api_key = request_api_key(request)
        if api_key is not None:
            if not api_key.has_scope(scope):
                self.message = f"This API key lacks the '{scope}' scope this endpoint needs."
                return False
            return True
        # DRF answers 401 (NotAuthenticated) when this is False for a request that is not authenticated.
        return bool(request.user and request.user.is_authenticated)
