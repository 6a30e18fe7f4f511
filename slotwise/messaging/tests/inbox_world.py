"""A small organisation for the inbox tests (imported by test_inbox_*.py and test_consumers.py).

    root (admin)
    ├── A  (manager_a)
    │   └── A1 (agent_a1)
    └── B  (agent_b)

Conversations, and who may see them (besides the org admin, who sees all of them):
- `open`: contact and team without unit → every staff member;
- `a`: contact and team in A → manager_a;
- `b`: contact and team in B → agent_b;
- `b_assigned`: contact and team in B, assigned to agent_a1 → agent_b and agent_a1;
- `team_a1`: contact without unit, team A1 → manager_a and agent_a1;
- `customer`: the contact has a user (`customer`), no unit → every staff member and `customer`;
- `other`: another organisation's → nobody here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from slotwise.messaging.models import ChannelConfig, Conversation, Message, MessageStatus
from slotwise.messaging.testing import make_channel
from slotwise.org.roles import Role
from slotwise.tests_factories import (
    ContactFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    make_unit,
)

SECRET = "inbox-console-secret"


@dataclass
class World:
    org: object
    root: object
    unit_a: object
    unit_a1: object
    unit_b: object
    admin: object
    manager_a: object
    agent_a1: object
    agent_b: object
    customer: object
    channel: ChannelConfig
    other_channel: ChannelConfig
    conversations: dict

    def staff_users(self) -> dict:
        return {
            "admin": self.admin.user,
            "manager_a": self.manager_a.user,
            "agent_a1": self.agent_a1.user,
            "agent_b": self.agent_b.user,
        }


def conversation(
    channel: ChannelConfig,
    *,
    contact=None,
    unit=None,
    team=None,
    assignee=None,
    bot: bool = False,
    text: str = "Hello",
    name: str = "",
    minutes_ago: int = 1,
) -> Conversation:
    """A conversation with one message from the contact, as the inbound pipeline leaves it."""
    contact = contact or ContactFactory(
        organisation=channel.organisation, unit=unit, **({"first_name": name} if name else {})
    )
    when = timezone.now() - timedelta(minutes=minutes_ago)
    conv = Conversation.objects.create(
        organisation=channel.organisation,
        contact=contact,
        channel=channel,
        address=f"addr-{contact.pk}",
        team=team,
        assignee=assignee,
        bot_active=bot,
        unread_count=1,
        waiting_since=when,
        last_message_at=when,
        last_inbound_at=when,
        last_preview=text,
    )
    Message.objects.create(
        organisation=channel.organisation,
        conversation=conv,
        contact=contact,
        channel_config=channel,
        direction=Message.Direction.IN,
        channel=channel.medium,
        provider=channel.kind,
        to=conv.address,
        body=text,
        status=MessageStatus.RECEIVED,
    )
    return conv


def build_world(monkeypatch) -> World:
    monkeypatch.setenv("INBOX_CONSOLE_SECRET", SECRET)
    org = OrganisationFactory(country="SE")
    root = make_unit(org, "Root")
    unit_a = make_unit(org, "A", root)
    unit_a1 = make_unit(org, "A1", unit_a)
    unit_b = make_unit(org, "B", root)
    admin = StaffFactory(
        unit=root, roles=[Role.ORG_ADMIN], user__first_name="Ada", user__last_name="Admin"
    )
    manager_a = StaffFactory(
        unit=unit_a, roles=[Role.MANAGER], user__first_name="Mia", user__last_name="Manager"
    )
    agent_a1 = StaffFactory(
        unit=unit_a1, roles=[Role.REPRESENTATIVE], user__first_name="Axel", user__last_name="A1"
    )
    agent_b = StaffFactory(
        unit=unit_b, roles=[Role.REPRESENTATIVE], user__first_name="Bea", user__last_name="B"
    )
    channel = make_channel(
        org, "console", {"medium": "telegram", "secret_env": "INBOX_CONSOLE_SECRET"}
    )
    other_org = OrganisationFactory(country="NL")
    other_channel = make_channel(
        other_org, "console", {"medium": "sms", "secret_env": "INBOX_CONSOLE_SECRET"}
    )
    customer = UserFactory()
    own = ContactFactory(organisation=org, user=customer, first_name="Carl")
    conversations = {
        "open": conversation(channel, name="Olga"),
        "a": conversation(channel, unit=unit_a, team=unit_a, name="Anders"),
        "b": conversation(channel, unit=unit_b, team=unit_b, name="Britt"),
        "b_assigned": conversation(
            channel, unit=unit_b, team=unit_b, assignee=agent_a1, name="Bosse"
        ),
        "team_a1": conversation(channel, team=unit_a1, name="Tove"),
        "customer": conversation(channel, contact=own),
        "other": conversation(other_channel, name="Otto"),
    }
    return World(
        org=org,
        root=root,
        unit_a=unit_a,
        unit_a1=unit_a1,
        unit_b=unit_b,
        admin=admin,
        manager_a=manager_a,
        agent_a1=agent_a1,
        agent_b=agent_b,
        customer=customer,
        channel=channel,
        other_channel=other_channel,
        conversations=conversations,
    )


#: Who (besides the org admin) sees which conversation of `build_world`.
VISIBLE = {
    "admin": {"open", "a", "b", "b_assigned", "team_a1", "customer"},
    "manager_a": {"open", "a", "team_a1", "customer"},
    "agent_a1": {"open", "b_assigned", "team_a1", "customer"},
    "agent_b": {"open", "b", "b_assigned", "customer"},
    "customer": {"customer"},
}
