"""Customer messages when a booking changes: written to the outbox in the booking's transaction,
in the contact's language, with the time in the organisation's zone and a working manage link;
e-mail delivered through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import formats, timezone, translation

from slotwise.bookings import notifications
from slotwise.bookings.models import BookingStatus
from slotwise.bookings.services import booking_cancel, booking_create
from slotwise.messaging.models import Message
from slotwise.messaging.services import email_queue, message_deliver
from slotwise.tests_factories import ContactFactory

from .conftest import future_slot, make_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone_type(org):
    return make_type(org, name="Phone call", mode="phone", duration_minutes=30)


@pytest.fixture
def customer(org):
    return ContactFactory(
        organisation=org,
        first_name="Emma",
        phone="+31612345678",
        email="emma@example.com",
        language="nl",
        preferred_channel="sms",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
        ):
            yield inbox
    finally:
        controller.stop()


def test_created_booking_queues_email_and_sms_in_the_same_transaction(
    org, staff, customer, phone_type
):
    start = future_slot(org, days=3, hour=14)
    with transaction.atomic():
        booking = booking_create(type=phone_type, staff=staff, contact=customer, start=start)
        # Written with the booking, before the transaction commits (outbox rule).
        queued = list(Message.objects.filter(purpose="booking.created"))
    assert {m.channel for m in queued} == {"email", "sms"}
    sms = next(m for m in queued if m.channel == "sms")
    assert sms.to == "+31612345678"
    assert "14:00" in sms.body  # 14:00 in Europe/Amsterdam, not the UTC hour
    assert "/bookings/manage/" in sms.body
    mail = next(m for m in queued if m.channel == "email")
    assert mail.to == "emma@example.com"
    assert booking.type.name in mail.body


def test_rolled_back_booking_sends_nothing(org, staff, customer, phone_type):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        booking_create(
            type=phone_type, staff=staff, contact=customer, start=future_slot(org, days=3)
        )
        assert Message.objects.count() == 2
        raise Boom
    assert Message.objects.count() == 0


def test_message_is_in_the_contacts_language(org, staff, customer, phone_type):
    org.default_language = "en"
    org.save()
    booking = booking_create(
        type=phone_type, staff=staff, contact=customer, start=future_slot(org, days=3)
    )
    nl = Message.objects.get(channel="email", purpose="booking.created")
    customer.language = "en"
    customer.save()
    notifications.booking_changed(booking=booking, event="confirmed")
    en = Message.objects.get(channel="email", purpose="booking.confirmed")
    local_start = timezone.localtime(booking.start, ZoneInfo(org.time_zone))
    local_end = timezone.localtime(booking.end, ZoneInfo(org.time_zone))
    for language, message in (("nl", nl), ("en", en)):
        with translation.override(language):
            day = formats.date_format(local_start, "DATE_FORMAT")
        assert f"{day} {local_start:%H:%M}–{local_end:%H:%M}" in message.body
    assert "Hello Emma" in en.body


def test_sms_only_when_preferred_or_no_email(org, staff, phone_type):
    by_mail = ContactFactory(
        organisation=org, phone="+31611111111", email="a@example.com", preferred_channel="email"
    )
    booking_create(type=phone_type, staff=staff, contact=by_mail, start=future_slot(org, days=3))
    assert list(Message.objects.values_list("channel", flat=True)) == ["email"]


def test_hold_gets_its_message_when_confirmed(org, staff, customer, phone_type):
    from slotwise.bookings.services import booking_confirm

    booking = booking_create(
        type=phone_type,
        staff=staff,
        contact=customer,
        start=future_slot(org, days=3),
        hold_minutes=15,
    )
    assert booking.status == BookingStatus.HELD
    assert Message.objects.count() == 0
    booking_confirm(booking=booking)
    assert Message.objects.filter(purpose="booking.confirmed").count() == 2


def test_cancelled_message_has_no_manage_link(org, staff, customer, phone_type):
    booking = booking_create(
        type=phone_type, staff=staff, contact=customer, start=future_slot(org, days=3)
    )
    booking_cancel(booking=booking)
    cancelled = Message.objects.filter(purpose="booking.cancelled")
    assert cancelled.count() == 2
    assert all("/bookings/manage/" not in m.body for m in cancelled)


def test_email_is_delivered_over_smtp_with_a_working_manage_link(
    client, org, staff, customer, phone_type, smtp_server
):
    booking = booking_create(
        type=phone_type, staff=staff, contact=customer, start=future_slot(org, days=3)
    )
    queued = Message.objects.get(channel="email")
    sent = message_deliver(message_id=queued.pk)
    assert sent.status == Message.Status.SENT
    for _ in range(50):
        if smtp_server.messages:
            break
        time.sleep(0.05)
    (mail_from, rcpt_tos, raw) = smtp_server.messages[0]
    assert rcpt_tos == ["emma@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == queued.subject
    assert str(queued.idempotency_key) in message["Message-ID"]
    body = message.get_content()
    link = re.search(r"https?://\S+/bookings/manage/\S+/", body).group(0)
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert page.context["booking"] == booking
    # Delivering again sends nothing twice (idempotent).
    message_deliver(message_id=queued.pk)
    assert len(smtp_server.messages) == 1


def test_smtp_down_is_a_transient_error_recorded_on_the_message(org):
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=_free_port(),
        EMAIL_TIMEOUT=2,
    ):
        message = email_queue(to="x@example.com", subject="Hi", body="Hello", organisation=org)
        message_deliver(message_id=message.pk)  # recorded; the outbox retries with back-off
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at > message.created_at
    assert message.last_error
