"""Staff pages of contacts: the list (search), the contact card (details, identities, consents,
conversations and the whole timeline), logging a phone call, and merging a duplicate.

Access: staff of the contact's organisation who may see its unit (`customers.view_contact_card`
and friends in rules.py); anyone else gets a 404 — existence must not leak. Customers have their
own pages (My bookings, Messages); the card with its internal notes is not one of them.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.org.selectors import staff_of

from .models import Contact
from .selectors import contact_search, contacts_for, timeline_for

PAGE_SIZE = 50
TIMELINE_PAGE = 50


def _staff_or_404(request, perm: str = "customers.view_contacts"):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm(perm):
        raise Http404
    return staff


def _contact_or_404(request, public_id, perm: str = "customers.view_contact_card") -> Contact:
    """The contact if the user (staff) may see it; 404 for everything else."""
    _staff_or_404(request)
    contact = (
        contacts_for(request.user)
        .select_related("location", "user")
        .filter(public_id=public_id)
        .first()
    )
    if contact is None or not request.user.has_perm(perm, contact):
        raise Http404
    return contact


def _zone(contact):
    return ZoneInfo(contact.organisation.time_zone)


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# --- the list ------------------------------------------------------------------------------------


@login_required
@require_GET
def contact_list(request):
    _staff_or_404(request)
    q = (request.GET.get("q") or "").strip()
    qs = contact_search(request.user, q).annotate(bookings_count=Count("bookings", distinct=True))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/list.html",
        {"page": page, "q": q, "query": urlencode({"q": q}) if q else ""},
    )


# --- the card ------------------------------------------------------------------------------------


def _entry_link(entry) -> str:
    data = entry.data or {}
    if data.get("booking"):
        return _url("bookings:detail", data["booking"])
    if data.get("payment"):
        return _url("payments:office_payment", data["payment"])
    if data.get("invoice"):
        return _url("payments:office_invoice", data["invoice"])
    return ""


def _timeline_rows(page) -> list[dict]:
    from slotwise.messaging.chat import inbox_url

    rows = []
    for item in page.items:
        if item.source == "entry":
            entry = item.obj
            rows.append(
                {
                    "source": "entry",
                    "at": item.at,
                    "kind": entry.kind,
                    "text": entry.summary,
                    "who": entry.actor,
                    "link": _entry_link(entry),
                }
            )
            continue
        message = item.obj
        data = message.data or {}
        rows.append(
            {
                "source": "message",
                "at": item.at,
                "kind": message.kind,
                "kind_display": message.get_kind_display(),
                "direction": message.direction,
                "direction_display": message.get_direction_display(),
                "status": message.status,
                "status_display": message.get_status_display(),
                "channel": message.channel_config or message.channel,
                "subject": message.subject,
                "text": message.body,
                "who": message.author,
                "by_bot": message.by_bot,
                "error": message.last_error if message.status == "failed" else "",
                "attachments": list(message.attachments.all()),
                "duration_s": data.get("duration_s"),
                "link": inbox_url(message.conversation) if message.conversation_id else "",
            }
        )
    return rows


def _card_context(request, contact, *, call_form=None) -> dict:
    from slotwise.messaging.channels.phone.forms import CallLogForm
    from slotwise.messaging.chat import inbox_url

    page = timeline_for(contact, before=request.GET.get("before") or None, limit=TIMELINE_PAGE)
    numbers = [contact.phone] if contact.phone else []
    numbers += [
        i.external_id
        for i in contact.identities.all()
        if i.kind == "phone" and i.external_id not in numbers
    ]
    conversations = [
        {"conversation": c, "url": inbox_url(c)}
        for c in contact.conversations.select_related("channel", "assignee__user").order_by(
            "-last_message_at", "-id"
        )
    ]
    return {
        "contact": contact,
        "identities": contact.identities.order_by("kind", "external_id"),
        "consents": contact.consents.all(),
        "conversations": conversations,
        "timeline": _timeline_rows(page),
        "older": f"?{urlencode({'before': page.next_before})}" if page.next_before else "",
        "is_first_page": not request.GET.get("before"),
        "call_form": call_form
        or CallLogForm(numbers=numbers, default_region=contact.organisation.country),
        "may_log_call": request.user.has_perm("customers.log_call", contact),
        "may_merge": request.user.has_perm("customers.merge_contact", contact),
        "is_staff_contact": bool(contact.user_id and staff_of(contact.user)),
    }


@login_required
@require_GET
def contact_card(request, public_id):
    contact = _contact_or_404(request, public_id)
    try:
        context = _card_context(request, contact)
    except ValidationError:  # a bad ?before= cursor
        raise Http404 from None
    with timezone.override(_zone(contact)):
        return render(request, "customers/contact.html", context)


@login_required
@require_POST
def call_log(request, public_id):
    """Log a phone call (the card's form). Errors re-render the card with the form (400)."""
    from slotwise.messaging.channels.phone.forms import CallLogForm

    from .services import call_log_record

    contact = _contact_or_404(request, public_id, "customers.log_call")
    numbers = [contact.phone] if contact.phone else []
    numbers += [
        i.external_id
        for i in contact.identities.filter(kind="phone")
        if i.external_id not in numbers
    ]
    form = CallLogForm(request.POST, numbers=numbers, default_region=contact.organisation.country)
    if form.is_valid():
        d = form.cleaned_data
        try:
            call_log_record(
                contact=contact,
                actor=request.user,
                direction=d["direction"],
                outcome=d["status"],
                duration_s=d.get("duration_s") or 0,
                notes=d.get("notes", ""),
                number=d["number"],
            )
        except ValidationError as exc:
            names = {"outcome": "status", "duration_s": "duration_minutes", "number": "number"}
            for field, errors in exc.message_dict.items():
                target = names.get(field, field)
                for error in errors:
                    form.add_error(target if target in form.fields else None, error)
        else:
            messages.success(request, _("The call was logged."))
            return redirect("customers:contact", public_id=contact.public_id)
    context = _card_context(request, contact, call_form=form)
    with timezone.override(_zone(contact)):
        return render(request, "customers/contact.html", context, status=400)


# --- merging a duplicate -------------------------------------------------------------------------


@login_required
@require_GET
def merge_search(request, public_id):
    """Find the duplicate to merge INTO this contact (by name, phone or e-mail)."""
    target = _contact_or_404(request, public_id, "customers.merge_contact")
    q = (request.GET.get("q") or "").strip()
    results = []
    if q:
        results = [
            c
            for c in contact_search(request.user, q, exclude=target)
            .filter(organisation_id=target.organisation_id)
            .select_related("user")[:20]
            if request.user.has_perm("customers.merge_contact", c)
        ]
    return render(
        request,
        "customers/merge_search.html",
        {"contact": target, "q": q, "results": results, "searched": bool(q)},
    )


def _what_moves(source) -> list[tuple[str, int]]:
    """(label, count) of everything the source has, for the confirmation page."""
    from slotwise.customers.services import reverse_relations

    rows = []
    for rel in reverse_relations(Contact):
        count = rel.related_model._base_manager.filter(**{rel.field.name: source}).count()
        if count:
            rows.append((str(rel.related_model._meta.verbose_name_plural).capitalize(), count))
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def merge_confirm(request, public_id, source_id):
    """What moves from the duplicate (source) to this contact (target); POST merges."""
    from .services import contact_merge

    target = _contact_or_404(request, public_id, "customers.merge_contact")
    source = _contact_or_404(request, source_id, "customers.merge_contact")
    problem = ""
    if source.user_id and target.user_id:
        problem = _(
            "Both contacts have a user account; they can't be merged. Remove one account's "
            "link first."
        )
    if request.method == "POST" and not problem:
        try:
            contact_merge(source=source, target=target, actor=request.user)
        except ValidationError as exc:
            problem = " ".join(m for ms in exc.message_dict.values() for m in ms)
        else:
            messages.success(
                request, _("%(source)s was merged into this contact.") % {"source": source}
            )
            return redirect("customers:contact", public_id=target.public_id)
    fills = [
        (label, getattr(source, name))
        for name, label in (
            ("phone", _("Phone")),
            ("email", _("E-mail")),
            ("last_name", _("Last name")),
            ("location", _("Address")),
        )
        if getattr(source, name) and not getattr(target, name)
    ]
    return render(
        request,
        "customers/merge_confirm.html",
        {
            "contact": target,
            "source": source,
            "moves": _what_moves(source),
            "fills": fills,
            "notes": source.notes.strip(),
            "problem": problem,
        },
        status=400 if problem and request.method == "POST" else 200,
    )
