"""The manager's pages for onboarding (S1.3, S1.6, S1.10): the applications with per-status
counts, the review screen (collected data, document photos, the conversation) with its
one-click actions, and the supervisor's figures. Thin: `services` writes, `selectors` reads,
`rules` guards every object — another organisation's or unit's application is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.core.errors import ValidationError
from slotwise.messaging.models import AttachmentStatus
from slotwise.org.selectors import staff_of, units_for

from . import services
from .forms import ApplicationForm, AskForm, FilterForm, FixNumberForm, RejectForm, add_errors
from .models import (
    CLOSED_STATUSES,
    Application,
    ApplicationDocument,
    ApplicationSource,
    ApplicationStatus,
    StepKind,
)
from .selectors import applications_for, funnel, status_counts

PAGE_SIZE = 50


def _staff(request, permission: str = "onboarding.view_applications"):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm(permission):
        raise PermissionDenied
    return staff


def _application(request, public_id, permission: str = "onboarding.view_application"):
    _staff(request)
    application = get_object_or_404(
        applications_for(request.user).select_related("organisation", "welcome_message"),
        public_id=public_id,
    )
    if not request.user.has_perm(permission, application):
        raise Http404
    return application


@login_required
@require_GET
def application_list(request):
    _staff(request)
    form = FilterForm(request.GET or None)
    base = applications_for(request.user)
    qs = base.order_by("-created_at", "-pk")
    status = ""
    if form.is_valid():
        status = form.cleaned_data["status"]
        term = form.cleaned_data["q"].strip()
        if term:
            digits = "".join(ch for ch in term if ch.isdigit())
            q = Q(contact__first_name__icontains=term) | Q(contact__last_name__icontains=term)
            if len(digits) >= 4:
                q |= Q(contact__phone__contains=digits)
            qs = qs.filter(q)
    if status == "all":
        pass
    elif status:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status__in=CLOSED_STATUSES)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "onboarding/applications.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "counts": status_counts(base),
            "status": status,
            "can_see_funnel": request.user.has_perm("onboarding.view_funnel"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def application_new(request):
    staff = _staff(request)
    units = units_for(request.user)
    form = ApplicationForm(request.POST or None, units=units)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            application = services.application_create(
                organisation=staff.organisation,
                first_name=data["first_name"],
                last_name=data["last_name"],
                phone=data["phone"],
                unit=data["unit"],
                source=ApplicationSource.MANAGER,
                actor=request.user,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("onboarding:detail", application.public_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "onboarding/new.html", {"form": form}, status=status)


def _answers(application: Application, language: str) -> list[tuple[str, str]]:
    """(label, value) of the collected data, in the flow's order, then anything else."""
    flow = application.flow
    steps = list(flow.steps.all()) if flow is not None else []
    data = dict(application.data or {})
    rows, seen = [], set()
    choice_labels = {}
    for step in steps:
        if not step.field or step.kind == StepKind.ASK_PHOTO:
            continue
        if step.kind == StepKind.ASK_CHOICE:
            for choice in step.choices or []:
                choice_labels[(step.field, str(choice.get("value")))] = (
                    (choice.get("labels") or {}).get(language)
                    or next(iter((choice.get("labels") or {}).values()), "")
                    or choice.get("value")
                )
        if step.field in data:
            value = data[step.field]
            rows.append(
                (step.label_for(language), choice_labels.get((step.field, str(value)), value))
            )
            seen.add(step.field)
    names = {
        "first_name": _("First name"),
        "last_name": _("Last name"),
        "full_name": _("Full name"),
        "phone": _("Phone"),
    }
    for key, value in data.items():
        if key in seen or key == "extra" or value in ("", None):
            continue
        rows.append((names.get(key, key), value))
    for item in data.get("extra") or []:
        rows.append((_("Answer to a manager's question"), item.get("text", "")))
    return rows


def _documents(application: Application, language: str) -> list[dict]:
    flow = application.flow
    labels = {}
    if flow is not None:
        labels = {
            s.field: s.label_for(language)
            for s in flow.steps.all()
            if s.kind == StepKind.ASK_PHOTO and s.field
        }
    docs = []
    for doc in application.documents.select_related("attachment").order_by("created_at", "id"):
        attachment = doc.attachment
        docs.append(
            {
                "doc": doc,
                "label": labels.get(doc.kind)
                or (_("Other file") if doc.kind == "extra" else doc.kind),
                "status": attachment.get_status_display(),
                "stored": attachment.status == AttachmentStatus.STORED,
                "is_image": attachment.is_image,
                "rejected": attachment.rejected_reason,
                "url": reverse("onboarding:document", args=[application.public_id, doc.pk]),
            }
        )
    return docs


