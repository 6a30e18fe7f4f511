"""REST endpoints of payments and invoices.

- Payments (back office only: managers and org admins, scoped by organisation and the customer's
  unit like the pages): list with filters, one payment with its refunds, and a refund
  (`POST /api/payments/<public_id>/refunds/` → 201 with the pending refund, which the worker
  sends to the provider; 400 with field errors).
- Invoices: the back office lists, creates (a draft with lines), reads, changes a draft's lines,
  issues and voids; a customer lists and reads their own issued invoices. The PDF of each.

Everything is addressed by public id; an object outside the user's scope is a 404, an action the
user may not take on an object they see is a 403. Errors have one field-level shape (lines as
``lines.<i>.<field>``).
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.bookings.models import Booking
from slotwise.core.money import Money
from slotwise.customers.selectors import contacts_for
from slotwise.org.selectors import staff_of
from slotwise.scheduling.api import ERRORS

from . import invoices as inv
from . import services
from .models import InvoiceKind, InvoiceStatus, PaymentStatus
from .selectors import invoices_for, payments_for

NOT_FOUND = {404: OpenApiResponse(description="No such object (or not yours to see).")}
FORBIDDEN = {403: OpenApiResponse(description="Not allowed for your role.")}
AMOUNT = {"max_digits": 14, "decimal_places": 2}


# --- serializers ------------------------------------------------------------------------------


class RefundSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    amount = serializers.DecimalField(**AMOUNT)
    reason = serializers.CharField()
    status = serializers.CharField()
    provider_reference = serializers.CharField()
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class PaymentSerializer(serializers.Serializer):
    public_id = serializers.UUIDField()
    provider = serializers.CharField()
    method = serializers.CharField()
    purpose = serializers.CharField()
    status = serializers.CharField()
    amount = serializers.DecimalField(**AMOUNT)
    currency = serializers.CharField()
    tip_amount = serializers.DecimalField(**AMOUNT)
    paid_amount = serializers.DecimalField(**AMOUNT)
    refunded_amount = serializers.DecimalField(**AMOUNT)
    fee_amount = serializers.DecimalField(allow_null=True, **AMOUNT)
    provider_reference = serializers.CharField()
    failure_reason = serializers.CharField()
    contact = serializers.UUIDField(source="contact.public_id", allow_null=True, default=None)
    invoice = serializers.UUIDField(source="invoice.public_id", allow_null=True, default=None)
    booking = serializers.UUIDField(source="booking.public_id", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    refunds = RefundSerializer(many=True, source="refunds.all")


class PaymentListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    provider = serializers.CharField(required=False)
    date_from = serializers.DateField(required=False, help_text="Created on or after (local).")
    date_to = serializers.DateField(required=False, help_text="Created on or before (local).")
    q = serializers.CharField(required=False, help_text="Provider reference (part of it).")


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**AMOUNT)
    reason = serializers.CharField(max_length=255)


class InvoiceLineSerializer(serializers.Serializer):
    """Numbers as decimal strings; the service checks them (quantity > 0 with at most 3
    decimals, unit price ≥ 0 in the currency's minor unit, tax rate 0–100)."""

    description = serializers.CharField(allow_blank=True, max_length=255)
    quantity = serializers.CharField(default="1")
    unit_price = serializers.CharField()
    tax_rate = serializers.CharField(default="0")


class InvoiceLineOutSerializer(serializers.Serializer):
    description = serializers.CharField(source="line.description")
    quantity = serializers.DecimalField(source="line.quantity", max_digits=10, decimal_places=3)
    unit_price = serializers.DecimalField(source="line.unit_price", **AMOUNT)
    tax_rate = serializers.DecimalField(source="line.tax_rate", max_digits=5, decimal_places=2)
    net = serializers.DecimalField(**AMOUNT)
    tax = serializers.DecimalField(**AMOUNT)
    gross = serializers.DecimalField(**AMOUNT)
    deducts = serializers.SerializerMethodField(
        help_text="The advance invoice this line deducts (final invoices)."
    )

    def get_deducts(self, row) -> str | None:
        advance = row["line"].deducts
        return str(advance.public_id) if advance is not None else None


class InvoiceSerializer(serializers.Serializer):
    public_id = serializers.UUIDField()
    number = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    status = serializers.CharField()
    contact = serializers.UUIDField(source="contact.public_id")
    booking = serializers.UUIDField(source="booking.public_id", allow_null=True, default=None)
    currency = serializers.CharField()
    issued_at = serializers.DateTimeField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    net_total = serializers.SerializerMethodField()
    tax_total = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    paid_total = serializers.DecimalField(**AMOUNT)
    outstanding = serializers.SerializerMethodField()
    notes = serializers.CharField()
    lines = serializers.SerializerMethodField()
    pdf = serializers.SerializerMethodField()

    def _ctx(self, invoice) -> dict:
        cache = self.context.setdefault("_ctx", {})
        if invoice.pk not in cache:
            cache[invoice.pk] = inv.invoice_context(invoice)
        return cache[invoice.pk]

    def get_net_total(self, invoice) -> str:
        return str(self._ctx(invoice)["net"])

    def get_tax_total(self, invoice) -> str:
        return str(self._ctx(invoice)["tax"])

    def get_total(self, invoice) -> str:
        return str(self._ctx(invoice)["total"])

    def get_outstanding(self, invoice) -> str:
        return str(self._ctx(invoice)["outstanding"])

    @extend_schema_field(InvoiceLineOutSerializer(many=True))
    def get_lines(self, invoice) -> list[dict]:
        return InvoiceLineOutSerializer(self._ctx(invoice)["lines"], many=True).data

    def get_pdf(self, invoice) -> str:
        return reverse("api_invoice_pdf", args=[invoice.public_id])


class InvoiceCreateSerializer(serializers.Serializer):
    contact = serializers.UUIDField(help_text="The customer's public id.")
    kind = serializers.ChoiceField(choices=InvoiceKind.choices, default=InvoiceKind.STANDARD)
    currency = serializers.CharField(required=False, help_text="Default: the organisation's.")
    due_date = serializers.DateField(required=False, allow_null=True)
    booking = serializers.UUIDField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    lines = InvoiceLineSerializer(many=True)


class InvoiceUpdateSerializer(serializers.Serializer):
    due_date = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    lines = InvoiceLineSerializer(many=True)


class InvoiceListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=InvoiceStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=InvoiceKind.choices, required=False)
    contact = serializers.UUIDField(required=False)


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)


