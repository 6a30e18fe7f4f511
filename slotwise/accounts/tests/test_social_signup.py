"""Social sign-up end to end: Facebook, X (twitter_oauth2) and LinkedIn (OpenID Connect).

Each test drives the real allauth views with the Django test client against a local identity
provider (``oauth_server.FakeIdP``) on 127.0.0.1: POST to the provider login URL, follow the
302 to the IdP's authorize endpoint over HTTP, come back to allauth's callback with the
code/state the IdP issued, and let allauth exchange the code and fetch the profile over HTTP.

Pointing allauth at the local server:
* LinkedIn: pure settings (``server_url`` -> OIDC discovery), as in slotwise/settings.py.
* Facebook: allauth reads ``SOCIALACCOUNT_PROVIDERS["facebook"]["GRAPH_API_URL"]`` only at
  import time (facebook/constants.py, views.py class attributes), so the test monkeypatches
  ``FacebookOAuth2Adapter.authorize_url/access_token_url`` and ``flows.GRAPH_API_URL``.
* X: the endpoints are hard-coded class attributes of ``TwitterOAuth2Adapter``; monkeypatched.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.providers.facebook import flows as facebook_flows
from allauth.socialaccount.providers.facebook.views import FacebookOAuth2Adapter
from allauth.socialaccount.providers.twitter_oauth2.views import TwitterOAuth2Adapter
from django.contrib.auth import get_user_model
from django.shortcuts import resolve_url
from django.urls import reverse

from slotwise.accounts.tests.oauth_server import FACEBOOK, LINKEDIN, FakeIdP, X, s256

pytestmark = pytest.mark.django_db

CLIENT_ID = "slotwise-client-id"
SECRET = "slotwise-client-secret"


@dataclass(frozen=True)
class Spec:
    key: str  # FakeIdP provider key
    allauth_provider: str  # SocialAccount.provider
    login_url: str
    callback_path: str
    profile: dict
    uid: str
    email: str | None


SPECS = {
    FACEBOOK: Spec(
        key=FACEBOOK,
        allauth_provider="facebook",
        login_url="/accounts/facebook/login/",
        callback_path="/accounts/facebook/login/callback/",
        profile={
            "id": "10158000000000001",
            "name": "Frida Berg",
            "first_name": "Frida",
            "last_name": "Berg",
            "email": "frida.berg@example.com",
        },
        uid="10158000000000001",
        email="frida.berg@example.com",
    ),
    X: Spec(
        key=X,
        allauth_provider="twitter_oauth2",
        login_url="/accounts/twitter_oauth2/login/",
        callback_path="/accounts/twitter_oauth2/login/callback/",
        profile={"id": "1460000000000000002", "name": "Xavier Lund", "username": "xlund"},
        uid="1460000000000000002",
        email=None,  # X's /2/users/me returns no e-mail for allauth's default fields/scope
    ),
    LINKEDIN: Spec(
        key=LINKEDIN,
        allauth_provider="linkedin",  # openid_connect apps store their provider_id
        login_url="/accounts/oidc/linkedin/login/",
        callback_path="/accounts/oidc/linkedin/login/callback/",
        profile={
            "sub": "782bbtaQ",
            "name": "Lina Ek",
            "given_name": "Lina",
            "family_name": "Ek",
            "email": "lina.ek@example.com",
            "email_verified": True,
            "locale": {"country": "SE", "language": "sv"},
            "picture": "https://media.licdn.invalid/lina.jpg",
        },
        uid="782bbtaQ",
        email="lina.ek@example.com",
    ),
}
PARAMS = [pytest.param(SPECS[k], id=k) for k in (FACEBOOK, X, LINKEDIN)]


@pytest.fixture
def idp():
    with FakeIdP() as server:
        for key in SPECS:
            server.register_client(key, CLIENT_ID, SECRET)
            server.set_user(key, SPECS[key].profile)
        yield server


@pytest.fixture
def wired(idp, settings, monkeypatch):
    """SOCIALACCOUNT_PROVIDERS for all three providers, shaped like slotwise/settings.py."""
    settings.SOCIALACCOUNT_PROVIDERS = {
        "facebook": {
            "METHOD": "oauth2",
            "SCOPE": ["email", "public_profile"],
            "GRAPH_API_URL": idp.graph_api_url,
            "APPS": [{"client_id": CLIENT_ID, "secret": SECRET}],
        },
        "twitter_oauth2": {"APPS": [{"client_id": CLIENT_ID, "secret": SECRET}]},
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "linkedin",
                    "name": "LinkedIn",
                    "client_id": CLIENT_ID,
                    "secret": SECRET,
                    "settings": {"server_url": f"{idp.base_url}/linkedin/oauth"},
                }
            ]
        },
    }
    settings.ACCOUNT_RATE_LIMITS = False
    # Import-time / hard-coded endpoints (see module docstring).
    monkeypatch.setattr(FacebookOAuth2Adapter, "authorize_url", idp.url(FACEBOOK, "authorize"))
    monkeypatch.setattr(FacebookOAuth2Adapter, "access_token_url", idp.url(FACEBOOK, "token"))
    monkeypatch.setattr(facebook_flows, "GRAPH_API_URL", idp.graph_api_url)
    monkeypatch.setattr(TwitterOAuth2Adapter, "authorize_url", idp.url(X, "authorize"))
    monkeypatch.setattr(TwitterOAuth2Adapter, "access_token_url", idp.url(X, "token"))
    monkeypatch.setattr(TwitterOAuth2Adapter, "profile_url", idp.url(X, "profile"))
    return idp


def start_login(client, spec: Spec, idp: FakeIdP) -> dict:
    """POST the provider login URL; return the authorize redirect's query parameters."""
    resp = client.post(spec.login_url)
    assert resp.status_code == 302, resp.content[:500]
    location = resp["Location"]
    assert location.startswith(idp.url(spec.key, "authorize") + "?"), location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["state"]
    assert urlsplit(params["redirect_uri"]).path == spec.callback_path
    if spec.key == X:
        assert params["code_challenge_method"] == "S256"
        assert params["code_challenge"]
    if spec.key == LINKEDIN:
        assert {"openid", "profile", "email"} <= set(params["scope"].split())
    params["_location"] = location
    return params