def _detail_context(request, application, **forms) -> dict:
    language = get_language() or "en"
    conversation = services.driver_conversation(application)
    return {
        "application": application,
        "contact": application.contact,
        "answers": _answers(application, language),
        "documents": _documents(application, language),
        "changes": application.changes.select_related("actor").order_by("at", "id"),
        "conversation": conversation,
        "conversation_url": (
            reverse("inbox:conversation", args=[conversation.public_id]) if conversation else ""
        ),
        "closed": application.is_closed,
        "not_sent": application.status == ApplicationStatus.MESSAGE_NOT_SENT,
        "fix_form": forms.get("fix_form")
        or FixNumberForm(initial={"phone": application.contact.phone}),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "ask_form": forms.get("ask_form") or AskForm(),
        "links": services.deep_links(application.organisation_id, "x"),
        "can_handle": request.user.has_perm("onboarding.handle_application", application),
        "now": timezone.now(),
    }


@login_required
@require_GET
def application_detail(request, public_id):
    application = _application(request, public_id)
    return render(request, "onboarding/detail.html", _detail_context(request, application))


def _action(request, public_id, run, *, form_class=None, form_name=""):
    """One POST action on an application: run the service, or show the page again with the
    error (400)."""
    application = _application(request, public_id, "onboarding.handle_application")
    form = form_class(request.POST) if form_class else None
    if form is None or form.is_valid():
        try:
            done = run(application, form.cleaned_data if form else {})
        except ValidationError as exc:
            if form is None:
                messages.error(request, " ".join(exc.messages))
                return redirect("onboarding:detail", application.public_id)
            add_errors(form, exc)
        else:
            if done:
                messages.success(request, done)
            return redirect("onboarding:detail", application.public_id)
    application.refresh_from_db()
    context = _detail_context(request, application, **{form_name: form})
    return render(request, "onboarding/detail.html", context, status=400)


@login_required
@require_POST
def application_approve(request, public_id):
    def run(application, _data):
        services.application_approve(application=application, actor=request.user)
        return _("Approved; the person got the instructions to start.")

    return _action(request, public_id, run)


@login_required
@require_POST
def application_reject(request, public_id):
    def run(application, data):
        services.application_reject(
            application=application, actor=request.user, reason=data["reason"]
        )
        return _("Rejected; the person was told why.")

    return _action(request, public_id, run, form_class=RejectForm, form_name="reject_form")


@login_required
@require_POST
def application_ask(request, public_id):
    def run(application, data):
        services.application_ask_more(
            application=application, actor=request.user, text=data["text"]
        )
        return _("Sent; the bot will pass the answer to the review.")

    return _action(request, public_id, run, form_class=AskForm, form_name="ask_form")


@login_required
@require_POST
def application_fix_number(request, public_id):
    def run(application, data):
        services.application_fix_number(
            application=application, actor=request.user, phone=data["phone"]
        )
        return _("Number changed; the welcome was sent again.")

    return _action(request, public_id, run, form_class=FixNumberForm, form_name="fix_form")


@login_required
@require_POST
def application_send_link(request, public_id):
    def run(application, _data):
        services.application_send_link(application=application, actor=request.user)
        return _("The SMS with the code and the messenger links is on its way.")

    return _action(request, public_id, run)


@login_required
@require_POST
def application_take_over(request, public_id):
    application = _application(request, public_id, "onboarding.handle_application")
    try:
        conversation = services.application_take_over(application=application, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("onboarding:detail", application.public_id)
    return redirect("inbox:conversation", conversation.public_id)


@login_required
@require_GET
def document(request, public_id, pk: int):
    """A document's photo, for staff who may see the application (never by a guessable link)."""
    application = _application(request, public_id)
    doc = get_object_or_404(
        ApplicationDocument.objects.select_related("attachment"),
        pk=pk,
        application=application,
        attachment__status=AttachmentStatus.STORED,
    )
    attachment = doc.attachment
    response = FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        filename=attachment.filename,
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace(
        "attachment", "inline", 1
    )
    response["Cache-Control"] = "private, max-age=600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def supervisor(request):
    """S1.10: the funnel, time in stage and drop-off."""
    _staff(request, "onboarding.view_funnel")
    try:
        days = max(1, min(365, int(request.GET.get("days", 30))))
    except ValueError:
        days = 30
    try:
        hours = max(1, min(24 * 30, int(request.GET.get("stuck_hours", 24))))
    except ValueError:
        hours = 24
    figures = funnel(request.user, days=days, stuck_hours=hours)
    return render(request, "onboarding/supervisor.html", {"f": figures})