# --- payments ---------------------------------------------------------------------------------


def _office(request):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("payments.manage_payments"):
        raise PermissionDenied()
    return staff


def _payment(request, public_id, perm: str = "payments.manage_payment"):
    _office(request)
    payment = (
        payments_for(request.user)
        .select_related("booking")
        .prefetch_related("refunds")
        .filter(public_id=public_id)
        .first()
    )
    if payment is None or not request.user.has_perm(perm, payment):
        raise NotFound()
    return payment


class PaymentListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Payments of your organisation (back office)",
        parameters=[PaymentListQuerySerializer],
        responses={200: PaymentSerializer(many=True), **FORBIDDEN},
    )
    def get(self, request):
        staff = _office(request)
        query = PaymentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        zone = ZoneInfo(staff.organisation.time_zone)
        qs = (
            payments_for(request.user)
            .select_related("booking")
            .prefetch_related("refunds")
            .order_by("-created_at", "-pk")
        )
        if "status" in q:
            qs = qs.filter(status=q["status"])
        if "provider" in q:
            qs = qs.filter(provider=q["provider"])
        if "date_from" in q:
            start = datetime.datetime.combine(q["date_from"], datetime.time.min, tzinfo=zone)
            qs = qs.filter(created_at__gte=start)
        if "date_to" in q:
            end = datetime.datetime.combine(
                q["date_to"] + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
            )
            qs = qs.filter(created_at__lt=end)
        if q.get("q"):
            qs = qs.filter(provider_reference__icontains=q["q"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PaymentSerializer(page, many=True).data)


class PaymentDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="One payment with its refunds",
        responses={200: PaymentSerializer, **FORBIDDEN, **NOT_FOUND},
    )
    def get(self, request, public_id):
        return Response(PaymentSerializer(_payment(request, public_id)).data)