def idp_consent(location: str) -> tuple[str, dict]:
    """The browser visits the IdP; it 302s back to the callback with code and state."""
    resp = requests.get(location, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    back = urlsplit(resp.headers["Location"])
    return back.path, {k: v[0] for k, v in parse_qs(back.query).items()}


def no_signup_form(client, spec: Spec, resp, *, new_user: bool):
    """S0.6: sign-up needs no form, even for X, which gives no e-mail address: the callback
    logs the new user straight in (SOCIALACCOUNT_EMAIL_REQUIRED is off)."""
    assert resp.status_code == 302
    assert resp["Location"] != reverse("socialaccount_signup")
    return resp


def full_login(client, spec: Spec, idp: FakeIdP, *, new_user: bool = True):
    params = start_login(client, spec, idp)
    path, back = idp_consent(params["_location"])
    assert path == spec.callback_path
    assert back["state"] == params["state"]
    resp = client.get(path, back)
    return params, no_signup_form(client, spec, resp, new_user=new_user)


def logged_in_user(client):
    user_id = client.session.get("_auth_user_id")
    assert user_id, "not logged in"
    return get_user_model().objects.get(pk=user_id)


@pytest.mark.parametrize("spec", PARAMS)
def test_signup_then_login_again(client, wired, spec):
    idp = wired
    User = get_user_model()

    params, resp = full_login(client, spec, idp)

    assert resp.status_code == 302, resp.content[:1000]
    assert resp["Location"] == resolve_url("home") == "/"
    user = logged_in_user(client)
    assert User.objects.count() == 1
    account = SocialAccount.objects.get(provider=spec.allauth_provider, uid=spec.uid)
    assert account.user == user
    # The e-mail comes from the provider; X gives none, and the user has none until they add it.
    assert user.email == spec.email

    # The IdP saw exactly one token request, with the right client credentials.
    (token_req,) = idp.seen(spec.key, "token")
    assert token_req.status == 200
    if spec.key == FACEBOOK:
        assert token_req.method == "GET"
        assert token_req.query["client_id"] == CLIENT_ID
        assert token_req.query["client_secret"] == SECRET
        assert token_req.query["redirect_uri"] == params["redirect_uri"]
        (me,) = idp.seen(FACEBOOK, "profile")
        assert me.status == 200
        assert {"id", "email", "name", "first_name", "last_name"} <= set(
            me.query["fields"].split(",")
        )
        assert user.first_name == "Frida"
        assert user.last_name == "Berg"
    elif spec.key == X:
        assert token_req.method == "POST"
        assert token_req.basic_auth == (CLIENT_ID, SECRET)
        assert "client_secret" not in token_req.form
        assert token_req.form["grant_type"] == "authorization_code"
        assert s256(token_req.form["code_verifier"]) == params["code_challenge"]
        (me,) = idp.seen(X, "profile")
        assert me.status == 200
        assert me.headers["authorization"].startswith("Bearer ")
        assert user.username == "xlund"
    else:
        assert token_req.method == "POST"
        assert token_req.form["client_id"] == CLIENT_ID
        assert token_req.form["client_secret"] == SECRET
        assert token_req.form["grant_type"] == "authorization_code"
        assert token_req.form["redirect_uri"] == params["redirect_uri"]
        assert idp.seen(LINKEDIN, "discovery")
        (me,) = idp.seen(LINKEDIN, "profile")
        assert me.status == 200
        assert account.extra_data["id_token"]["iss"] == idp.issuer
        assert account.extra_data["userinfo"]["email"] == spec.email
        assert user.emailaddress_set.get(email=spec.email).verified
        assert user.first_name == "Lina"

    # Second login, fresh browser, same IdP user: same Slotwise user, no duplicates.
    client.logout()
    client.cookies.clear()
    params2, resp2 = full_login(client, spec, idp, new_user=False)
    assert resp2.status_code == 302
    assert resp2["Location"] == "/"
    assert logged_in_user(client) == user
    assert User.objects.count() == 1
    assert SocialAccount.objects.filter(provider=spec.allauth_provider).count() == 1
    assert len(idp.seen(spec.key, "token")) == 2


def test_linkedin_id_token_verifies_against_published_jwks(wired):
    """allauth skips the id_token signature when it fetched it itself over TLS (OIDC Core
    3.1.3.7), so check here that what the fake issues is a valid RS256 token for its JWKS."""
    idp = wired
    config = requests.get(idp.url(LINKEDIN, "discovery"), timeout=10).json()
    keys = requests.get(config["jwks_uri"], timeout=10).json()["keys"]
    token = idp.id_token(CLIENT_ID, SPECS[LINKEDIN].profile)
    key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=idp.issuer)
    assert claims["sub"] == SPECS[LINKEDIN].uid


