"""A small OpenID Connect provider standing in for huggingface.co's, for a Space's `hf_oauth: true` login.

Gradio (on a Space: SPACE_ID set) registers an authlib client with `OPENID_PROVIDER_URL`, so pointing that at this
fake runs the real login: /login/huggingface -> authorize -> /login/callback -> the token exchange with the client
secret -> an RS256 ID token checked against the JWKS. The user is `&user=NAME` on the authorize URL, else
`next_user` (a browser clicking "Sign in"; a person would type a password on hf.co); the ID token carries the
claims gr.OAuthProfile reads.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .common import FakeServer, Reject, Reply


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


class FakeOpenID(FakeServer):
    routes = [
        ("GET", r"/\.well-known/openid-configuration", "metadata", "metadata"),
        ("GET", "/oauth/authorize", "authorize", "authorize"),
        ("POST", "/oauth/token", "token", "token"),
        ("GET", "/oauth/jwks", "jwks", "jwks"),
    ]

    def __init__(self, client_id: str, client_secret: str, **kwargs):
        super().__init__(key=None, **kwargs)
        self.client_id, self.client_secret = client_id, client_secret
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, tuple[str, str | None, str]] = {}  # code -> (user, nonce, redirect_uri)
        self.tokens_issued: list[str] = []  # user names, one per successful token exchange
        self.next_user: str | None = None

    def metadata(self, request) -> Reply:
        root = self.root
        return Reply(200, {"issuer": root, "authorization_endpoint": root + "/oauth/authorize",
                           "token_endpoint": root + "/oauth/token", "jwks_uri": root + "/oauth/jwks",
                           "response_types_supported": ["code"], "subject_types_supported": ["public"],
                           "id_token_signing_alg_values_supported": ["RS256"],
                           "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    def authorize(self, request) -> Reply:
        query = request.query
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            raise Reject(400, {"error": "invalid_request"})
        user = query.get("user") or self.next_user
        if not user:
            raise Reject(400, {"error": "login_required", "message": "name the user with &user=NAME"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = (user, query.get("nonce"), query["redirect_uri"])
        separator = "&" if "?" in query["redirect_uri"] else "?"
        location = query["redirect_uri"] + separator + urllib.parse.urlencode({"code": code,
                                                                                "state": query.get("state", "")})
        return Reply(302, b"", {"Location": location})

    def _client_ok(self, request, form: dict) -> bool:
        header = request.header("Authorization") or ""
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            client, _, secret = pair.partition(":")
            return urllib.parse.unquote(client) == self.client_id and urllib.parse.unquote(secret) == \
                self.client_secret
        return form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret

    def token(self, request) -> Reply:
        form = {key: values[0] for key, values in urllib.parse.parse_qs(request.body.decode()).items()}
        if not self._client_ok(request, form):
            raise Reject(401, {"error": "invalid_client"})
        found = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or found is None or form.get("redirect_uri") != found[2]:
            raise Reject(400, {"error": "invalid_grant"})
        user, nonce, _ = found
        self.tokens_issued.append(user)
        now = int(time.time())
        claims = {"iss": self.root, "sub": f"id-{user}", "aud": self.client_id, "iat": now, "exp": now + 3600,
                  "name": user.title(), "preferred_username": user, "profile": f"https://huggingface.co/{user}",
                  "picture": "", **({"nonce": nonce} if nonce else {})}
        return Reply(200, {"access_token": f"hf_oauth_{secrets.token_hex(8)}", "token_type": "bearer",
                           "expires_in": 3600, "scope": "openid profile", "id_token": self._sign(claims)})

    def jwks(self, request) -> Reply:
        numbers = self.private_key.public_key().public_numbers()
        return Reply(200, {"keys": [{"kty": "RSA", "kid": "fake-1", "use": "sig", "alg": "RS256",
                                     "n": _uint(numbers.n), "e": _uint(numbers.e)}]})

    def _sign(self, claims: dict) -> str:
        head = _b64(json.dumps({"alg": "RS256", "kid": "fake-1", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = self.private_key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64(signature)}"
