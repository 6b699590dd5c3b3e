"""The login lockout (django-axes) and single sign-on.

A login through the provider passes no password: its callback reaches `authenticate()` with the session's nonce
and PKCE verifier only, and a refusal (an unknown account, a forged token) would count for axes as a failure of
"no username" from the client's address. Five of them, from students pressing the button behind one school
address, would then lock every single sign-on from that address. They are no password guesses (the provider
guards its own passwords; studentperf checks the code, state, nonce and signature), so they neither count nor
are refused. Every password login carries a password (the login forms and the password change require one), so
they are counted as before.
"""
from __future__ import annotations


def not_a_password_guess(request, credentials) -> bool:
    """AXES_WHITELIST_CALLABLE: true for an authentication without a password."""
    return not (credentials or {}).get("password")
