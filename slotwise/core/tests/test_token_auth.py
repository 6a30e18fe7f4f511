"""slotwise.core.api.TokenAuthentication answers as DRF's own (plain SQL on PostgreSQL)."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework import authentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from slotwise.core.api import TokenAuthentication

pytestmark = pytest.mark.django_db


def _request(header: str | None):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    return APIRequestFactory().get("/api/me/", **extra)


@pytest.mark.parametrize("active", [True, False])
def test_same_answers_as_drf(active):
    user = get_user_model().objects.create(username="tok", first_name="T", is_active=active)
    key = Token.objects.create(user=user).key
    ours, theirs = TokenAuthentication(), authentication.TokenAuthentication()
    for header in [f"Token {key}", "Token nope", "Token", "Bearer x", None]:
        outcomes = []
        for auth in (ours, theirs):
            try:
                found = auth.authenticate(_request(header))
            except AuthenticationFailed as exc:
                outcomes.append(("failed", str(exc.detail)))
            else:
                outcomes.append(
                    None if found is None else (found[0].pk, found[0].username, found[1].key)
                )
        assert outcomes[0] == outcomes[1], header
    if active:
        user_found, token = ours.authenticate(_request(f"Token {key}"))
        assert user_found == user and user_found.is_authenticated
        assert token.user is user_found
        assert user_found.get_full_name() == "T"
