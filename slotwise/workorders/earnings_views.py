"""Thin views of technicians' pay (S2.10) and of the completion questionnaire's settings.

- `/work/tech/earnings/`: the technician's own pay per order, week and month, unpaid against
  paid out, the cash and checks they hold, done work and payouts (`workorders.use_tech_app`).
- `/work/pay/`: the technicians of the manager's units with their pay rule, unpaid earnings and
  cash held; `/work/pay/<staff id>/`: one technician — edit the pay rule, record a payout,
  mark cash handed over (`workorders.dispatch` + `workorders.manage_pay_of` on the technician;
  404 for a technician outside the manager's units).
- `/work/questions/`: the organisation's completion questions — list, add, edit, deactivate
  (`workorders.manage_catalogue`: managers).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from slotwise.core.errors import Conflict, ValidationError
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of
from slotwise.scheduling.forms import add_service_errors

from . import earnings
from .models import Question
from .questionnaire import DEFAULT_QUESTIONS

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DECIMAL = {"inputmode": "decimal", "autocomplete": "off"}
HISTORY_PAGE = 25
PAYOUTS_SHOWN = 24


# --- forms (the services check the values; the forms only carry them) -------------------------


class PayRuleForm(forms.Form):
    labour_share_percent = forms.CharField(
        label=gettext_lazy("Share of labour (%)"),
        required=False,
        widget=forms.TextInput(attrs=DECIMAL),
        help_text=gettext_lazy("A percentage from 0 to 100 of the order's work cost."),
    )
    fixed_per_job = forms.CharField(
        label=gettext_lazy("Fixed per job"), required=False, widget=forms.TextInput(attrs=DECIMAL)
    )
    mileage_rate = forms.CharField(
        label=gettext_lazy("Rate per toll-road mile"),
        required=False,
        widget=forms.TextInput(attrs=DECIMAL),
    )


class PayoutForm(forms.Form):
    up_to = forms.DateField(
        label=gettext_lazy("Pay the work done up to"),
        widget=DATE,
        error_messages={"required": gettext_lazy("Choose a date.")},
    )
    note = forms.CharField(
        label=gettext_lazy("Note (e.g. bank transfer reference)"), required=False, max_length=255
    )
    #: the sum the manager saw, and the date it was shown for (rendered by the template)
    amount = forms.CharField(required=False, widget=forms.HiddenInput)
    amount_for = forms.CharField(required=False, widget=forms.HiddenInput)


class QuestionForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Question"), required=False, max_length=255)
    kind = forms.ChoiceField(label=gettext_lazy("Answer"), choices=Question.Kind.choices)
    required = forms.BooleanField(label=gettext_lazy("An answer is required"), required=False)
    position = forms.CharField(
        label=gettext_lazy("Position"),
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        help_text=gettext_lazy("Questions are asked in this order; empty: at the end."),
    )


# --- the technician's own page ------------------------------------------------------------------


def _page(request, queryset):
    return Paginator(queryset, HISTORY_PAGE).get_page(request.GET.get("page"))


@login_required
@require_http_methods(["GET"])
def tech_earnings(request):
    me = staff_of(request.user)
    if me is None or not request.user.has_perm("workorders.use_tech_app"):
        raise PermissionDenied
    return render(
        request,
        "workorders/earnings/tech.html",
        {
            "member": me,
            "summary": earnings.earnings_summary(me),
            "history": _page(request, earnings.earnings_history(me)),
            "payouts": earnings.payouts_of(me)[:PAYOUTS_SHOWN],
            "own": True,
        },
    )


# --- managers: pay rules, payouts, cash handed over --------------------------------------------


def _manager(request):
    me = staff_of(request.user)
    if me is None or not request.user.has_perm("workorders.dispatch"):
        raise PermissionDenied
    return me


@login_required
@require_http_methods(["GET"])
def pay_rules(request):
    _manager(request)
    return render(
        request,
        "workorders/earnings/pay_rules.html",
        {"rows": earnings.pay_overview(request.user)},
    )


def _technician(request, staff_id: int):
    me = _manager(request)
    member = earnings.technicians_for(request.user).filter(pk=staff_id).first()
    if member is None or not request.user.has_perm("workorders.manage_pay_of", member):
        raise Http404
    if member.pk == me.pk and not me.has_role(Role.ORG_ADMIN):
        raise Http404  # nobody sets their own pay (org admins excepted)
    return member


@login_required
@require_http_methods(["GET", "POST"])
def pay_technician(request, staff_id: int):
    member = _technician(request, staff_id)
    action = request.POST.get("action") if request.method == "POST" else None
    if action not in (None, "rule", "payout", "hand_over"):
        raise Http404
    rule = earnings.pay_rule_of(member)
    rule_form = PayRuleForm(
        request.POST if action == "rule" else None,
        prefix="rule",
        initial={
            "labour_share_percent": rule.labour_share_percent if rule else "0",
            "fixed_per_job": rule.fixed_per_job if rule else "0",
            "mileage_rate": rule.mileage_rate if rule else "0",
        },
    )
    summary = earnings.earnings_summary(member)
    payout_form = PayoutForm(
        request.POST if action == "payout" else None,
        prefix="payout",
        initial={"up_to": summary.today},
    )
    hand_over_error = ""
    saved = None
    preview = False
    if action == "rule" and rule_form.is_valid():
        try:
            earnings.pay_rule_save(technician=member, actor=request.user, **rule_form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(rule_form, exc)
        else:
            saved = _("Pay rule saved. It applies to the orders confirmed from now on.")
    elif action == "payout" and payout_form.is_valid():
        data = payout_form.cleaned_data
        if data["up_to"] <= summary.today and data["amount_for"] != data["up_to"].isoformat():
            # another date than the one whose sum was shown: show its sum first
            preview = True
        else:
            saved = _payout(member, payout_form, request.user)
    elif action == "hand_over":
        saved, hand_over_error = _hand_over(request, member, summary)
    if saved:
        messages.success(request, saved)
        return redirect("workorders:pay_technician", staff_id=member.pk)
    chosen = getattr(payout_form, "cleaned_data", {}).get("up_to")
    up_to = min(chosen, summary.today) if chosen else summary.today
    return render(
        request,
        "workorders/earnings/technician.html",
        {
            "member": member,
            "rule": rule,
            "rule_form": rule_form,
            "payout_form": payout_form,
            "payout_up_to": up_to,
            "payout_amount": earnings.unpaid_total(member, up_to=up_to),
            "payout_preview": preview,
            "hand_over_error": hand_over_error,
            "summary": summary,
            "history": _page(request, earnings.earnings_history(member)),
            "payouts": earnings.payouts_of(member)[:PAYOUTS_SHOWN],
            "own": False,
        },
        status=200 if request.method == "GET" or preview else 400,
    )


def _payout(member, form: PayoutForm, user) -> str | None:
    data = form.cleaned_data
    try:
        payout = earnings.payout_record(
            technician=member,
            up_to=data["up_to"],
            note=data["note"],
            expected_amount=data["amount"],
            actor=user,
        )
    except ValidationError as exc:
        add_service_errors(form, exc, {"amount": None})
        return None
    except Conflict as exc:
        form.add_error(None, exc.message)
        return None
    return _("Payout of %(amount)s %(currency)s recorded.") % {
        "amount": payout.amount,
        "currency": payout.currency,
    }


def _hand_over(request, member, summary) -> tuple[str | None, str]:
    """Mark the chosen cash and checks of `member` handed over (the payments app's service)."""
    from slotwise.payments.services import manual_payment_hand_over

    ids = {int(v) for v in request.POST.getlist("payment") if v.isdigit()}
    chosen = [
        p
        for p in summary.held
        if p.pk in ids and request.user.has_perm("payments.hand_over_cash", p)
    ]
    if not chosen:
        return None, _("Choose the payments that were handed over.")
    count = manual_payment_hand_over(payments=chosen, actor=request.user)
    return _("%(count)s payment(s) marked as handed over.") % {"count": count}, ""


# --- the completion questionnaire ---------------------------------------------------------------


def _questions_manager(request):
    me = staff_of(request.user)
    if me is None or not request.user.has_perm("workorders.manage_catalogue"):
        raise PermissionDenied
    return me


def _question(request, pk: int) -> Question:
    me = _questions_manager(request)
    question = Question.objects.filter(pk=pk, organisation=me.organisation_id).first()
    if question is None:
        raise Http404
    return question


@login_required
@require_http_methods(["GET", "POST"])
def questions(request):
    me = _questions_manager(request)
    form = QuestionForm(
        request.POST if request.method == "POST" else None, initial={"required": True}
    )
    if request.method == "POST" and form.is_valid():
        try:
            earnings.question_save(
                organisation=me.organisation, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Question added."))
            return redirect("workorders:questions")
    own = list(earnings.questions_of(me.organisation))
    return render(
        request,
        "workorders/earnings/questions.html",
        {
            "form": form,
            "questions": own,
            "using_defaults": not any(q.active for q in own),
            "defaults": [
                (str(text), Question.Kind(kind).label) for _k, text, kind in DEFAULT_QUESTIONS
            ],
        },
        status=200 if request.method == "GET" else 400,
    )


@login_required
@require_http_methods(["GET", "POST"])
def question_edit(request, pk: int):
    question = _question(request, pk)
    form = QuestionForm(
        request.POST if request.method == "POST" else None,
        initial={
            "text": question.text,
            "kind": question.kind,
            "required": question.required,
            "position": question.position,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            earnings.question_save(
                organisation=question.organisation,
                question=question,
                actor=request.user,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Question saved."))
            return redirect("workorders:questions")
    return render(
        request,
        "workorders/earnings/question_form.html",
        {"form": form, "question": question},
        status=200 if request.method == "GET" else 400,
    )


@login_required
@require_POST
def question_active(request, pk: int):
    question = _question(request, pk)
    active = request.POST.get("active") == "1"
    earnings.question_set_active(question=question, active=active, actor=request.user)
    messages.success(
        request,
        _("“%(text)s” is asked again.") % {"text": question.text}
        if active
        else _("“%(text)s” is no longer asked.") % {"text": question.text},
    )
    return redirect("workorders:questions")


@login_required
@require_POST
def questions_defaults(request):
    me = _questions_manager(request)
    earnings.questions_from_defaults(organisation=me.organisation, actor=request.user)
    messages.success(request, _("The built-in questions are now yours to edit."))
    return redirect(reverse("workorders:questions"))
