"""Staff can turn on TOTP two-factor authentication; after that a password alone is not enough."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator

from slotwise.tests_factories import UserFactory

PASSWORD = "pw-Slotwise-123"


def _login(client, username):
    return client.post("/accounts/login/", {"login": username, "password": PASSWORD})


@pytest.mark.django_db
def test_totp_activation_then_login_needs_the_code(client):
    user = UserFactory(username="tech1")
    assert _login(client, "tech1").status_code == 302

    # Turning MFA on asks for the password again (allauth's reauthentication).
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 302 and "/reauthenticate/" in page["Location"]
    client.post(page["Location"], {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)

    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert wrong.status_code == 200 and wrong.context["form"].errors.get("code")
    assert not Authenticator.objects.filter(user=user).exists()

    ok = client.post("/accounts/2fa/totp/activate/", {"code": pyotp.TOTP(secret).now()})
    assert ok.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    client.logout()
    response = _login(client, "tech1")
    # The password is right but the session is not logged in until the code is given.
    assert response.status_code == 302 and "/2fa/authenticate" in response["Location"]
    assert "_auth_user_id" not in client.session
    bad = client.post(response["Location"], {"code": "123456"})
    assert "_auth_user_id" not in client.session and bad.status_code == 200
    good = client.post(response["Location"], {"code": pyotp.TOTP(secret).now()})
    assert good.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
