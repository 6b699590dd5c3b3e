"""The relying party's authentication backend: mozilla-django-oidc's, with the matching and checks made strict.

What changes from the library's defaults, and why:
- Accounts are matched on one claim (OIDC_USERNAME_CLAIM, `preferred_username` by default) equal to the username,
  never on the e-mail address: the library's e-mail match would hand an existing account, a model admin's
  included, to anyone who can get that address at the provider.
- A new account is created only when OIDC_CREATE_USERS is on, and then without a group, staff status or
  superuser status, whatever the claims say: roles come from the groups an administrator gives. A known
  account keeps its groups and flags; the claims change nothing of it.
- The ID token must be issued for this client (`aud`, and `azp` when there are several audiences), by
  OIDC_OP_ISSUER when set, and carry `exp`; the library checks none of these. The userinfo answer must be about
  the same `sub` as the ID token (OpenID Connect Core, 5.3.2).
- Log lines name no one: the library's would carry the e-mail address.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

USERNAME_MAX_LENGTH = 150  # django.contrib.auth's User.username


class StaffOIDCBackend(OIDCAuthenticationBackend):
    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        audiences = payload.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("OIDC token not issued for this client (aud).")
        if len(audiences) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("OIDC token for several audiences not authorized for this client (azp).")
        issuer = getattr(settings, "OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("OIDC token from another issuer (iss).")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        # PyJWT checks `exp` only when present; an ID token must have one (OpenID Connect Core, 2).
        if "exp" not in payload or not payload.get("sub"):
            raise SuspiciousOperation("OIDC ID token without exp or sub.")
        return super().get_or_create_user(access_token, id_token, payload)

    def get_userinfo(self, access_token, id_token, payload):
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("OIDC userinfo is about another subject than the ID token (sub).")
        # Some providers (Microsoft Entra) put preferred_username in the ID token only; the signed token wins.
        return {**userinfo, **payload}

    def verify_claims(self, claims) -> bool:
        return self._username(claims) is not None

    def filter_users_by_claims(self, claims):
        username = self._username(claims)
        if username is None:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(**{self.UserModel.USERNAME_FIELD: username})

    def create_user(self, claims):
        """An account with no group and no staff or superuser status; without a usable password."""
        email = claims.get("email") if claims.get("email_verified") is True else ""
        return self.UserModel.objects.create_user(self._username(claims), email=email or "")

    def update_user(self, user, claims):
        return user  # groups, staff and superuser status are the administrators' to give, never the claims'

    def describe_user_by_claims(self, claims) -> str:
        return f"the {self._username_claim()} claim given"

    @staticmethod
    def _username_claim() -> str:
        return getattr(settings, "OIDC_USERNAME_CLAIM", "preferred_username")

    def _username(self, claims) -> str | None:
        """The claim that names the account, when it is a valid username; else None."""
        value = claims.get(self._username_claim())
        if not isinstance(value, str) or not value or len(value) > USERNAME_MAX_LENGTH:
            return None
        try:
            UnicodeUsernameValidator()(value)
        except ValidationError:
            return None
        return value