@pytest.mark.parametrize("spec", PARAMS)
def test_bad_state_is_rejected(client, wired, spec):
    idp = wired
    params = start_login(client, spec, idp)
    path, back = idp_consent(params["_location"])
    back["state"] = "forged-" + back["state"]
    resp = client.get(path, back)

    assert resp.status_code == 401  # allauth renders its authentication-error page
    assert "socialaccount/authentication_error.html" in [t.name for t in resp.templates]
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.exists()
    assert not SocialAccount.objects.exists()
    assert idp.seen(spec.key, "token") == []  # the code was never redeemed


@pytest.mark.parametrize("spec", PARAMS)
def test_token_endpoint_error_creates_no_user(client, wired, spec):
    idp = wired
    idp.fail_token(spec.key, 400, {"error": "invalid_grant"})
    params = start_login(client, spec, idp)
    path, back = idp_consent(params["_location"])
    resp = client.get(path, back)

    assert resp.status_code == 401  # allauth renders its authentication-error page
    assert "socialaccount/authentication_error.html" in [t.name for t in resp.templates]
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.exists()
    assert not SocialAccount.objects.exists()
    (token_req,) = idp.seen(spec.key, "token")
    assert token_req.status == 400
    assert idp.seen(spec.key, "profile") == []


@pytest.mark.parametrize("spec", PARAMS)
def test_wrong_client_secret_is_refused_by_idp(client, wired, spec, settings):
    """The fake really checks client credentials: a misconfigured secret gets no user."""
    idp = wired
    idp.register_client(spec.key, CLIENT_ID, "the-real-secret")
    params = start_login(client, spec, idp)
    path, back = idp_consent(params["_location"])
    resp = client.get(path, back)

    assert resp.status_code == 401  # allauth renders its authentication-error page
    assert "socialaccount/authentication_error.html" in [t.name for t in resp.templates]
    assert not get_user_model().objects.exists()
    (token_req,) = idp.seen(spec.key, "token")
    assert token_req.status == 401
