"""In-app chat pages: a customer's "Messages" with their manager (S3.9) and a technician's "Chat
with the office" (S2.11). Both are the user's OWN contact's chat conversation; staff answer from
the inbox. The thread refreshes live (the `ws/conversations/<public id>/` consumer tells the
page that something changed; the page then fetches `thread/`) and polls every
`MESSAGING_CHAT_POLL_SECONDS` (15) as a fallback when the socket is down.

Who may use which page: `/chat/` — a signed-in customer with a contact (never staff);
`/chat/office/` — staff with an agenda role (technicians, representatives, measurers …); the
contact standing for them in the chat is created with their first message
(`customers.services.contact_for_staff`).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from slotwise.customers.selectors import contact_for_customer, own_contact
from slotwise.org.roles import AGENDA_ROLES
from slotwise.org.selectors import staff_of

from .chat import MAX_BODY, chat_conversation, chat_mark_read, chat_message_post
from .media import signed_url


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class ChatForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Message"),
        required=False,
        max_length=MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )
    files = MultipleFileField(label=gettext_lazy("Attach files"), required=False)


# --- who is chatting ----------------------------------------------------------------------------


def _customer(request):
    """The customer's own contact; 404 for staff (they have the inbox or the office chat)."""
    if staff_of(request.user) is not None:
        raise Http404
    return contact_for_customer(request.user)


def _office_staff(request):
    staff = staff_of(request.user)
    if staff is None or not staff.has_role(*AGENDA_ROLES):
        raise Http404
    return staff


def _thread_context(conversation) -> dict:
    from .selectors import messages_for

    rows = []
    if conversation is not None:
        for message in messages_for(conversation, internal=False):
            rows.append(
                {
                    "message": message,
                    "mine": message.direction == "in",
                    "attachments": [
                        {"a": a, "url": signed_url(a) if a.status == "stored" else ""}
                        for a in message.attachments.all()
                    ],
                }
            )
    return {"conversation": conversation, "rows": rows}


def _page(request, *, contact, conversation, office: bool, form=None, status: int = 200):
    context = {
        "contact": contact,
        "office": office,
        "form": form or ChatForm(),
        "poll_seconds": getattr(settings, "MESSAGING_CHAT_POLL_SECONDS", 15),
        **_thread_context(conversation),
    }
    return render(request, "messaging/chat/page.html", context, status=status)


def _post(request, *, contact_getter, office: bool, redirect_to: str):
    form = ChatForm(request.POST, request.FILES)
    contact = None
    if form.is_valid():
        try:
            contact = contact_getter()
            chat_message_post(
                contact=contact,
                author=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            if request.htmx:
                conversation = chat_conversation(contact=contact, create=False)
                return render(request, "messaging/chat/_thread.html", _thread_context(conversation))
            return redirect(redirect_to)
    contact = contact or own_contact(request.user)
    conversation = chat_conversation(contact=contact, create=False) if contact else None
    return _page(
        request, contact=contact, conversation=conversation, office=office, form=form, status=400
    )


# --- pages ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def customer_chat(request):
    """The customer's "Messages": their conversation with the organisation."""
    contact = _customer(request)
    if contact is None:
        return render(request, "messaging/chat/no_contact.html", status=404)
    if request.method == "POST":
        return _post(
            request, contact_getter=lambda: contact, office=False, redirect_to="chat:messages"
        )
    conversation = chat_conversation(contact=contact, create=False)
    if conversation is not None:
        chat_mark_read(conversation=conversation)
    return _page(request, contact=contact, conversation=conversation, office=False)


@login_required
@require_http_methods(["GET", "POST"])
def office_chat(request):
    """A technician's (any staff member with an agenda) chat with the office."""
    from slotwise.customers.services import contact_for_staff

    staff = _office_staff(request)
    if request.method == "POST":
        return _post(
            request,
            contact_getter=lambda: contact_for_staff(staff=staff),
            office=True,
            redirect_to="chat:office",
        )
    contact = own_contact(request.user)
    if contact is not None and contact.organisation_id != staff.organisation_id:
        contact = None
    conversation = chat_conversation(contact=contact, create=False) if contact else None
    if conversation is not None:
        chat_mark_read(conversation=conversation)
    return _page(request, contact=contact, conversation=conversation, office=True)


@login_required
@require_GET
def thread(request):
    """The thread alone (the live refresh and the poll fetch it)."""
    staff = staff_of(request.user)
    if staff is None:
        contact = contact_for_customer(request.user)
    elif staff.has_role(*AGENDA_ROLES):
        contact = own_contact(request.user)
        if contact is not None and contact.organisation_id != staff.organisation_id:
            contact = None
    else:
        raise Http404
    conversation = chat_conversation(contact=contact, create=False) if contact else None
    if conversation is not None:
        chat_mark_read(conversation=conversation)
    return render(request, "messaging/chat/_thread.html", _thread_context(conversation))
