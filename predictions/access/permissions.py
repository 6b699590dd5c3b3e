"""Scopes: each API view names the one it needs in `required_scope` ("predict", "read" or "write")."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from predictions.access.oauth import ClientToken
from predictions.access.requester import request_credential
from predictions.access.roles import PREDICTION_ADD, STUDENT_CHANGE, STUDENT_VIEW

# The role permission a session user needs for each API scope: teachers hold all three; model admins read
# and predict but do not write students or outcomes; an account without a role holds none.
SCOPE_PERMISSIONS = {"predict": PREDICTION_ADD, "read": STUDENT_VIEW, "write": STUDENT_CHANGE}


class HasScope(BasePermission):
    """An API key or an OAuth2 token needs the view's `required_scope` among its scopes (403 otherwise); a person
    signed in with a session needs the permission their role gives for that scope (SCOPE_PERMISSIONS, 403
    otherwise); anyone else gets 401. Which students they then see is the selectors' business.
    """

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        assert scope, f"{type(view).__name__} must set `required_scope`."
        credential = request_credential(request)
        if credential is not None:
            if not credential.has_scope(scope):
                kind = "OAuth2 token" if isinstance(credential, ClientToken) else "API key"
                self.message = f"This {kind} lacks the '{scope}' scope this endpoint needs."
                return False
            return True
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 (NotAuthenticated) for a request that is not authenticated
        if not request.user.has_perm(SCOPE_PERMISSIONS[scope]):
            self.message = f"Your role does not allow this ('{scope}' access)."
            return False
        return True
