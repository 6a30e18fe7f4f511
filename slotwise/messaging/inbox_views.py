"""The staff inbox: every conversation the user may see, on every channel, live.

Thin views: `conversations` does every write, `selectors` scopes every read. Every view looks
the conversation up through `conversations_for(user)`, so another unit's or another
organisation's conversation is a 404, and only staff have an inbox (a customer gets 403).

Live updates: the pages open a WebSocket (`consumers.py`) through `static/messaging/live.js`;
on an event the script fetches the changed part again with htmx (the list, or the
conversation's head and messages from `conversation_live`). When the socket is down the script
polls every 15 seconds instead. Forms work without JavaScript too (a POST, then a redirect);
with htmx they swap `#conversation` in place, and a validation error answers 422 with the form
and its errors.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from slotwise.core.errors import NotAllowed, ValidationError
from slotwise.org.selectors import staff_of

from . import conversations as svc
from .models import Attachment, AttachmentStatus, Conversation, Message
from .selectors import (
    FILTERS,
    assignable_staff,
    canned_replies_for,
    channels_of,
    conversations_for,
    inbox_counts,
    inbox_filter,
    messages_for,
    teams_of,
    unread_conversations,
    waiting_alert,
)

PAGE_SIZE = 50
#: The conversation page shows this many of the latest messages.
MESSAGE_LIMIT = 200

FILTER_LABELS = {
    "open": _("All open"),
    "mine": _("Mine"),
    "unassigned": _("Unassigned"),
    "team": _("My team"),
    "waiting": _("Waiting"),
    "bot": _("Bot"),
    "closed": _("Closed"),
}

#: Channel kind → short label (the console channel shows what it pretends to be).
CHANNEL_LABELS = {
    "whatsapp": _("WhatsApp"),
    "telegram": _("Telegram"),
    "viber": _("Viber"),
    "instagram": _("Instagram"),
    "twilio": _("SMS"),
    "sms": _("SMS"),
    "email": _("E-mail"),
    "phone": _("Phone"),
    "chat": _("Chat"),
}


def channel_badge(config) -> tuple[str, str]:
    """(css key, label) of a channel for the list and the conversation head."""
    key = config.kind
    if key == "console":
        key = (config.settings or {}).get("medium", "sms") or "sms"
    return key, str(CHANNEL_LABELS.get(key, config.name))


# --- forms ----------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "data-canned-input": "", "autocomplete": "off", "id": "reply-body"}
        ),
        help_text=_('Type "/" and a shortcut to insert a canned reply.'),
    )
    files = MultipleFileField(label=_("Attach files"), required=False)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Person"), queryset=None, required=False, empty_label=_("— nobody —")
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=None, required=False, empty_label=_("— no team —")
    )

    def __init__(self, *args, conversation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_staff(conversation)
        self.fields["assignee"].label_from_instance = lambda s: (
            f"{svc.person_name(s.user)} · {s.unit}"
        )
        self.fields["team"].queryset = teams_of(conversation.organisation_id)
        self.fields["team"].label_from_instance = lambda u: "\u2003" * max(0, u.depth) + u.name


class FilterForm(forms.Form):
    view = forms.ChoiceField(choices=[(f, f) for f in FILTERS], required=False)
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=None, required=False, empty_label=_("All channels")
    )
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name or phone"), "autocomplete": "off"}
        ),
    )

    def __init__(self, *args, organisation_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = channels_of(organisation_id)


def add_errors(form: forms.Form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        form.add_error(key if key in form.fields else None, messages)


# --- helpers --------------------------------------------------------------------------------


def _staff(request):
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _conversation(request, public_id):
    _staff(request)
    return get_object_or_404(conversations_for(request.user), public_id=public_id)


def contact_url(contact) -> str:
    """The contact card (customers:contact), or its agreed address while that page is not
    there yet."""
    try:
        return reverse("customers:contact", args=[contact.public_id])
    except NoReverseMatch:
        return f"/customers/{contact.public_id}/"


def _decorate(conversations, now=None) -> None:
    """Per row: the channel badge, how long the contact has waited, whether that is late."""
    now = now or timezone.now()
    alert = waiting_alert()
    for c in conversations:
        c.badge_key, c.badge_label = channel_badge(c.channel)
        c.waiting_late = bool(c.waiting_since and now - c.waiting_since > alert)


def _redirect(conversation):
    return HttpResponseRedirect(reverse("inbox:conversation", args=[conversation.public_id]))


# --- the list -------------------------------------------------------------------------------


@login_required
@require_GET
def inbox(request):
    """The list. An htmx request (the filters, the live refresh) gets only the list."""
    staff = _staff(request)
    form = FilterForm(request.GET or None, organisation_id=staff.organisation_id)
    view, channel, q = "open", None, ""
    if form.is_valid():
        view = form.cleaned_data["view"] or "open"
        channel = form.cleaned_data["channel"]
        q = form.cleaned_data["q"]
    qs = inbox_filter(conversations_for(request.user), staff=staff, view=view, channel=channel, q=q)
    if view != "waiting":
        qs = qs.order_by("-last_message_at", "-id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    _decorate(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    tab_query = query.copy()
    tab_query.pop("view", None)
    counts = inbox_counts(request.user)
    context = {
        "form": form,
        "page": page,
        "view": view,
        "query": query.urlencode(),
        "tab_query": tab_query.urlencode(),
        "tabs": [(f, FILTER_LABELS[f], counts.get(f, 0)) for f in FILTERS],
        "unread_total": counts.get("open", 0),
        "now": timezone.now(),
    }
    template = "messaging/inbox/_list.html" if request.htmx else "messaging/inbox/list.html"
    return render(request, template, context)


# --- one conversation -----------------------------------------------------------------------


def _messages(conversation) -> tuple[list[Message], int]:
    latest = list(messages_for(conversation).reverse()[: MESSAGE_LIMIT + 1])
    hidden = 0
    if len(latest) > MESSAGE_LIMIT:
        latest = latest[:MESSAGE_LIMIT]
        hidden = messages_for(conversation).count() - MESSAGE_LIMIT
    return latest[::-1], hidden


def _live_context(request, conversation) -> dict:
    # "thread", not "messages": that name belongs to Django's messages framework (base.html).
    thread, hidden = _messages(conversation)
    _decorate([conversation])
    return {
        "conversation": conversation,
        "contact": conversation.contact,
        "contact_url": contact_url(conversation.contact),
        "thread": thread,
        "hidden_count": hidden,
        "pending_attachments": any(
            a.status == AttachmentStatus.PENDING for m in thread for a in m.attachments.all()
        ),
        "window_closed": svc.window_closed(conversation),
        "templates": svc.conversation_templates(conversation),
        "nav_unread": unread_conversations(request.user),
    }


def _page(
    request, conversation, *, reply_form=None, assign_form=None, action_errors=(), status=200
):
    context = _live_context(request, conversation)
    replies = canned_replies_for(conversation)
    context.update(
        reply_form=reply_form or ReplyForm(),
        assign_form=assign_form
        or AssignForm(
            conversation=conversation,
            initial={"assignee": conversation.assignee_id, "team": conversation.team_id},
        ),
        action_errors=list(action_errors),
        ws_path=f"/ws/conversations/{conversation.public_id}/",
        canned=[
            {
                "shortcut": r.shortcut,
                "title": r.title,
                "text": svc.canned_reply_render(r, conversation.contact, staff_user=request.user),
            }
            for r in replies
        ],
    )
    return render(request, "messaging/inbox/conversation.html", context, status=status)


@login_required
@require_GET
def conversation_page(request, public_id):
    """The conversation; opening it marks it read."""
    conversation = _conversation(request, public_id)
    if conversation.unread_count:
        svc.conversation_mark_read(conversation=conversation, actor=request.user)
    return _page(request, conversation)


@login_required
@require_GET
def conversation_live(request, public_id):
    """The head and the messages of a conversation (the live refresh; `read=1` when the page
    is in view, which marks it read)."""
    conversation = _conversation(request, public_id)
    if request.GET.get("read") == "1" and conversation.unread_count:
        svc.conversation_mark_read(conversation=conversation, actor=request.user)
    return render(request, "messaging/inbox/_live.html", _live_context(request, conversation))


def _action(request, public_id, run):
    """Run one state change; a refused one shows its error on the page (422)."""
    conversation = _conversation(request, public_id)
    try:
        run(conversation)
    except ValidationError as exc:
        return _page(request, conversation, action_errors=exc.messages, status=422)
    except NotAllowed as exc:
        raise Http404 from exc
    return _redirect(conversation)


@login_required
@require_POST
def send_template(request, public_id):
    """Send one of the channel's approved templates (after WhatsApp's 24-hour window)."""
    conversation = _conversation(request, public_id)
    try:
        svc.conversation_send_template(
            conversation=conversation,
            author=request.user,
            template=request.POST.get("template", ""),
        )
    except ValidationError as exc:
        return _page(request, conversation, action_errors=exc.messages, status=422)
    except NotAllowed as exc:
        raise Http404 from exc
    return _redirect(conversation)


@login_required
@require_POST
def reply(request, public_id):
    conversation = _conversation(request, public_id)
    form = ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            svc.conversation_reply(
                conversation=conversation,
                author=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except NotAllowed as exc:
            raise Http404 from exc
        else:
            return _redirect(conversation)
    return _page(request, conversation, reply_form=form, status=422)


@login_required
@require_POST
def note(request, public_id):
    conversation = _conversation(request, public_id)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            svc.conversation_note_add(
                conversation=conversation, author=request.user, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except NotAllowed as exc:
            raise Http404 from exc
        else:
            return _redirect(conversation)
    return _page(request, conversation, reply_form=form, status=422)


@login_required
@require_POST
def assign(request, public_id):
    conversation = _conversation(request, public_id)
    form = AssignForm(request.POST, conversation=conversation)
    if form.is_valid():
        try:
            svc.conversation_assign(
                conversation=conversation,
                actor=request.user,
                assignee=form.cleaned_data["assignee"],
                team=form.cleaned_data["team"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except NotAllowed as exc:
            raise Http404 from exc
        else:
            # The assignment may move the conversation out of the user's sight: back to the
            # inbox then, not to a 404.
            if conversations_for(request.user).filter(pk=conversation.pk).exists():
                return _redirect(conversation)
            return HttpResponseRedirect(reverse("inbox:list"))
    return _page(request, conversation, assign_form=form, status=422)


@login_required
@require_POST
def take_over(request, public_id):
    return _action(
        request,
        public_id,
        lambda c: svc.conversation_take_over(conversation=c, actor=request.user),
    )


@login_required
@require_POST
def hand_back(request, public_id):
    return _action(
        request,
        public_id,
        lambda c: svc.conversation_hand_back(conversation=c, actor=request.user),
    )


@login_required
@require_POST
def close(request, public_id):
    return _action(
        request, public_id, lambda c: svc.conversation_close(conversation=c, actor=request.user)
    )


@login_required
@require_POST
def reopen(request, public_id):
    return _action(
        request, public_id, lambda c: svc.conversation_reopen(conversation=c, actor=request.user)
    )


# --- attachments ----------------------------------------------------------------------------


@login_required
@require_GET
def attachment(request, public_id):
    """A stored attachment for someone who may see its conversation: staff who may see it, or
    the contact's own user (a customer, a technician in the office chat) — never a file of a
    staff note for them. Images are shown inline; any
    other type is a download, so no uploaded file is ever rendered as a page of ours."""
    item = get_object_or_404(
        Attachment.objects.select_related("message"),
        public_id=public_id,
        status=AttachmentStatus.STORED,
    )
    message = item.message
    if message.conversation_id is None:
        raise Http404
    user = request.user
    as_staff = (
        staff_of(user) is not None
        and conversations_for(user).filter(pk=message.conversation_id).exists()
    )
    if not as_staff:
        own = Conversation.objects.filter(pk=message.conversation_id, contact__user=user).exists()
        if not own or message.direction == Message.Direction.INTERNAL:
            raise Http404
    response = FileResponse(
        item.file.open("rb"),
        content_type=item.content_type or "application/octet-stream",
        as_attachment=not item.is_image,
        filename=item.filename,
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
