"""Single sign-on for staff through OpenID Connect (mozilla-django-oidc), on when the OIDC_* variables are set.

docs/security.md, "Single sign-on (OpenID Connect)": who is matched to which account, when accounts are created,
and why a login through the provider never grants a role.
"""
