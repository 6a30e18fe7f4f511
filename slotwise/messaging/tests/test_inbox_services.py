"""The inbox's services: every rule, every field error, and nothing half-saved."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from slotwise.core.errors import NotAllowed, ValidationError
from slotwise.customers.models import TimelineEntry
from slotwise.messaging import conversations as svc
from slotwise.messaging import hooks
from slotwise.messaging.models import (
    Attachment,
    CannedReply,
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
)
from slotwise.messaging.testing import make_channel, send_outbox
from slotwise.org.roles import Role
from slotwise.tests_factories import StaffFactory, make_unit

from .inbox_world import build_world, conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(monkeypatch):
    return build_world(monkeypatch)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def _counts():
    return (
        Message.objects.count(),
        Attachment.objects.count(),
        TimelineEntry.objects.count(),
    )


# --- reply -----------------------------------------------------------------------------------


def test_reply_goes_out_through_the_outbox_and_answers_the_wait(world):
    conv = world.conversations["open"]
    message = svc.conversation_reply(
        conversation=conv, author=world.manager_a.user, body="  Hello Olga  "
    )
    assert message.direction == "out" and message.status == MessageStatus.QUEUED
    assert message.body == "Hello Olga" and message.author == world.manager_a.user
    conv.refresh_from_db()
    assert conv.waiting_since is None and conv.unread_count == 0
    assert conv.last_preview == "Hello Olga"
    assert send_outbox() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED  # the console channel says so at once


def test_reply_with_a_file(world):
    conv = world.conversations["open"]
    upload = SimpleUploadedFile("photo.png", _png(), content_type="image/png")
    message = svc.conversation_reply(
        conversation=conv, author=world.manager_a.user, body="", files=[upload]
    )
    attachment = message.attachments.get()
    assert attachment.content_type == "image/png" and attachment.status == "stored"
    assert message.kind == "media"


def test_reply_needs_text_or_a_file(world):
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_reply(
            conversation=world.conversations["open"], author=world.admin.user, body="   "
        )
    assert "body" in exc.value.message_dict
    assert _counts() == before


def test_reply_too_long(world):
    with pytest.raises(ValidationError) as exc:
        svc.conversation_reply(
            conversation=world.conversations["open"],
            author=world.admin.user,
            body="x" * (svc.MAX_BODY + 1),
        )
    assert "body" in exc.value.message_dict


def test_a_refused_file_is_a_field_error_and_nothing_is_saved(world, settings):
    settings.MESSAGING_MAX_MEDIA_BYTES = 100
    conv = world.conversations["open"]
    before = _counts()
    fake_pdf = SimpleUploadedFile("invoice.pdf", b"MZ\x90 not a pdf", "application/pdf")
    too_big = SimpleUploadedFile("big.png", _png() + b"\0" * 200, "image/png")
    with pytest.raises(ValidationError) as exc:
        svc.conversation_reply(
            conversation=conv,
            author=world.admin.user,
            body="See attached",
            files=[fake_pdf, too_big],
        )
    errors = exc.value.message_dict["files"]
    assert len(errors) == 2
    assert errors[0].startswith("invoice.pdf:") and errors[1].startswith("big.png:")
    assert _counts() == before
    conv.refresh_from_db()
    assert conv.waiting_since is not None  # not half-answered


def test_whatsapp_window_refuses_free_text(world, monkeypatch):
    monkeypatch.setenv("WA_TOKEN", "t")
    wa = make_channel(world.org, "whatsapp", {"phone_number_id": "1", "token_env": "WA_TOKEN"})
    conv = conversation(wa)
    Conversation.objects.filter(pk=conv.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    conv.refresh_from_db()
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_reply(conversation=conv, author=world.admin.user, body="Hi again")
    [message] = exc.value.message_dict["body"]
    assert "template" in message and "24" in message
    assert _counts() == before
    # Within the window the same reply is fine.
    Conversation.objects.filter(pk=conv.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=23)
    )
    conv.refresh_from_db()
    assert svc.conversation_reply(conversation=conv, author=world.admin.user, body="Hi again")


def test_reply_on_a_disabled_channel(world):
    world.channel.disabled_at = timezone.now()
    world.channel.save()
    conv = Conversation.objects.get(pk=world.conversations["open"].pk)
    with pytest.raises(ValidationError) as exc:
        svc.conversation_reply(conversation=conv, author=world.admin.user, body="Hi")
    assert "__all__" in exc.value.message_dict


def test_only_staff_of_the_organisation_may_reply(world):
    with pytest.raises(NotAllowed):
        svc.conversation_reply(
            conversation=world.conversations["customer"], author=world.customer, body="Hi"
        )
    with pytest.raises(NotAllowed):
        svc.conversation_reply(
            conversation=world.conversations["other"], author=world.admin.user, body="Hi"
        )


# --- notes -----------------------------------------------------------------------------------


def test_note_is_internal_and_never_sent(world):
    conv = world.conversations["open"]
    note = svc.conversation_note_add(
        conversation=conv, author=world.manager_a.user, body="Called her back"
    )
    assert (note.direction, note.status, note.kind) == ("internal", "note", "note")
    assert send_outbox() == 0
    note.refresh_from_db()
    assert note.status == MessageStatus.NOTE
    conv.refresh_from_db()
    assert conv.waiting_since is not None  # a note is no answer


def test_empty_note(world):
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_note_add(
            conversation=world.conversations["open"], author=world.admin.user, body=""
        )
    assert "body" in exc.value.message_dict
    assert _counts() == before


# --- assign ----------------------------------------------------------------------------------


def test_assign_person_and_team_on_the_timeline(world):
    conv = world.conversations["a"]
    svc.conversation_assign(
        conversation=conv, actor=world.admin.user, assignee=world.manager_a, team=world.unit_a
    )
    conv.refresh_from_db()
    assert conv.assignee == world.manager_a and conv.team == world.unit_a
    entry = TimelineEntry.objects.get(contact=conv.contact, kind="conversation.assigned")
    assert "Mia Manager" in entry.summary and entry.actor == world.admin.user
    # Clearing both is allowed too.
    svc.conversation_assign(conversation=conv, actor=world.admin.user)
    conv.refresh_from_db()
    assert conv.assignee is None and conv.team is None


def test_assignee_must_see_the_contact(world):
    conv = world.conversations["a"]  # the contact is in unit A
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_assign(conversation=conv, actor=world.admin.user, assignee=world.agent_b)
    assert "assignee" in exc.value.message_dict
    conv.refresh_from_db()
    assert conv.assignee is None and _counts() == before


def test_assignee_and_team_of_another_organisation(world):
    other_unit = make_unit(world.other_channel.organisation, "Elsewhere")
    outsider = StaffFactory(unit=other_unit, roles=[Role.MANAGER])
    with pytest.raises(ValidationError) as exc:
        svc.conversation_assign(
            conversation=world.conversations["open"],
            actor=world.admin.user,
            assignee=outsider,
            team=other_unit,
        )
    assert set(exc.value.message_dict) == {"assignee", "team"}


def test_a_leaver_cannot_be_assigned(world):
    world.manager_a.active_to = timezone.localdate() - timedelta(days=1)
    world.manager_a.save()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_assign(
            conversation=world.conversations["open"],
            actor=world.admin.user,
            assignee=world.manager_a,
        )
    assert "assignee" in exc.value.message_dict


# --- the bot ---------------------------------------------------------------------------------


def test_take_over_from_the_bot(world):
    conv = conversation(world.channel, bot=True, name="Bo")
    seen = []
    hooks.takeover_hooks.append(lambda c, actor: seen.append((c.pk, actor.pk)))
    try:
        svc.conversation_take_over(conversation=conv, actor=world.manager_a.user)
    finally:
        hooks.takeover_hooks.pop()
    conv.refresh_from_db()
    assert conv.bot_active is False and conv.assignee == world.manager_a
    note = Message.objects.get(conversation=conv, direction="internal")
    assert note.data["system"] == "takeover" and "Mia Manager took over" in note.body
    assert seen == [(conv.pk, world.manager_a.user.pk)]
    assert TimelineEntry.objects.filter(contact=conv.contact, kind="conversation.taken_over")
    # A second takeover (another manager, a double click) is refused with nothing written.
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_take_over(conversation=conv, actor=world.admin.user)
    assert "__all__" in exc.value.message_dict
    assert _counts() == before
    conv.refresh_from_db()
    assert conv.assignee == world.manager_a


def test_hand_back_to_the_bot(world):
    conv = world.conversations["open"]
    svc.conversation_hand_back(conversation=conv, actor=world.admin.user)
    conv.refresh_from_db()
    assert conv.bot_active is True
    assert Message.objects.filter(conversation=conv, data__system="handback").exists()
    with pytest.raises(ValidationError):
        svc.conversation_hand_back(conversation=conv, actor=world.admin.user)


# --- read, close, reopen ---------------------------------------------------------------------


def test_mark_read(world):
    conv = world.conversations["open"]
    assert svc.conversation_mark_read(conversation=conv, actor=world.agent_b.user) is True
    conv.refresh_from_db()
    assert conv.unread_count == 0
    assert svc.conversation_mark_read(conversation=conv, actor=world.agent_b.user) is False


def test_close_and_reopen(world):
    conv = world.conversations["open"]
    svc.conversation_close(conversation=conv, actor=world.admin.user)
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.CLOSED and conv.waiting_since is None
    with pytest.raises(ValidationError):
        svc.conversation_close(conversation=conv, actor=world.admin.user)
    svc.conversation_reopen(conversation=conv, actor=world.admin.user)
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.OPEN
    with pytest.raises(ValidationError):
        svc.conversation_reopen(conversation=conv, actor=world.admin.user)
    kinds = set(TimelineEntry.objects.filter(contact=conv.contact).values_list("kind", flat=True))
    assert {"conversation.closed", "conversation.reopened"} <= kinds


# --- canned replies --------------------------------------------------------------------------


def test_canned_reply_placeholders(world):
    contact = world.conversations["open"].contact
    contact.last_name, contact.phone = "Svensson", "+46701234567"
    reply = CannedReply.objects.create(
        organisation=world.org,
        title="Hello",
        shortcut="hello",
        body="Hi {first_name} {last_name}, {my_name} here. {unknown} {first_name.__class__}",
    )
    text = svc.canned_reply_render(reply, contact, staff_user=world.manager_a.user)
    assert text == "Hi Olga Svensson, Mia Manager here. {unknown} {first_name.__class__}"


def test_template_after_the_window(world, client):
    wa = make_channel(
        world.org,
        "console",
        {"medium": "whatsapp", "templates": {"follow_up": "follow_up_v3"}},
        name="WhatsApp",
    )
    conv = conversation(wa)
    Conversation.objects.filter(pk=conv.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    conv.refresh_from_db()
    assert svc.conversation_templates(conv) == [("follow_up", "follow_up_v3")]
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        svc.conversation_send_template(conversation=conv, author=world.admin.user, template="nope")
    assert "template" in exc.value.message_dict
    assert _counts() == before
    client.force_login(world.admin.user)
    page = client.get(f"/inbox/c/{conv.public_id}/").content.decode()
    assert 'data-testid="template-form"' in page and "follow_up_v3" in page
    response = client.post(f"/inbox/c/{conv.public_id}/template/", {"template": "follow_up"})
    assert response.status_code == 302
    sent = conv.messages.get(purpose="conversation.template")
    assert sent.template == {
        "name": "follow_up_v3",
        "language": conv.contact.language,
        "params": [conv.contact.first_name],
    }
    assert sent.author == world.admin.user
