"""Three simulated drivers complete the onboarding flow (S1), each over real channel adapters
against the local fakes of the providers, webhooks posted through Django's test client:

1. Telegram: writes to the bot first, gives the phone, types the SMS code, sends the photos.
2. WhatsApp: an application from the web form; the welcome template goes to WhatsApp, the
   driver answers there.
3. SMS link → Viber: the number is not on WhatsApp (the welcome fails by status webhook), the
   manager clicks "Send SMS link" (action 1), the driver opens the Viber link, types the code
   (the Viber identity joins the contact), sends the photos; the manager approves (action 2).

Each ends with the manager's approval and the final message in the driver's messenger, at most
two manager actions, and every message of the driver on one contact."""

from __future__ import annotations

import io
import json
import re

import pytest

from slotwise.customers.models import Consent, Contact, Identity
from slotwise.messaging.fakes.meta import MetaFake
from slotwise.messaging.fakes.telegram import TelegramFake
from slotwise.messaging.fakes.twilio import TwilioFake
from slotwise.messaging.fakes.viber import ViberFake
from slotwise.messaging.models import Conversation, Message
from slotwise.messaging.testing import make_channel, post_inbound
from slotwise.onboarding import services
from slotwise.onboarding.models import Application, ApplicationStatus, FlowRun, RunState

from .conftest import pump

pytestmark = pytest.mark.django_db


