import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from slotwise.accounts import services
from slotwise.accounts.models import PhoneCode, PhoneLoginState
from slotwise.messaging.models import Message

PHONE = "+46701234567"
OTHER = "+46701234568"
UNKNOWN = "+46701234599"

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="kim", password="x" * 16, phone=PHONE)


def request_code(client, phone=PHONE, ip="10.0.0.1"):
    return client.post(reverse("phone_login"), {"phone": phone}, REMOTE_ADDR=ip)


def last_code(phone=PHONE) -> str:
    message = Message.objects.filter(to=phone).order_by("-id").first()
    assert message is not None
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    return match.group(1)


def verify(client, code, ip="10.0.0.1"):
    return client.post(reverse("phone_verify"), {"code": code}, REMOTE_ADDR=ip)


def test_request_queues_sms_with_six_digit_code(client, user):
    response = request_code(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("phone_verify")
    message = Message.objects.get()
    assert message.to == PHONE and message.channel == "sms" and message.purpose == "login_code"
    code = last_code()
    assert "expires in 10 minutes" in message.body
    stored = PhoneCode.objects.get()
    assert code not in stored.code_hash  # only a hash is stored
    assert stored.expires_at - stored.created_at <= timedelta(minutes=10, seconds=1)


def test_verify_logs_in_and_code_is_single_use(client, user):
    request_code(client)
    code = last_code()
    response = verify(client, code)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(user.pk)
    user.refresh_from_db()
    assert user.phone_verified
    # The same code again (new anonymous session that went through step 1 again without a new code).
    client.logout()
    with pytest.raises(ValidationError) as exc:
        services.phone_code_verify(phone_raw=PHONE, code=code)
    assert "code" in exc.value.message_dict


def test_new_code_invalidates_earlier_one(client, user):
    request_code(client)
    first = last_code()
    request_code(client)
    second = last_code()
    if first != second:
        with pytest.raises(ValidationError):
            services.phone_code_verify(phone_raw=PHONE, code=first)
    assert services.phone_code_verify(phone_raw=PHONE, code=second) == user


def test_expired_code_refused(client, user):
    request_code(client)
    code = last_code()
    PhoneCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = verify(client, code)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "wrong or has expired" in response.content.decode()


def test_five_wrong_codes_lock_number_then_unlock(client, user):
    request_code(client)
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _i in range(4):
        response = verify(client, wrong)
        assert "wrong or has expired" in response.content.decode()
    response = verify(client, wrong)
    assert "Too many wrong codes" in response.content.decode()
    state = PhoneLoginState.objects.get(phone=PHONE)
    assert state.locked_until > timezone.now() + timedelta(minutes=14)
    # Even the right code is refused while locked.
    response = verify(client, code)
    assert "Too many wrong codes" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Requesting a new code is refused while locked, too.
    with pytest.raises(ValidationError) as exc:
        services.phone_code_request(phone_raw=PHONE, ip="10.0.0.9")
    assert "phone" in exc.value.message_dict
    # The lock passes.
    PhoneLoginState.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    response = verify(client, code)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_rate_limit_per_number(client, user, settings):
    settings.SMS_CODE_SEND_LIMIT_PER_NUMBER = "3/10m"
    for i in range(3):
        assert request_code(client, ip=f"10.0.1.{i}").status_code == 302
    response = request_code(client, ip="10.0.1.99")
    assert response.status_code == 200
    assert "Too many codes requested" in response.content.decode()
    assert Message.objects.count() == 3


def test_rate_limit_per_ip(client, user, settings):
    settings.SMS_CODE_SEND_LIMIT_PER_IP = "2/10m"
    assert request_code(client, phone=UNKNOWN, ip="10.0.2.1").status_code == 302
    assert request_code(client, phone=OTHER, ip="10.0.2.1").status_code == 302
    response = request_code(client, phone=PHONE, ip="10.0.2.1")
    assert response.status_code == 200
    assert "Too many codes requested" in response.content.decode()
    assert Message.objects.count() == 0
    # Another address is not affected.
    assert request_code(client, phone=PHONE, ip="10.0.2.2").status_code == 302
    assert Message.objects.count() == 1


def test_malformed_phone_shows_field_error_and_writes_nothing(client, user):
    response = client.post(reverse("phone_login"), {"phone": "not a phone"}, REMOTE_ADDR="10.0.3.1")
    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(r'<p class="field has-error">(.*?)</p>', html, re.S)
    assert field, html
    assert 'for="id_phone"' in field.group(1)
    assert 'data-field="phone"' in field.group(1)
    assert "is not a phone number" in field.group(1)
    assert PhoneCode.objects.count() == 0
    assert Message.objects.count() == 0
    assert "phone_login_phone" not in client.session


def test_unknown_number_same_response_no_message(client, user):
    known = request_code(client, phone=PHONE)
    client.session.flush()
    unknown = request_code(client, phone=UNKNOWN)
    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"]
    page = client.get(reverse("phone_verify"))
    assert page.status_code == 200
    assert Message.objects.filter(to=UNKNOWN).count() == 0
    assert PhoneCode.objects.filter(phone=UNKNOWN).count() == 0
    with pytest.raises(ValidationError):
        services.phone_code_verify(phone_raw=UNKNOWN, code="123456")


def test_contact_phone_with_user_can_log_in(client):
    from slotwise.customers.models import Contact
    from slotwise.org.models import Organisation

    org = Organisation.objects.create(
        name="Org", slug="org", country="SE", time_zone="Europe/Stockholm", currency="SEK"
    )
    contact_user = get_user_model().objects.create_user(username="cust", password="x" * 16)
    Contact.objects.create(organisation=org, first_name="Cu", phone=OTHER, user=contact_user)
    request_code(client, phone=OTHER)
    response = verify(client, last_code(OTHER))
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(contact_user.pk)


def test_verify_without_step_one_redirects(client):
    response = client.get(reverse("phone_verify"))
    assert response.status_code == 302
    assert response["Location"] == reverse("phone_login")


def test_pages_render(client):
    assert "Log in with a text message code" in client.get(reverse("phone_login")).content.decode()
    html = client.get(reverse("account_login")).content.decode()
    assert reverse("phone_login") in html
    assert reverse("account_reset_password") in html


def test_parse_rate():
    assert services.parse_rate("3/10m") == (3, 600)
    assert services.parse_rate("10/h") == (10, 3600)
    with pytest.raises(ValueError):
        services.parse_rate("lots")


def test_password_login_page_still_logs_in(client, user):
    response = client.post(reverse("account_login"), {"login": "kim", "password": "x" * 16})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
