"""REST endpoints of messaging: conversations, their messages, replies and chat messages, and a
contact's timeline.

Access (ARCHITECTURE rule 7), the same rules as the pages:
- conversations are listed and looked up through `selectors.conversations_for`: staff see the
  conversations of contacts and teams at/below their unit (org admins all, plus those assigned
  to them); a customer sees their own contact's. Anything else is a 404, never a 403;
- customers never see internal notes;
- posting to a conversation: the conversation's own contact (a customer, or a technician in
  their office chat) writes a chat message (`chat.chat_message_post`; only in the in-app chat —
  they can't write "as" themselves on WhatsApp); staff reply through the inbox's
  `conversations.conversation_reply` (the same checks: channel enabled, the 24-hour window,
  files);
- `chat/messages/`: the signed-in customer's (or agenda staff member's) own chat, created with
  the first message;
- a contact's timeline: staff who may open the contact card (`customers.view_contact_card`).

Bad input is a 400 with field errors (`{"body": ["…"]}`), nothing written.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.core.api import TokenAuthentication
from slotwise.customers.selectors import contacts_for, own_contact, timeline_for
from slotwise.org.roles import AGENDA_ROLES
from slotwise.org.selectors import staff_of
from slotwise.scheduling.api import ERRORS

from .chat import MAX_BODY, chat_conversation, chat_message_post
from .media import signed_url
from .models import Conversation, ConversationStatus
from .selectors import conversations_for, messages_for

AUTHENTICATION = [SessionAuthentication, TokenAuthentication]
NOT_FOUND = {404: OpenApiResponse(description="No such conversation (or not yours to see).")}


# --- shapes ---------------------------------------------------------------------------------------


class NamedRef(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class ChannelRef(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()


class ConversationSerializer(serializers.Serializer):
    """A conversation. `id` is its public id; `contact.id` the contact's."""

    id = serializers.UUIDField(source="public_id")
    contact = serializers.SerializerMethodField()
    channel = serializers.SerializerMethodField()
    address = serializers.CharField()
    status = serializers.CharField()
    assignee = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    bot_active = serializers.BooleanField()
    unread_count = serializers.IntegerField()
    waiting_since = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_preview = serializers.CharField()

    @extend_schema_field(NamedRef)
    def get_contact(self, obj) -> dict:
        return {"id": str(obj.contact.public_id), "name": str(obj.contact)}

    @extend_schema_field(ChannelRef)
    def get_channel(self, obj) -> dict:
        return {"kind": obj.channel.kind, "name": obj.channel.name}

    @extend_schema_field(NamedRef(allow_null=True))
    def get_assignee(self, obj) -> dict | None:
        if obj.assignee_id is None:
            return None
        user = obj.assignee.user
        return {"id": str(obj.assignee_id), "name": user.get_full_name() or user.get_username()}

    @extend_schema_field(NamedRef(allow_null=True))
    def get_team(self, obj) -> dict | None:
        if obj.team_id is None:
            return None
        return {"id": str(obj.team_id), "name": obj.team.name}


class AttachmentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="A signed link, valid for a day.")

    def get_url(self, obj) -> str:
        return signed_url(obj) if obj.status == "stored" else ""


#: what of a message's `data` the API shows (calls: how long, how it went)
PUBLIC_DATA = ("duration_s", "status", "direction", "notes", "system")


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    conversation = serializers.SerializerMethodField()
    direction = serializers.CharField(help_text="in (from the contact), out, internal (a note)")
    kind = serializers.CharField()
    status = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    author = serializers.SerializerMethodField()
    by_bot = serializers.BooleanField()
    channel = serializers.CharField(help_text="The medium: phone, email, whatsapp, chat …")
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    attachments = AttachmentSerializer(many=True, source="attachments.all")
    data = serializers.SerializerMethodField()

    def get_conversation(self, obj) -> str | None:
        return str(obj.conversation.public_id) if obj.conversation_id else None

    def get_author(self, obj) -> str:
        if obj.author is None:
            return ""
        return obj.author.get_full_name() or obj.author.get_username()

    def get_data(self, obj) -> dict:
        data = obj.data or {}
        return {key: data[key] for key in PUBLIC_DATA if key in data}


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, max_length=MAX_BODY)
    files = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Multipart uploads."
    )


class TimelineItemSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["entry", "message"])
    at = serializers.DateTimeField()
    cursor = serializers.CharField()
    kind = serializers.CharField()
    summary = serializers.CharField(help_text="Entries: what happened. Messages: the text.")
    data = serializers.DictField(required=False)
    actor = serializers.CharField(allow_blank=True)
    message = MessageSerializer(required=False, allow_null=True)


class TimelineSerializer(serializers.Serializer):
    results = TimelineItemSerializer(many=True)
    next_before = serializers.CharField(
        allow_null=True, help_text="Pass as `before` for the next (older) page; null: no more."
    )


# --- helpers ----------------------------------------------------------------------------------------


def _conversation(request, public_id) -> Conversation:
    conversation = (
        conversations_for(request.user)
        .select_related("contact__unit", "contact__organisation")
        .filter(public_id=public_id)
        .first()
    )
    if conversation is None:
        raise NotFound()
    return conversation


def _is_own(request, conversation) -> bool:
    return conversation.contact.user_id == request.user.pk


def _files(request) -> list:
    return request.FILES.getlist("files") if hasattr(request, "FILES") else []


class _Base(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, FormParser, MultiPartParser]


class MessageCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"


# --- conversations ----------------------------------------------------------------------------------


class ConversationListView(_Base):
    @extend_schema(
        summary="Conversations you may see (staff: your units' and yours; customers: your own)",
        parameters=[
            OpenApiParameter("status", str, enum=["open", "closed"]),
            OpenApiParameter("channel", str, description="A channel kind (whatsapp, chat …)."),
            OpenApiParameter("mine", bool, description="Staff: only those assigned to you."),
            OpenApiParameter("q", str, description="Name, phone, e-mail or address."),
        ],
        responses=ConversationSerializer(many=True),
    )
    def get(self, request):
        qs = conversations_for(request.user)
        state = request.query_params.get("status")
        if state:
            if state not in ConversationStatus.values:
                raise ValidationError({"status": [_("Choose open or closed.")]})
            qs = qs.filter(status=state)
        if request.query_params.get("channel"):
            qs = qs.filter(channel__kind=request.query_params["channel"])
        if request.query_params.get("mine") in ("1", "true", "yes"):
            staff = staff_of(request.user)
            qs = qs.filter(assignee=staff) if staff else qs.none()
        for term in (request.query_params.get("q") or "").split()[:5]:
            qs = qs.filter(
                Q(contact__first_name__icontains=term)
                | Q(contact__last_name__icontains=term)
                | Q(contact__email__icontains=term)
                | Q(contact__phone__icontains=term)
                | Q(address__icontains=term)
            )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(
            qs.order_by("-last_message_at", "-id"), request, view=self
        )
        return paginator.get_paginated_response(ConversationSerializer(page, many=True).data)


class ConversationDetailView(_Base):
    @extend_schema(
        summary="One conversation by its public id",
        responses={200: ConversationSerializer, **NOT_FOUND},
    )
    def get(self, request, public_id):
        return Response(ConversationSerializer(_conversation(request, public_id)).data)


class ConversationMessagesView(_Base):
    @extend_schema(
        summary="A conversation's messages, newest first (cursor pages; customers: no notes)",
        parameters=[
            OpenApiParameter("cursor", str, description="From the previous page's next/previous."),
            OpenApiParameter("limit", int, description="Messages per page (at most 200)."),
        ],
        responses={200: MessageSerializer(many=True), **NOT_FOUND},
    )
    def get(self, request, public_id):
        conversation = _conversation(request, public_id)
        staff = staff_of(request.user)
        internal = staff is not None and not _is_own(request, conversation)
        qs = messages_for(conversation, internal=internal).select_related("conversation")
        paginator = MessageCursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        summary="Write in the conversation: staff reply to the contact (sent by the outbox); "
        "the contact themselves writes a chat message",
        request={
            "application/json": MessageCreateSerializer,
            "multipart/form-data": MessageCreateSerializer,
        },
        responses={201: MessageSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request, public_id):
        from .conversations import conversation_reply

        conversation = _conversation(request, public_id)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data.get("body", "")
        files = _files(request)
        if _is_own(request, conversation):
            if conversation.channel.kind != "chat":
                raise ValidationError(
                    {"non_field_errors": [_("You can write to us here only in the in-app chat.")]}
                )
            message = chat_message_post(
                contact=conversation.contact, author=request.user, body=body, files=files
            )
        elif staff_of(request.user) is not None:
            message = conversation_reply(
                conversation=conversation, author=request.user, body=body, files=files
            )
        else:
            raise NotFound()
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