def photo(color: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def twilio(org, client, monkeypatch):
    with TwilioFake() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        config = make_channel(org, "twilio", fake.settings(), name="SMS")
        yield fake, config


@pytest.fixture
def meta(org, client, monkeypatch):
    with MetaFake(not_on_whatsapp=["79260000003"]) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        config = make_channel(org, "whatsapp", fake.whatsapp_settings(), name="WhatsApp")

        def sender(url, raw, headers):
            signature = {"X-Hub-Signature-256": headers["X-Hub-Signature-256"]}
            return post_inbound(client, config, raw, signature).status_code

        fake.webhook_sender = sender
        yield fake, config


@pytest.fixture
def telegram(org, client, monkeypatch):
    header = "X-Telegram-Bot-Api-Secret-Token"
    with TelegramFake() as fake:
        env = fake.env()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config = make_channel(org, "telegram", fake.settings(), name="Telegram")

        def deliver(url, body, headers):
            return post_inbound(client, config, body, {header: headers[header]}).status_code

        fake.deliver = deliver
        fake.webhook = {
            "url": "http://testserver/",
            "secret_token": env["TELEGRAM_WEBHOOK_SECRET"],
            "allowed_updates": [],
        }
        yield fake, config


@pytest.fixture
def viber(org, client, monkeypatch):
    header = "X-Viber-Content-Signature"
    with ViberFake() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        settings = fake.settings() | {
            "welcome_text": "Добро пожаловать! Введите код из СМС, чтобы продолжить."
        }
        config = make_channel(org, "viber", settings, name="Viber")

        fake.answers = []

        def deliver(url, body, headers):
            response = post_inbound(client, config, body, {header: headers[header]})
            fake.answers.append(json.loads(response.content or b"{}"))
            return response.status_code

        fake.deliver = deliver
        fake.set_webhook_url("http://testserver/")
        yield fake, config


@pytest.fixture
def channels(flow, twilio, meta, telegram, viber):
    return {"sms": twilio, "whatsapp": meta, "telegram": telegram, "viber": viber}


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def sms_to(twilio_fake: TwilioFake, phone: str) -> str:
    bodies = [m["body"] for m in twilio_fake.sent() if m["to"] == phone]
    assert bodies, f"no SMS to {phone}"
    return bodies[-1]


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def approve(client, application) -> None:
    response = client.post(f"/onboarding/{application.public_id}/approve/")
    assert response.status_code == 302, response.content[:500]


def one_contact(application: Application) -> None:
    """Every message with this person — in, out, by the bot, any channel — on one contact."""
    contact = application.contact
    conversations = list(Conversation.objects.filter(contact=contact))
    messages = Message.objects.filter(conversation__in=conversations)
    assert messages.exists()
    assert set(messages.values_list("contact_id", flat=True)) == {contact.pk}
    assert (
        not Message.objects.filter(to__in=[c.address for c in conversations])
        .exclude(contact=contact)
        .exists()
    )


def test_telegram_driver(channels, manager_client):
    fake, config = channels["telegram"]
    twilio_fake, _sms = channels["sms"]
    chat = 424242
    fake.add_user(chat, first_name="Rustam", language_code="ru")
    fake.user_says(chat, "/start")
    pump()
    texts = [m["text"] for m in fake.sent if m.get("text")]
    assert "phone number" in texts[-1]
    fake.user_says(chat, "+7 916 555 00 01")
    pump()
    fake.user_says(chat, "Rustam Karimov")
    pump()
    code = code_in(sms_to(twilio_fake, "+79165550001"))
    fake.user_says(chat, code)
    pump()
    for color in ("red", "green", "blue"):
        fake.user_sends_photo(chat, photo(color))
        pump()
    assert fake.sent[-1]["reply_markup"]["keyboard"][1][0]["text"] == "A fleet car"
    fake.user_says(chat, "A fleet car")
    pump()
    application = Application.objects.get()
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.documents.filter(attachment__status="stored").count() == 3
    approve(manager_client, application)
    pump()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.manager_actions == 1
    assert fake.sent[-1]["text"].startswith("Congratulations, Rustam")
    assert application.contact.phone == "+79165550001"
    assert Identity.objects.get(kind="telegram", external_id=str(chat)).contact_id == (
        application.contact_id
    )
    assert Consent.objects.filter(contact=application.contact, kind="offer").count() == 1
    one_contact(application)


def test_whatsapp_driver(channels, manager_client):
    meta_fake, _config = channels["whatsapp"]
    twilio_fake, _sms = channels["sms"]
    org = _config.organisation
    application = services.application_create(
        organisation=org, first_name="Denis", last_name="Belov", phone="+79160000002", source="api"
    )
    pump(meta=meta_fake)
    [welcome] = meta_fake.whatsapp_sent.values()
    assert welcome["payload"]["type"] == "template"
    assert welcome["payload"]["template"]["name"] == "driver_welcome"
    wa = "79160000002"
    meta_fake.deliver(meta_fake.whatsapp_text(wa, "Здравствуйте", name="Denis"))
    pump(meta=meta_fake)
    code = code_in(sms_to(twilio_fake, "+79160000002"))
    meta_fake.deliver(meta_fake.whatsapp_text(wa, code, name="Denis"))
    pump(meta=meta_fake)
    for color in ("red", "green", "blue"):
        meta_fake.deliver(meta_fake.whatsapp_media(wa, photo(color), "image/jpeg"))
        pump(meta=meta_fake)
    last = list(meta_fake.whatsapp_sent.values())[-1]["payload"]
    assert last["type"] == "interactive"  # the choice as reply buttons
    meta_fake.deliver(meta_fake.whatsapp_button_reply(wa, "My own car", "My own car"))
    pump(meta=meta_fake)
    meta_fake.deliver(meta_fake.whatsapp_media(wa, photo("white"), "image/jpeg"))
    pump(meta=meta_fake)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.data["car"] == "own"
    approve(manager_client, application)
    pump(meta=meta_fake)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.manager_actions <= 2 and application.manager_actions == 1
    final = list(meta_fake.whatsapp_sent.values())[-1]["payload"]
    assert final["text"]["body"].startswith("Congratulations, Denis")
    assert Contact.objects.count() == 1
    one_contact(application)


def test_sms_link_to_viber_driver(channels, manager_client):
    meta_fake, wa_config = channels["whatsapp"]
    twilio_fake, _sms = channels["sms"]
    viber_fake, viber_config = channels["viber"]
    org = wa_config.organisation
    application = services.application_create(
        organisation=org, first_name="Oleg", last_name="Morozov", phone="+79260000003", source="api"
    )
    pump(meta=meta_fake)  # the welcome is accepted, then a failed status webhook (131026)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MESSAGE_NOT_SENT
    assert "131026" in application.last_error
    page = manager_client.get(f"/onboarding/{application.public_id}/")
    assert b"send-link" in page.content and b"fix-number" in page.content

    response = manager_client.post(f"/onboarding/{application.public_id}/send-link/")  # action 1
    assert response.status_code == 302
    pump(meta=meta_fake)
    sms = sms_to(twilio_fake, "+79260000003")
    code = code_in(sms)
    token = re.search(r"viber://pa\?chatURI=\w+&context=([\w-]+)", sms).group(1)
    assert "t.me/" in sms  # the other messenger the organisation has
    application.refresh_from_db()
    assert application.status == ApplicationStatus.CODE_SENT

    user = "5h3Kx8aQ2JcWc1Xw9vC0tA=="
    assert viber_fake.conversation_started(user, context=token, name="Oleg M") == 200
    pump(meta=meta_fake)
    assert viber_fake.sent == []  # not subscribed yet: only the webhook's welcome answer
    assert "Введите код" in viber_fake.answers[-1]["text"]  # the channel's welcome text
    viber_fake.user_says(user, code, name="Oleg M")
    pump(meta=meta_fake)
    assert "FRONT" in viber_fake.sent[-1]["text"]
    application.refresh_from_db()
    assert application.status == ApplicationStatus.COLLECTING
    assert Identity.objects.get(kind="viber", external_id=user).contact_id == (
        application.contact_id
    )
    for color in ("red", "green", "blue"):
        viber_fake.user_sends_picture(user, photo(color))
        pump(meta=meta_fake)
    viber_fake.user_says(user, "2")
    pump(meta=meta_fake)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.IN_REVIEW
    viber_fake.user_says(user, "статус")
    pump(meta=meta_fake)
    assert (
        "In review" in viber_fake.sent[-1]["text"] or "На проверке" in viber_fake.sent[-1]["text"]
    )

    approve(manager_client, application)  # action 2
    pump(meta=meta_fake)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.manager_actions == 2
    assert viber_fake.sent[-1]["text"].startswith("Congratulations, Oleg")
    assert viber_fake.sent[-1]["receiver"] == user
    # One person, one contact: the contact Viber's first message made was merged into it.
    assert Contact.objects.count() == 1
    consent = Consent.objects.get(contact=application.contact)
    assert (consent.kind, consent.channel) == ("offer", "viber")
    assert FlowRun.objects.get().state == RunState.DONE
    one_contact(application)
    channels_used = set(
        Message.objects.filter(contact=application.contact).values_list("channel", flat=True)
    )
    assert channels_used == {"whatsapp", "phone", "viber"}
