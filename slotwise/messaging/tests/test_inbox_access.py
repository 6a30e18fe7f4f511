"""Who sees which conversation: the selectors, the list, the page, every action and the
attachments. Staff of one unit never see another unit's conversations (unless assigned to
them); customers see only their own; another organisation's is a 404."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from slotwise.messaging.models import Attachment, Conversation, Message
from slotwise.messaging.selectors import conversation_visible, conversations_for, messages_for

from .inbox_world import VISIBLE, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(monkeypatch):
    return build_world(monkeypatch)


def _users(world):
    return {**world.staff_users(), "customer": world.customer}


def test_selector_matrix(world):
    by_pk = {c.pk: name for name, c in world.conversations.items()}
    for who, user in _users(world).items():
        seen = {by_pk[pk] for pk in conversations_for(user).values_list("pk", flat=True)}
        assert seen == VISIBLE[who], who
        for name, conv in world.conversations.items():
            conv = Conversation.objects.select_related("contact__unit", "team").get(pk=conv.pk)
            assert conversation_visible(user, conv) == (name in VISIBLE[who]), (who, name)


def test_list_shows_only_what_the_user_may_see(client, world):
    for who, user in world.staff_users().items():
        client.force_login(user)
        html = client.get(reverse("inbox:list")).content.decode()
        for name, conv in world.conversations.items():
            assert (str(conv.public_id) in html) == (name in VISIBLE[who]), (who, name)


@pytest.mark.parametrize(
    "action", ["reply", "note", "assign", "take_over", "hand_back", "close", "reopen"]
)
def test_another_units_conversation_is_404_for_every_action(client, world, action):
    client.force_login(world.agent_b.user)
    for name in ("a", "team_a1", "other"):
        conv = world.conversations[name]
        response = client.post(reverse(f"inbox:{action}", args=[conv.public_id]), {"body": "x"})
        assert response.status_code == 404, (name, action)
    assert not Message.objects.filter(direction__in=["out", "internal"]).exists()


def test_pages_of_another_unit_and_organisation_are_404(client, world):
    client.force_login(world.manager_a.user)
    for name in ("b", "b_assigned", "other"):
        conv = world.conversations[name]
        assert client.get(reverse("inbox:conversation", args=[conv.public_id])).status_code == 404
        assert (
            client.get(reverse("inbox:conversation_live", args=[conv.public_id])).status_code == 404
        )
    conv = world.conversations["a"]
    assert client.get(reverse("inbox:conversation", args=[conv.public_id])).status_code == 200


def test_assigned_to_me_opens_across_units(client, world):
    client.force_login(world.agent_a1.user)
    conv = world.conversations["b_assigned"]
    assert client.get(reverse("inbox:conversation", args=[conv.public_id])).status_code == 200


def test_customers_have_no_inbox(client, world):
    client.force_login(world.customer)
    assert client.get(reverse("inbox:list")).status_code == 403
    own = world.conversations["customer"]
    assert client.get(reverse("inbox:conversation", args=[own.public_id])).status_code == 403


def test_anonymous_is_sent_to_log_in(client, world):
    response = client.get(reverse("inbox:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _attachment(conv, *, internal=False):
    message = Message.objects.create(
        organisation=conv.organisation,
        conversation=conv,
        contact=conv.contact,
        channel_config=conv.channel,
        direction=Message.Direction.INTERNAL if internal else Message.Direction.IN,
        channel="telegram",
        provider="console",
        to=conv.address,
        status="note" if internal else "received",
    )
    attachment = Attachment(
        organisation=conv.organisation,
        message=message,
        filename="scan.pdf",
        content_type="application/pdf",
        status="stored",
    )
    attachment.file.save("scan.pdf", ContentFile(b"%PDF-1.4 test"), save=True)
    return attachment


def test_attachments_only_for_those_who_see_the_conversation(client, world):
    mine = _attachment(world.conversations["customer"])
    note_file = _attachment(world.conversations["customer"], internal=True)
    theirs = _attachment(world.conversations["b"])
    url = lambda a: reverse("inbox:attachment", args=[a.public_id])  # noqa: E731

    client.force_login(world.manager_a.user)
    response = client.get(url(mine))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")  # not an image: download
    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    assert client.get(url(theirs)).status_code == 404

    client.force_login(world.customer)
    assert client.get(url(mine)).status_code == 200
    assert client.get(url(note_file)).status_code == 404  # staff notes stay internal
    assert client.get(url(theirs)).status_code == 404


def test_messages_for_a_customer_leave_out_notes(world):
    conv = world.conversations["customer"]
    _attachment(conv, internal=True)
    assert messages_for(conv).count() == 2
    assert messages_for(conv, internal=False).count() == 1