class RefundCreateView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Refund all or part of a payment, with a reason",
        description=(
            "Writes a pending refund (never more than is left to refund, counting pending "
            "refunds) and queues it; the worker sends it to the provider with the refund's own "
            "idempotency key. Read the payment to see the outcome."
        ),
        request=RefundCreateSerializer,
        responses={201: RefundSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        payment = _payment(request, public_id, "payments.refund_payment")
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        refund = services.refund_create(
            payment=payment,
            amount=Money(data["amount"], payment.currency),
            reason=data["reason"],
            actor=request.user,
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


# --- invoices ---------------------------------------------------------------------------------


def _invoice(request, public_id, perm: str = "payments.see_invoice"):
    invoice = (
        invoices_for(request.user)
        .select_related("booking")
        .prefetch_related("lines__deducts")
        .filter(public_id=public_id)
        .first()
    )
    if invoice is None or not request.user.has_perm("payments.see_invoice", invoice):
        raise NotFound()
    if perm != "payments.see_invoice" and not request.user.has_perm(perm, invoice):
        raise PermissionDenied()
    return invoice


def _invoice_out(request, invoice, code=status.HTTP_200_OK) -> Response:
    fresh = _invoice(request, invoice.public_id)
    return Response(InvoiceSerializer(fresh).data, status=code)


class InvoiceListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Invoices (back office: your organisation's; customers: your own, issued)",
        parameters=[InvoiceListQuerySerializer],
        responses=InvoiceSerializer(many=True),
    )
    def get(self, request):
        query = InvoiceListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        qs = (
            invoices_for(request.user)
            .select_related("booking")
            .prefetch_related("lines__deducts")
            .order_by("-created_at", "-pk")
        )
        if "status" in q:
            qs = qs.filter(status=q["status"])
        if "kind" in q:
            qs = qs.filter(kind=q["kind"])
        if "contact" in q:
            qs = qs.filter(contact__public_id=q["contact"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(InvoiceSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a draft invoice with its lines",
        description=(
            "A final invoice gets an “advance paid” line (negative, tax rate 0) for each paid "
            "advance invoice of the same customer and booking not deducted elsewhere."
        ),
        request=InvoiceCreateSerializer,
        responses={201: InvoiceSerializer, **ERRORS, **FORBIDDEN},
    )
    def post(self, request):
        staff = staff_of(request.user)
        if staff is None or not request.user.has_perm("payments.manage_invoices"):
            raise PermissionDenied()
        organisation = staff.organisation
        serializer = InvoiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact = (
            contacts_for(request.user)
            .filter(organisation=organisation, public_id=data["contact"])
            .first()
        )
        if contact is None:
            raise ValidationError({"contact": _("Choose a customer of this organisation.")})
        booking = None
        if data.get("booking"):
            booking = Booking.objects.filter(
                organisation=organisation, public_id=data["booking"]
            ).first()
            if booking is None:
                raise ValidationError({"booking": _("No such booking.")})
        invoice = inv.invoice_create(
            organisation=organisation,
            contact=contact,
            kind=data["kind"],
            currency=data.get("currency") or organisation.currency,
            due_date=data.get("due_date"),
            booking=booking,
            notes=data.get("notes", ""),
            lines=[dict(line) for line in data["lines"]],
            actor=request.user,
        )
        return _invoice_out(request, invoice, status.HTTP_201_CREATED)


class InvoiceDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="One invoice with its lines and totals",
        responses={200: InvoiceSerializer, **NOT_FOUND},
    )
    def get(self, request, public_id):
        return Response(InvoiceSerializer(_invoice(request, public_id)).data)

    @extend_schema(
        summary="Replace a draft's lines (and its due date, notes)",
        request=InvoiceUpdateSerializer,
        responses={200: InvoiceSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def patch(self, request, public_id):
        invoice = _invoice(request, public_id, "payments.manage_invoice")
        serializer = InvoiceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extra = {"due_date": data["due_date"]} if "due_date" in data else {}
        inv.invoice_update_lines(
            invoice=invoice,
            lines=[dict(line) for line in data["lines"]],
            notes=data.get("notes"),
            actor=request.user,
            **extra,
        )
        return _invoice_out(request, invoice)


class InvoiceIssueView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Issue a draft: the next number (no gaps), totals frozen",
        request=None,
        responses={200: InvoiceSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        invoice = _invoice(request, public_id, "payments.manage_invoice")
        inv.invoice_issue(invoice=invoice, actor=request.user)
        return _invoice_out(request, invoice)


class InvoiceVoidView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Void an issued invoice nothing was paid on (it keeps its number)",
        request=VoidSerializer,
        responses={200: InvoiceSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        invoice = _invoice(request, public_id, "payments.manage_invoice")
        serializer = VoidSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inv.invoice_void(
            invoice=invoice, reason=serializer.validated_data["reason"], actor=request.user
        )
        return _invoice_out(request, invoice)


class InvoicePdfView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The invoice as a PDF (in the customer's language)",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **NOT_FOUND,
        },
    )
    def get(self, request, public_id):
        invoice = _invoice(request, public_id)
        response = HttpResponse(inv.invoice_pdf(invoice), content_type="application/pdf")
        name = f"invoice-{invoice.number}" if invoice.number else "invoice-draft"
        response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
        return response


__all__ = [
    "InvoiceDetailView",
    "InvoiceIssueView",
    "InvoiceListView",
    "InvoicePdfView",
    "InvoiceVoidView",
    "PaymentDetailView",
    "PaymentListView",
    "RefundCreateView",
]
