"""A local OAuth2 / OpenID Connect identity provider for the social sign-up tests.

One threaded ``http.server`` on 127.0.0.1 (port 0) plays three providers, each under its own
path prefix and speaking that provider's documented endpoint shapes:

* Facebook (Graph API v19.0), prefix ``/facebook``::

      GET  /facebook/v19.0/dialog/oauth            authorize
      GET  /facebook/v19.0/oauth/access_token      token (Graph uses GET + query params)
      GET  /facebook/v19.0/me?fields=...           profile (access_token + appsecret_proof)

* X / Twitter OAuth 2.0 with PKCE, prefix ``/x``::

      GET  /x/i/oauth2/authorize                   authorize (code_challenge, S256)
      POST /x/2/oauth2/token                       token (HTTP Basic client auth + code_verifier)
      GET  /x/2/users/me                           profile {"data": {"id", "name", "username"}}

* LinkedIn "Sign In with LinkedIn using OpenID Connect", prefix ``/linkedin``::

      GET  /linkedin/oauth/.well-known/openid-configuration
      GET  /linkedin/oauth/v2/authorization        authorize
      POST /linkedin/oauth/v2/accessToken          token (client_secret_post) -> id_token RS256
      GET  /linkedin/oauth/openid/jwks             JWKS of the signing key
      GET  /linkedin/v2/userinfo                   OIDC userinfo

Every request is recorded (``server.requests``) so tests can assert on what allauth sent.
The authorize step can be driven over HTTP (302 back to ``redirect_uri``) or in-process via
:meth:`FakeIdP.authorize`; either way the issued code is bound to client_id, redirect_uri,
scope and (for X) the PKCE code_challenge, and the token endpoint checks all of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

FACEBOOK = "facebook"
X = "x"
LINKEDIN = "linkedin"

GRAPH_VERSION = "v19.0"

# provider -> {endpoint name: path}
PATHS = {
    FACEBOOK: {
        "authorize": f"/facebook/{GRAPH_VERSION}/dialog/oauth",
        "token": f"/facebook/{GRAPH_VERSION}/oauth/access_token",
        "profile": f"/facebook/{GRAPH_VERSION}/me",
    },
    X: {
        "authorize": "/x/i/oauth2/authorize",
        "token": "/x/2/oauth2/token",
        "profile": "/x/2/users/me",
    },
    LINKEDIN: {
        "discovery": "/linkedin/oauth/.well-known/openid-configuration",
        "authorize": "/linkedin/oauth/v2/authorization",
        "token": "/linkedin/oauth/v2/accessToken",
        "jwks": "/linkedin/oauth/openid/jwks",
        "profile": "/linkedin/v2/userinfo",
    },
}
ROUTES = {
    path: (provider, name) for provider, paths in PATHS.items() for name, path in paths.items()
}


@dataclass
class Recorded:
    provider: str
    endpoint: str
    method: str
    path: str
    query: dict
    form: dict
    headers: dict
    basic_auth: tuple[str, str] | None
    status: int = 0


@dataclass
class Grant:
    provider: str
    client_id: str
    redirect_uri: str
    scope: str
    profile: dict
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False


@dataclass
class ProviderState:
    clients: dict = field(default_factory=dict)  # client_id -> secret
    profile: dict = field(default_factory=dict)  # the user who "logs in" at the IdP next
    token_error: tuple[int, dict] | None = None  # force the token endpoint to fail


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeIdP:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.providers = {p: ProviderState() for p in PATHS}
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, tuple[str, dict]] = {}  # access token -> (provider, profile)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeIdP:
        idp = self

        class Handler(_Handler):
            server_idp = idp

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeIdP:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- configuration -----------------------------------------------------------------------
    def url(self, provider: str, endpoint: str) -> str:
        return self.base_url + PATHS[provider][endpoint]

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/linkedin/oauth"

    @property
    def graph_api_url(self) -> str:
        return f"{self.base_url}/facebook/{GRAPH_VERSION}"

    def register_client(self, provider: str, client_id: str, secret: str) -> None:
        self.providers[provider].clients[client_id] = secret

    def set_user(self, provider: str, profile: dict) -> None:
        self.providers[provider].profile = dict(profile)

    def fail_token(self, provider: str, status: int = 400, body: dict | None = None) -> None:
        self.providers[provider].token_error = (status, body or {"error": "invalid_grant"})

    def seen(self, provider: str | None = None, endpoint: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (provider is None or r.provider == provider)
                and (endpoint is None or r.endpoint == endpoint)
            ]

    # --- authorize (shared by the HTTP endpoint and in-process use) --------------------------
    def authorize(self, authorize_url: str) -> str:
        """Act as the user approving the consent screen; return the redirect back to the RP."""
        parts = urlsplit(authorize_url)
        provider, endpoint = ROUTES.get(parts.path, (None, None))
        if endpoint != "authorize":
            raise ValueError(f"not an authorize URL of this server: {authorize_url}")
        params = dict(parse_qsl(parts.query))
        status, location, error = self._authorize(provider, params)
        if error:
            raise ValueError(error)
        return location

    def _authorize(self, provider: str, params: dict) -> tuple[int, str, str | None]:
        state = self.providers[provider]
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id not in state.clients:
            return 400, "", "unknown client_id"
        if params.get("response_type") != "code" or not redirect_uri:
            return 400, "", "response_type=code and redirect_uri are required"
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if provider == X and (not challenge or method != "S256"):
            return 400, "", "X requires PKCE with code_challenge_method=S256"
        if provider == LINKEDIN and "openid" not in params.get("scope", "").split():
            return 400, "", "LinkedIn OIDC requires the openid scope"
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.grants[code] = Grant(
                provider=provider,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scope=params.get("scope", ""),
                profile=dict(state.profile),
                code_challenge=challenge,
                code_challenge_method=method,
            )
        back = {"code": code}
        if "state" in params:
            back["state"] = params["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return 302, f"{redirect_uri}{sep}{urlencode(back)}", None

    # --- token ---------------------------------------------------------------------------------
    def _token(self, provider: str, rec: Recorded) -> tuple[int, dict]:
        state = self.providers[provider]
        if state.token_error:
            return state.token_error
        params = rec.query if provider == FACEBOOK else rec.form
        if provider == FACEBOOK and rec.method != "GET":
            return 405, {"error": {"message": "use GET", "type": "OAuthException"}}
        if provider != FACEBOOK and rec.method != "POST":
            return 405, {"error": "invalid_request"}
        # Client authentication: X uses HTTP Basic; Facebook and LinkedIn take the secret
        # as a parameter (client_secret_post).
        if provider == X:
            if not rec.basic_auth:
                return 401, {"error": "invalid_client"}
            client_id, secret = rec.basic_auth
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not client_id or state.clients.get(client_id) != secret:
            return 401, {"error": "invalid_client"}
        if params.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        code = params.get("code", "")
        with self._lock:
            grant = self.grants.get(code)
            if grant is None or grant.used or grant.provider != provider:
                return 400, {"error": "invalid_grant"}
            if grant.client_id != client_id or grant.redirect_uri != params.get("redirect_uri"):
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "redirect/client mismatch",
                }
            if grant.code_challenge:
                verifier = params.get("code_verifier", "")
                if not verifier or s256(verifier) != grant.code_challenge:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
            grant.used = True
            access_token = secrets.token_urlsafe(32)
            self.tokens[access_token] = (provider, grant.profile)
        body = {"access_token": access_token, "token_type": "bearer", "expires_in": 3600}
        if provider == X:
            body["scope"] = grant.scope
        if provider == LINKEDIN:
            body["scope"] = grant.scope
            body["id_token"] = self.id_token(client_id, grant.profile)
        return 200, body

    def id_token(self, audience: str, profile: dict) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + 3600,
            "jti": secrets.token_hex(8),
            **profile,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url(LINKEDIN, "authorize"),
            "token_endpoint": self.url(LINKEDIN, "token"),
            "userinfo_endpoint": self.url(LINKEDIN, "profile"),
            "jwks_uri": self.url(LINKEDIN, "jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": [
                "iss",
                "aud",
                "iat",
                "exp",
                "sub",
                "name",
                "given_name",
                "family_name",
                "picture",
                "email",
                "email_verified",
                "locale",
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    # --- profile endpoints --------------------------------------------------------------------
    def _profile(self, provider: str, rec: Recorded) -> tuple[int, dict]:
        if provider == FACEBOOK:
            token = rec.query.get("access_token", "")
        else:
            auth = rec.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            found = self.tokens.get(token)
        if not found or found[0] != provider:
            if provider == FACEBOOK:
                return 400, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
            return 401, {"error": "invalid_token"}
        profile = found[1]
        if provider == FACEBOOK:
            # Graph requires appsecret_proof = HMAC-SHA256(app secret, access token) when
            # "Require App Secret" is on; check it against every registered app.
            proof = rec.query.get("appsecret_proof", "")
            ok = any(
                hmac.compare_digest(
                    hmac.new(s.encode(), token.encode(), hashlib.sha256).hexdigest(), proof
                )
                for s in self.providers[FACEBOOK].clients.values()
            )
            if not ok:
                return 400, {"error": {"message": "Invalid appsecret_proof", "code": 100}}
            fields = [f for f in rec.query.get("fields", "id,name").split(",") if f]
            return 200, {f: profile[f] for f in fields if f in profile}
        if provider == X:
            wanted = [f for f in rec.query.get("user.fields", "").split(",") if f]
            data = {k: profile[k] for k in ("id", "name", "username") if k in profile}
            data.update({f: profile[f] for f in wanted if f in profile})
            return 200, {"data": data}
        return 200, dict(profile)  # OIDC userinfo


class _Handler(BaseHTTPRequestHandler):
    server_idp: FakeIdP
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        idp = self.server_idp
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = {}
        if raw and self.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            form = dict(parse_qsl(raw.decode()))
        basic = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (user, pw)
        provider, endpoint = ROUTES.get(parts.path, ("", "unknown"))
        rec = Recorded(
            provider=provider,
            endpoint=endpoint,
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            form=form,
            headers={k.lower(): v for k, v in self.headers.items()},
            basic_auth=basic,
        )
        with idp._lock:
            idp.requests.append(rec)

        location = ""
        if endpoint == "authorize":
            status, location, error = idp._authorize(provider, rec.query)
            body = {"error": error} if error else {}
        elif endpoint == "token":
            status, body = idp._token(provider, rec)
        elif endpoint == "profile":
            status, body = idp._profile(provider, rec)
        elif endpoint == "discovery":
            status, body = 200, idp.discovery()
        elif endpoint == "jwks":
            status, body = 200, idp.jwks()
        else:
            status, body = 404, {"error": "not_found"}
        rec.status = status

        payload = json.dumps(body).encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
