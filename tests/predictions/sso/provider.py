"""A minimal OpenID provider on loopback, for testing the relying party over real HTTP.

It serves what studentperf calls during a login: the token endpoint (authorization code with PKCE and the
client secret, answering an RS256 ID token and an access token), userinfo (for that access token) and the JWKS.
There is no authorization page: a test reads state, nonce and code challenge off the redirect studentperf
answers, and hands the provider the code it would have issued (`issue`).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jwcrypto import jwk, jwt

CLIENT_ID = "studentperf"
CLIENT_SECRET = "client-secret-for-tests"
KEY_ID = "provider-key-1"


def signing_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048, kid=KEY_ID, alg="RS256", use="sig")


class Provider:
    def __init__(self) -> None:
        self.key = signing_key()
        self.codes: dict[str, dict] = {}
        self.userinfo_by_token: dict[str, dict] = {}
        self.calls: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                provider.calls.append(urlsplit(self.path).path)
                if self.path == "/jwks":
                    return self.answer(200, {"keys": [provider.key.export_public(as_dict=True)]})
                if self.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if token not in provider.userinfo_by_token:
                        return self.answer(401, {"error": "invalid_token"})
                    return self.answer(200, provider.userinfo_by_token[token])
                return self.answer(404, {"error": "not_found"})

            def do_POST(self):
                provider.calls.append(urlsplit(self.path).path)
                if self.path != "/token":
                    return self.answer(404, {"error": "not_found"})
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {name: values[0] for name, values in parse_qs(body).items()}
                answer = provider.token(form)
                return self.answer(200 if "id_token" in answer else 400, answer)

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict:
        """The relying party's settings for this provider, as studentperf/settings.py makes them from OIDC_*."""
        return {
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "OIDC_OP_ISSUER": self.issuer,
        }

    def issue(self, authorization: dict, claims: dict, *, id_token: dict | None = None, userinfo: dict | None = None,
              key: jwk.JWK | None = None) -> str:
        """A code for the authorization request `authorization` (the redirect's query), whose ID token carries the
        standard claims (this issuer, this client, the request's nonce, valid five minutes) and `claims`, then
        `id_token`'s changes (a None value drops a claim); userinfo answers `claims` and `userinfo`'s changes.
        The token is signed with the provider's key, or with `key`."""
        now = int(time.time())
        token_claims = {
            "iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": authorization["nonce"],
            **claims, **(id_token or {}),
        }
        token = jwt.JWT(
            header={"alg": "RS256", "kid": KEY_ID},
            claims={name: value for name, value in token_claims.items() if value is not None},
        )
        token.make_signed_token(key or self.key)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "id_token": token.serialize(), "userinfo": {**claims, **(userinfo or {})},
            "challenge": authorization["code_challenge"], "redirect_uri": authorization["redirect_uri"],
        }
        return code

    def token(self, form: dict) -> dict:
        """The token endpoint: a code once, for this client with its secret, the request's redirect and verifier."""
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return {"error": "invalid_grant"}
        access_token = secrets.token_urlsafe(16)
        self.userinfo_by_token[access_token] = grant["userinfo"]
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": grant["id_token"]}