# --- the signed-in user's own chat ------------------------------------------------------------------


def _own_chat_contact(request, *, create: bool):
    """The contact whose chat this user writes in: a customer's own, or (staff with an agenda
    role) the one standing for them in the office chat (created on their first message)."""
    staff = staff_of(request.user)
    if staff is None:
        contact = own_contact(request.user)
        if contact is None:
            raise NotFound(_("Your account is not linked to a customer record."))
        return contact
    if not staff.has_role(*AGENDA_ROLES):
        raise NotFound()
    if create:
        from slotwise.customers.services import contact_for_staff

        return contact_for_staff(staff=staff)
    contact = own_contact(request.user)
    if contact is not None and contact.organisation_id != staff.organisation_id:
        return None
    return contact


class ChatView(_Base):
    @extend_schema(
        summary="Your chat with the organisation (customers; technicians: with the office)",
        responses={200: ConversationSerializer, 204: None, **NOT_FOUND},
    )
    def get(self, request):
        contact = _own_chat_contact(request, create=False)
        conversation = chat_conversation(contact=contact, create=False) if contact else None
        if conversation is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ConversationSerializer(conversation).data)


class ChatMessageCreateView(_Base):
    @extend_schema(
        summary="Write in your chat (the conversation is created with the first message)",
        request={
            "application/json": MessageCreateSerializer,
            "multipart/form-data": MessageCreateSerializer,
        },
        responses={201: MessageSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request):
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = _own_chat_contact(request, create=True)
        message = chat_message_post(
            contact=contact,
            author=request.user,
            body=serializer.validated_data.get("body", ""),
            files=_files(request),
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


# --- a contact's timeline ---------------------------------------------------------------------------


def _timeline_item(item) -> dict:
    if item.source == "entry":
        entry = item.obj
        actor = entry.actor
        return {
            "source": "entry",
            "at": item.at,
            "cursor": item.cursor,
            "kind": entry.kind,
            "summary": entry.summary,
            "data": entry.data or {},
            "actor": (actor.get_full_name() or actor.get_username()) if actor else "",
            "message": None,
        }
    message = item.obj
    author = message.author
    return {
        "source": "message",
        "at": item.at,
        "cursor": item.cursor,
        "kind": message.kind,
        "summary": message.body,
        "data": {},
        "actor": (author.get_full_name() or author.get_username()) if author else "",
        "message": message,
    }


class ContactTimelineView(_Base):
    @extend_schema(
        summary="A contact's whole timeline, newest first: entries (bookings, payments …) and "
        "messages (texts, calls, notes) merged",
        parameters=[
            OpenApiParameter("before", str, description="The previous page's next_before."),
            OpenApiParameter("limit", int, description="Items per page (1–200, default 50)."),
        ],
        responses={200: TimelineSerializer, **ERRORS, 404: OpenApiResponse(description="—")},
    )
    def get(self, request, public_id):
        if staff_of(request.user) is None and not request.user.is_superuser:
            raise NotFound()
        contact = contacts_for(request.user).filter(public_id=public_id).first()
        if contact is None or not (
            request.user.is_superuser
            or request.user.has_perm("customers.view_contact_card", contact)
        ):
            raise NotFound()
        limit = request.query_params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise ValidationError({"limit": [_("Enter a number from 1 to 200.")]})
        page = timeline_for(contact, before=request.query_params.get("before"), limit=int(limit))
        return Response(
            TimelineSerializer(
                {
                    "results": [_timeline_item(item) for item in page.items],
                    "next_before": page.next_before,
                }
            ).data
        )
