"""The inbox pages: filters, flags, opening marks read, replies / notes / actions through the
forms (with and without htmx), errors shown next to their fields, the navigation's count."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from slotwise.messaging.models import CannedReply, Conversation, Message
from slotwise.messaging.testing import make_channel

from .inbox_world import build_world, conversation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(monkeypatch):
    return build_world(monkeypatch)


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="conversation-row" data-conversation="([0-9a-f-]+)"', html)


def _ids(*convs) -> set[str]:
    return {str(c.public_id) for c in convs}


def test_filters(client, world):
    c = world.conversations
    Conversation.objects.filter(pk=c["a"].pk).update(assignee=world.manager_a)
    Conversation.objects.filter(pk=c["team_a1"].pk).update(bot_active=True, waiting_since=None)
    Conversation.objects.filter(pk=c["customer"].pk).update(status="closed")
    client.force_login(world.manager_a.user)
    url = reverse("inbox:list")

    def ids(**params):
        return set(_rows(client.get(url, params).content.decode()))

    assert ids() == _ids(c["open"], c["a"], c["team_a1"])
    assert ids(view="mine") == _ids(c["a"])
    assert ids(view="unassigned") == _ids(c["open"], c["team_a1"])
    assert ids(view="team") == _ids(c["a"], c["team_a1"])
    assert ids(view="waiting") == _ids(c["open"], c["a"])
    assert ids(view="bot") == _ids(c["team_a1"])
    assert ids(view="closed") == _ids(c["customer"])
    assert ids(q="olga") == _ids(c["open"])
    assert ids(q=c["a"].address[-4:]) == _ids(c["a"])
    sms = conversation(make_channel(world.org, "console", {"medium": "sms"}, name="sms"))
    assert ids(channel=sms.channel.pk) == _ids(sms)


def test_waiting_longest_first_and_flagged_late(client, world):
    c = world.conversations
    now = timezone.now()
    Conversation.objects.filter(pk=c["open"].pk).update(waiting_since=now - timedelta(minutes=3))
    Conversation.objects.filter(pk=c["a"].pk).update(waiting_since=now - timedelta(minutes=40))
    client.force_login(world.manager_a.user)
    html = client.get(reverse("inbox:list"), {"view": "waiting"}).content.decode()
    assert _rows(html)[:2] == [str(c["a"].public_id), str(c["open"].public_id)]
    flags = re.findall(r'data-testid="waiting" data-late="(\d)">([^<]+)<', html)
    assert flags[0][0] == "1" and "40" in flags[0][1]  # red past the threshold
    assert flags[1][0] == "0" and "3" in flags[1][1]


def test_htmx_gets_only_the_list_and_the_navigation_count(client, world):
    client.force_login(world.manager_a.user)
    response = client.get(reverse("inbox:list"), **HTMX)
    html = response.content.decode()
    assert html.startswith('<div id="inbox-list"') and "<html" not in html
    assert 'id="nav-badge-inbox"' in html and 'hx-swap-oob="true"' in html


def test_navigation_counts_unread_conversations(client, world):
    client.force_login(world.manager_a.user)
    html = client.get(reverse("home")).content.decode()
    badge = re.search(r'id="nav-badge-inbox"[^>]*>(\d+)<', html)
    assert badge and badge.group(1) == "4"  # open, a, team_a1, customer
    client.get(reverse("inbox:conversation", args=[world.conversations["a"].public_id]))
    html = client.get(reverse("home")).content.decode()
    assert re.search(r'id="nav-badge-inbox"[^>]*>(\d+)<', html).group(1) == "3"
    client.force_login(world.customer)
    assert "nav-badge-inbox" not in client.get(reverse("home")).content.decode()


def test_opening_marks_read_and_shows_the_thread(client, world):
    conv = world.conversations["open"]
    Message.objects.create(
        organisation=world.org,
        conversation=conv,
        channel_config=world.channel,
        direction="out",
        channel="telegram",
        provider="console",
        to=conv.address,
        body="We are on it",
        status="failed",
        last_error="Blocked by the user",
    )
    client.force_login(world.manager_a.user)
    response = client.get(reverse("inbox:conversation", args=[conv.public_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hello" in html and "We are on it" in html
    assert 'data-status="failed"' in html and "Blocked by the user" in html
    assert '<ul class="messages"' not in html  # the thread is not taken for flash messages
    assert f"/customers/{conv.contact.public_id}/" in html  # the contact card
    assert f'data-live-socket="/ws/conversations/{conv.public_id}/"' in html
    conv.refresh_from_db()
    assert conv.unread_count == 0


def test_live_partial_marks_read_only_when_asked(client, world):
    conv = world.conversations["open"]
    client.force_login(world.manager_a.user)
    url = reverse("inbox:conversation_live", args=[conv.public_id])
    html = client.get(url, **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="messages"')
    assert 'id="conversation-head"' in html and 'hx-swap-oob="true"' in html
    conv.refresh_from_db()
    assert conv.unread_count == 1
    client.get(url, {"read": "1"}, **HTMX)
    conv.refresh_from_db()
    assert conv.unread_count == 0


def test_reply_redirects_back_and_an_error_is_422_with_the_text_kept(client, world):
    conv = world.conversations["open"]
    client.force_login(world.manager_a.user)
    url = reverse("inbox:reply", args=[conv.public_id])
    response = client.post(url, {"body": "Hello there"})
    assert response.status_code == 302
    assert response["Location"] == reverse("inbox:conversation", args=[conv.public_id])
    assert Message.objects.get(direction="out").body == "Hello there"
    bad = SimpleUploadedFile("x.pdf", b"not a pdf", content_type="application/pdf")
    response = client.post(url, {"body": "With a file", "files": [bad]}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-field="files"' in html and "With a file" in html
    assert Message.objects.filter(direction="out").count() == 1


def test_note_from_the_reply_form(client, world):
    conv = world.conversations["open"]
    client.force_login(world.manager_a.user)
    client.post(reverse("inbox:note", args=[conv.public_id]), {"body": "Internal only"})
    note = Message.objects.get(direction="internal")
    html = client.get(reverse("inbox:conversation", args=[conv.public_id])).content.decode()
    assert 'class="msg msg-internal' in html and note.body in html


def test_take_over_and_hand_back_buttons(client, world):
    conv = conversation(world.channel, bot=True, name="Bot Talker")
    client.force_login(world.manager_a.user)
    page = reverse("inbox:conversation", args=[conv.public_id])
    html = client.get(page).content.decode()
    assert 'data-testid="take-over"' in html and 'data-testid="bot-badge"' in html
    response = client.post(reverse("inbox:take_over", args=[conv.public_id]), follow=True)
    html = response.content.decode()
    assert 'data-testid="bot-badge"' not in html and 'data-testid="hand-back"' in html
    assert 'data-system="takeover"' in html and "Mia Manager took over from the bot" in html
    # Pressed again (another tab): the error shows on the page, 422.
    response = client.post(reverse("inbox:take_over", args=[conv.public_id]), **HTMX)
    assert response.status_code == 422 and 'data-testid="action-error"' in response.content.decode()
    client.post(reverse("inbox:hand_back", args=[conv.public_id]))
    conv.refresh_from_db()
    assert conv.bot_active


def test_assign_form_errors_and_success(client, world):
    conv = world.conversations["a"]
    client.force_login(world.admin.user)
    url = reverse("inbox:assign", args=[conv.public_id])
    # agent_b is not offered for a contact of unit A: the form refuses the choice.
    response = client.post(url, {"assignee": world.agent_b.pk})
    assert response.status_code == 422 and 'data-field="assignee"' in response.content.decode()
    response = client.post(url, {"assignee": world.manager_a.pk, "team": world.unit_a.pk})
    assert response.status_code == 302
    conv.refresh_from_db()
    assert conv.assignee == world.manager_a and conv.team == world.unit_a


def test_assigning_away_returns_to_the_inbox(client, world):
    conv = world.conversations["team_a1"]
    client.force_login(world.agent_a1.user)
    response = client.post(
        reverse("inbox:assign", args=[conv.public_id]), {"team": world.unit_b.pk}
    )
    assert response.status_code == 302 and response["Location"] == reverse("inbox:list")


def test_close_and_reopen_buttons(client, world):
    conv = world.conversations["open"]
    client.force_login(world.manager_a.user)
    client.post(reverse("inbox:close", args=[conv.public_id]))
    conv.refresh_from_db()
    assert conv.status == "closed"
    html = client.get(reverse("inbox:conversation", args=[conv.public_id])).content.decode()
    assert 'data-testid="reopen"' in html
    client.post(reverse("inbox:reopen", args=[conv.public_id]))
    conv.refresh_from_db()
    assert conv.status == "open"


def test_canned_replies_are_rendered_for_the_contact(client, world):
    conv = world.conversations["open"]
    CannedReply.objects.create(
        organisation=world.org, title="Hi", shortcut="hi", body="Hi {first_name}!"
    )
    CannedReply.objects.create(
        organisation=world.org, title="Hej", shortcut="hi", body="Hej {first_name}!", language="sv"
    )
    client.force_login(world.manager_a.user)
    html = client.get(reverse("inbox:conversation", args=[conv.public_id])).content.decode()
    assert 'id="canned-replies"' in html and "Hi Olga!" in html and "Hej Olga" not in html
