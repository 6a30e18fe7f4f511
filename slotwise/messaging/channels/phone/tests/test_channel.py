import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.utils import translation

from slotwise.messaging.channels import channels
from slotwise.messaging.channels.base import (
    ChannelError,
    InboundRejected,
    InboundRequest,
    OutgoingMessage,
)
from slotwise.messaging.channels.phone.channel import PhoneChannel, call_summary
from slotwise.messaging.channels.phone.forms import CallLogForm
from slotwise.messaging.channels.twilio import api

from .conftest import INBOUND_URL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_form(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())["form"]


def request_for(form, *, token, url=INBOUND_URL):
    return InboundRequest(
        method="POST",
        body=urlencode(form).encode(),
        headers={"x-twilio-signature": api.compute_signature(url, form, token)},
        query={},
        url=url,
    )


def test_registry_and_send_is_refused(channel):
    assert channels.get_class("phone") is PhoneChannel
    with pytest.raises(ChannelError) as exc:
        channel.send(OutgoingMessage(to="+46701234567", text="hi", idempotency_key="k"))
    assert exc.value.permanent and not exc.value.channel_broken


def test_completed_inbound_call_fixture(channel, twilio_fake):
    form = fixture_form("voice_completed")
    result = channel.parse_inbound(request_for(form, token=twilio_fake.auth_token))
    [call] = result.messages
    assert call.kind == "call"
    assert call.event_id == "call:CA3f1e0c9b8a7d6e5f4a3b2c1d0e9f8a7b:completed"
    assert call.sender == call.sender_phone == "+46701234567"
    assert call.data["direction"] == "inbound"
    assert call.data["status"] == "completed"
    assert call.data["duration_s"] == 192
    assert call.data["call_sid"] == "CA3f1e0c9b8a7d6e5f4a3b2c1d0e9f8a7b"
    assert call.data["recording_url"].endswith("/Recordings/RE0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a")
    assert call.text == "Incoming call, answered, 3 min 12 s"
    assert result.content_type == "text/xml"


def test_no_answer_outbound_call_fixture_is_on_the_called_number(channel, twilio_fake):
    form = fixture_form("voice_no_answer")
    [call] = channel.parse_inbound(request_for(form, token=twilio_fake.auth_token)).messages
    assert call.sender == "+46701234567"  # To: we called them
    assert call.data["direction"] == "outbound"
    assert call.data["provider_direction"] == "outbound-api"
    assert call.data["duration_s"] == 0
    assert call.text == "Outgoing call, no answer"


@pytest.mark.parametrize("status", ["initiated", "ringing", "in-progress", "queued"])
def test_progress_statuses_make_no_entry(channel, twilio_fake, status):
    form = {**fixture_form("voice_completed"), "CallStatus": status}
    result = channel.parse_inbound(request_for(form, token=twilio_fake.auth_token))
    assert result.messages == () and result.statuses == ()


def test_fake_posts_signed_voice_callbacks(channel, twilio_fake):
    results = []

    def deliver(url, body, headers):
        results.append(
            channel.parse_inbound(
                InboundRequest(
                    method="POST",
                    body=body,
                    headers={k.lower(): v for k, v in headers.items()},
                    query={},
                    url=url,
                )
            )
        )
        return 200

    twilio_fake.deliver = deliver
    twilio_fake.send_voice_status(INBOUND_URL, from_="+46709998877", status="busy")
    twilio_fake.send_voice_status(
        INBOUND_URL,
        from_="+46709998877",
        status="completed",
        direction="outbound-dial",
        duration=61,
    )
    busy, answered = (r.messages[0] for r in results)
    assert busy.sender == answered.sender == "+46709998877"
    assert busy.data["status"] == "busy" and busy.data["direction"] == "inbound"
    assert answered.data["direction"] == "outbound" and answered.data["duration_s"] == 61


def test_bad_signature_is_rejected(channel):
    form = fixture_form("voice_completed")
    with pytest.raises(InboundRejected):
        channel.parse_inbound(request_for(form, token="someone-else"))


def test_replay_gives_the_same_event_id(channel, twilio_fake):
    request = request_for(fixture_form("voice_completed"), token=twilio_fake.auth_token)
    first = channel.parse_inbound(request).messages[0]
    again = channel.parse_inbound(request).messages[0]
    assert first.event_id == again.event_id


def test_summary_is_translated():
    with translation.override("sv"):
        text = call_summary(direction="inbound", status="completed", duration_s=60)
    assert text  # the catalogue may not have it yet; it must not fail


# --- the manual log form ----------------------------------------------------------------------


def test_form_picks_one_of_the_contacts_numbers():
    form = CallLogForm(
        data={
            "call-number": "+46701234567",
            "call-direction": "outbound",
            "call-status": "completed",
            "call-duration_minutes": "2.5",
            "call-notes": "Booked Friday",
        },
        numbers=["+46701234567", "+46707654321"],
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["number"] == "+46701234567"
    assert form.cleaned_data["duration_s"] == 150
    assert form.summary() == "Outgoing call, answered, 2 min 30 s"


def test_form_takes_another_number_in_e164():
    form = CallLogForm(
        data={
            "call-number": "other",
            "call-other_number": "070-123 45 67",
            "call-direction": "inbound",
            "call-status": "no-answer",
        },
        numbers=["+46707654321"],
        default_region="SE",
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["number"] == "+46701234567"
    assert form.cleaned_data["duration_s"] == 0


def test_form_errors_are_per_field_and_translated():
    with translation.override("en"):
        form = CallLogForm(
            data={
                "call-number": "+46000",
                "call-direction": "",
                "call-status": "busy",
                "call-duration_minutes": "-3",
            },
            numbers=["+46701234567"],
        )
        assert not form.is_valid()
        assert "number" in form.errors
        assert form.errors["direction"] == ["Say who called whom."]
        assert form.errors["duration_minutes"] == ["The duration cannot be negative."]


def test_form_without_numbers_needs_a_typed_one():
    form = CallLogForm(data={"call-direction": "inbound", "call-status": "completed"})
    assert not form.is_valid()
    assert form.errors["other_number"] == ["Enter the number that was called."]
    bad = CallLogForm(
        data={
            "call-other_number": "not a number",
            "call-direction": "inbound",
            "call-status": "busy",
        }
    )
    assert not bad.is_valid() and "other_number" in bad.errors


def test_form_refuses_a_duration_for_an_unanswered_call():
    form = CallLogForm(
        data={
            "call-number": "+46701234567",
            "call-direction": "outbound",
            "call-status": "busy",
            "call-duration_minutes": "3",
        },
        numbers=["+46701234567"],
    )
    assert not form.is_valid()
    assert "duration_minutes" in form.errors
