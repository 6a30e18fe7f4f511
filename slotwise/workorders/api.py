"""REST endpoints of work orders (S2): intake, preparation, dispatch, the technician's actions,
extras and their approval, photos, completion, the manager's confirmation, comments, and the
catalogue. Thin views: every write goes through `services` / `photos`, every read through
`selectors` (documented in the OpenAPI schema at /api/schema/ and in docs/api.md).

Access: lists and every lookup go through `selectors.orders_for`, so an order the user may not
see is a 404 (another organisation's, another unit's, another technician's). On an order the
user sees, the action needs its permission from `rules.py` — `workorders.manage_order` (managers
of the order's unit: prepare, assign, decide on extras, confirm, send back, cancel) or
`workorders.work_on_order` (the assigned technician: accept … complete) — else 403.

Errors: 400 with field-level, translated messages keyed like the services' (`lines.0.quantity`,
`answers.rating`, `customer.phone`), 409 when the order changed meanwhile (`version`) or the
visit's time was taken (with fresh candidates), 403/404 as above. Nothing is half-saved.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.core.api import TokenAuthentication
from slotwise.core.errors import Conflict
from slotwise.org.roles import Role
from slotwise.org.selectors import staff_for, staff_of
from slotwise.scheduling import selectors as scheduling
from slotwise.scheduling.api import (
    ERRORS,
    OptionSerializer,
    OrgTimeZoneMixin,
    place,
    remap,
    resolve_contact,
    resolve_staff,
    resolve_type,
    resolve_unit,
)

from . import photos, selectors, services, transitions
from .intake import contact_for_request
from .models import CatalogueItem, Source, WorkOrder, WorkOrderComment
from .serializers import (
    ActSerializer,
    AssignSerializer,
    CandidatesQuerySerializer,
    CandidatesSerializer,
    CatalogueItemSerializer,
    CatalogueQuerySerializer,
    CommentInSerializer,
    CommentSerializer,
    CompleteSerializer,
    DecideSerializer,
    ExtrasSerializer,
    LinesInSerializer,
    PhotoSerializer,
    PhotoUploadSerializer,
    ReturnSerializer,
    WorkOrderConflictSerializer,
    WorkOrderCreateSerializer,
    WorkOrderDetailSerializer,
    WorkOrderListQuerySerializer,
    WorkOrderSerializer,
    WorkOrderUpdateSerializer,
)

NOT_FOUND = {404: OpenApiResponse(description="No such order (or not yours to see).")}
FORBIDDEN = {403: OpenApiResponse(description="Not allowed for your role on this order.")}
CONFLICT = {
    409: OpenApiResponse(
        WorkOrderConflictSerializer,
        description="The order changed meanwhile (the server's status and version), or the "
        "visit's time was taken (with fresh candidates).",
    )
}
#: the days searched for candidates when the order has no (future) visit window
CANDIDATE_DAYS = 7
MANAGE = "workorders.manage_order"
WORK = "workorders.work_on_order"
VIEW = "workorders.view_order"


# -- helpers -----------------------------------------------------------------------------------


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested serializer errors as the services' dotted keys: `lines.1.quantity`."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = prefix if key == "non_field_errors" and prefix else key
            if prefix and key != "non_field_errors":
                name = f"{prefix}.{key}"
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        if all(isinstance(e, str) for e in errors):
            out[prefix or "non_field_errors"] = [str(e) for e in errors]
        else:
            for i, item in enumerate(errors):
                if item:
                    out.update(_flatten(item, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "non_field_errors"] = [str(errors)]
    return out


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise DRFValidationError(_flatten(serializer.errors))
    return serializer.validated_data


def _line_inputs(organisation, rows, *, default_kind: str = "") -> list[services.LineInput]:
    """LineInputs from the API's lines; a catalogue item fills the name, kind, price and tax
    rate that weren't given. An unknown (or archived) item is a `lines.<i>.item` error."""
    wanted = {row["item"] for row in rows if row.get("item") is not None}
    items = {
        item.pk: item
        for item in CatalogueItem.objects.filter(
            organisation=organisation, active=True, pk__in=wanted
        )
    }
    errors: dict[str, str] = {}
    out = []
    for i, row in enumerate(rows):
        item = None
        if row.get("item") is not None:
            item = items.get(row["item"])
            if item is None:
                errors[f"lines.{i}.item"] = _("Unknown catalogue item.")
        price = row.get("unit_price")
        if price in (None, "") and item is not None:
            price = item.unit_price
        tax = row.get("tax_rate")
        if tax in (None, ""):
            tax = item.tax_rate if item is not None else "0"
        out.append(
            services.LineInput(
                kind=row.get("kind") or (item.kind if item is not None else default_kind),
                name=row.get("name") or "",
                quantity=row.get("quantity", "1"),
                unit_price=price,
                tax_rate=tax,
                item=item,
            )
        )
    if errors:
        raise ValidationError(errors)
    return out


def _customer(request, organisation, data):
    """The order's contact: by public id (within what the user may see), or matched by phone
    (E.164, first) or e-mail among the organisation's contacts, else created — the intake's
    `contact_for_request` (S2.1: a matched or new contact)."""
    if data.get("contact"):
        return resolve_contact(request.user, data["contact"])
    given = data.get("customer")
    if not given:
        raise ValidationError({"contact": _("Choose a customer or enter a new one.")})
    try:
        return contact_for_request(
            organisation=organisation,
            name=given.get("name") or "",
            phone=given.get("phone") or "",
            email=given.get("email") or "",
            actor=request.user,
        )
    except ValidationError as exc:
        raise remap(
            exc, {"name": "customer.name", "phone": "customer.phone", "email": "customer.email"}
        ) from None


def _default_unit(staff, contact):
    """The unit that handles a new order: the customer's when the creator sees it, else the
    creator's own (so the order is in their list); org admins: the service's default."""
    unit = contact.unit
    if staff.has_role(Role.ORG_ADMIN):
        return unit
    if unit is not None and unit.path.startswith(staff.unit.path):
        return unit
    return staff.unit


def _actions(request, order) -> list[transitions.Transition]:
    """The state machine's actions for the caller: the manager's side, the technician's, both."""
    out: list[transitions.Transition] = []
    if request.user.has_perm(MANAGE, order):
        out += transitions.allowed_actions(order.status, transitions.MANAGER)
    if request.user.has_perm(WORK, order):
        out += transitions.allowed_actions(order.status, transitions.TECHNICIAN)
    return out


def _detail(request, order, *, code: int = status.HTTP_200_OK) -> Response:
    card = selectors.order_card(order)
    if not request.user.has_perm(VIEW, card):
        # e.g. the technician just declined it: no longer theirs to read.
        return Response({"id": str(card.public_id), "status": card.status, "version": card.version})
    body = WorkOrderDetailSerializer(card, context={"actions": _actions(request, card)}).data
    return Response(body, status=code)


def _candidates(order, manager, *, limit: int, now=None):
    """Technicians who fit the order's work (skills, area), ranked by the option generator over
    the order's visit window (or the next days), one option each (`spread=1`)."""
    now = now or timezone.now()
    if order.type is None:
        raise ValidationError(
            {"type": _("Choose the work first: it sets the visit's length and skills.")}
        )
    try:
        spec = scheduling.visit_spec([order.type])
    except ValidationError as exc:
        raise remap(exc, {"types": "type"}) from None
    start, end = order.window_start, order.window_end
    if start is None or end is None or end <= now:
        start, end = now, now + dt.timedelta(days=CANDIDATE_DAYS)
    start = max(start, now)
    end = min(end, now + dt.timedelta(days=spec.horizon_days))
    unit = order.unit
    if not manager.has_role(Role.ORG_ADMIN) and not unit.path.startswith(manager.unit.path):
        unit = manager.unit
    if end <= start:
        return start, end, []
    options = scheduling.find_options(
        organisation=order.organisation,
        spec=spec,
        location=order.location,
        window_start=start,
        window_end=end,
        contact=order.contact,
        unit=unit,
        limit=limit,
        now=now,
        exclude_booking=order.booking,
        spread=1,
    )
    return start, end, options


# -- views -------------------------------------------------------------------------------------


class _Base(OrgTimeZoneMixin, APIView):
    authentication_classes = [SessionAuthentication, TokenAuthentication]


class WorkOrderListView(_Base):
    @extend_schema(
        summary="Work orders you may see (managers: your units'; technicians: yours)",
        parameters=[WorkOrderListQuerySerializer],
        responses={200: WorkOrderSerializer(many=True), **ERRORS, **FORBIDDEN},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _valid(WorkOrderListQuerySerializer, request.query_params)
        qs = selectors.orders_for(request.user).select_related("duplicate_of")
        order_by = ("-created_at", "-pk")
        if "status" in q:
            qs = qs.filter(status=q["status"])
        if "technician" in q:
            qs = qs.filter(technician_id=q["technician"])
        if "contact" in q:
            qs = qs.filter(contact__public_id=q["contact"])
        if "day" in q:
            zone = ZoneInfo(organisation.time_zone)
            start = dt.datetime.combine(q["day"], dt.time(), tzinfo=zone)
            end = dt.datetime.combine(q["day"] + dt.timedelta(days=1), dt.time(), tzinfo=zone)
            qs = qs.filter(
                Q(scheduled_start__gte=start, scheduled_start__lt=end)
                | Q(scheduled_start__isnull=True, window_start__gte=start, window_start__lt=end)
            )
            order_by = ("scheduled_start", "window_start", "pk")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs.order_by(*order_by), request, view=self)
        return paginator.get_paginated_response(WorkOrderSerializer(page, many=True).data)

    @extend_schema(
        summary="Take an order in (intake through the API): a draft on a matched or new customer",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Your id of the request (≤ 120 characters): a retry with the same "
                "key returns the order made the first time (200) instead of a second one.",
            )
        ],
        request=WorkOrderCreateSerializer,
        responses={
            201: WorkOrderDetailSerializer,
            200: OpenApiResponse(WorkOrderDetailSerializer, description="A replayed key."),
            **ERRORS,
            **FORBIDDEN,
        },
    )
    def post(self, request):
        staff = staff_of(request.user)
        if staff is None or not request.user.has_perm("workorders.create_order"):
            raise PermissionDenied()
        organisation = staff.organisation
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > 120:
            raise ValidationError({"Idempotency-Key": _("Use a key of at most 120 characters.")})
        data = _valid(WorkOrderCreateSerializer, request.data)
        if key:
            replay = self._replay(request, organisation, key)
            if replay is not None:
                return replay
        try:
            with transaction.atomic():
                order = self._create(request, staff, data, key)
        except IntegrityError:
            # The same key at the same moment: the other request made the order.
            replay = self._replay(request, organisation, key) if key else None
            if replay is None:
                raise
            return replay
        return _detail(request, order, code=status.HTTP_201_CREATED)

    def _replay(self, request, organisation, key):
        existing = WorkOrder.objects.filter(
            organisation=organisation, source=Source.API, source_ref=key
        ).first()
        if existing is None:
            return None
        if not request.user.has_perm(VIEW, existing):
            raise Conflict(_("This Idempotency-Key was already used for another order."))
        return _detail(request, existing)

    def _create(self, request, staff, data, key):
        organisation = staff.organisation
        contact = _customer(request, organisation, data)
        work = resolve_type(organisation, data["type"]) if data.get("type") else None
        unit = resolve_unit(request.user, data.get("unit")) or _default_unit(staff, contact)
        location = place(organisation, data, contact)
        return services.work_order_create(
            organisation=organisation,
            contact=contact,
            source=Source.API,
            source_ref=key,
            title=data["title"],
            description=data.get("description", ""),
            type=work,
            location=location,
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            unit=unit,
            lines=_line_inputs(organisation, data.get("lines") or []),
            actor=request.user,
        )


class _OneOrder(_Base):
    #: the permission the request's method needs on the order (None: seeing it is enough)
    perm: str | None = None

    def order(self, request, public_id, perm: str | None = None) -> WorkOrder:
        order = selectors.order_for(request.user, public_id)
        if order is None:
            raise NotFound()
        perm = perm or self.perm
        if not request.user.has_perm(perm or VIEW, order):
            raise PermissionDenied()
        return order


class WorkOrderDetailView(_OneOrder):
    @extend_schema(
        summary="One order: lines, totals, status, your allowed actions, events, comments",
        responses={200: WorkOrderDetailSerializer, **NOT_FOUND},
    )
    def get(self, request, public_id):
        return _detail(request, self.order(request, public_id))

    @extend_schema(
        summary="Prepare the order (managers; before the work starts)",
        request=WorkOrderUpdateSerializer,
        responses={200: WorkOrderDetailSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def patch(self, request, public_id):
        order = self.order(request, public_id, MANAGE)
        data = dict(_valid(WorkOrderUpdateSerializer, request.data))
        organisation = order.organisation
        fields = {}
        for name in ("title", "description", "window_start", "window_end", "manager_comment"):
            if name in data:
                fields[name] = data[name]
        if "type" in data:
            fields["type"] = resolve_type(organisation, data["type"]) if data["type"] else None
        if "postcode" in data or "address" in data:
            fields["location"] = place(organisation, data)
        services.work_order_update(order=order, actor=request.user, **fields)
        return _detail(request, order)


class WorkOrderLinesView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Replace the agreed lines (labour, services, goods, travel charge)",
        request=LinesInSerializer,
        responses={200: WorkOrderDetailSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def put(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(LinesInSerializer, request.data)
        lines = _line_inputs(order.organisation, data["lines"])
        services.work_order_set_lines(order=order, lines=lines, actor=request.user)
        return _detail(request, order)


class WorkOrderAssignView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Assign or reassign: the visit is booked on the technician's agenda",
        request=AssignSerializer,
        responses={
            200: WorkOrderDetailSerializer,
            **ERRORS,
            **FORBIDDEN,
            **NOT_FOUND,
            **CONFLICT,
        },
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(AssignSerializer, request.data)
        technician = resolve_staff(
            order.organisation,
            data["technician"],
            field="technician",
            queryset=staff_for(request.user).filter(organisation=order.organisation_id),
        )
        try:
            services.work_order_assign(
                order=order, technician=technician, start=data["start"], actor=request.user
            )
        except Conflict as exc:
            try:
                _s, _e, options = _candidates(order, staff_of(request.user), limit=5)
            except ValidationError:
                options = []
            raise Conflict(
                exc.message,
                detail={**exc.detail, "options": OptionSerializer(options, many=True).data},
            ) from None
        return _detail(request, order)


class WorkOrderCandidatesView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Technicians who fit, ranked by the option generator (best time each)",
        parameters=[CandidatesQuerySerializer],
        responses={200: CandidatesSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def get(self, request, public_id):
        order = self.order(request, public_id)
        q = _valid(CandidatesQuerySerializer, request.query_params)
        start, end, options = _candidates(order, staff_of(request.user), limit=q["limit"])
        return Response(
            CandidatesSerializer(
                {"window_start": start, "window_end": end, "options": options}
            ).data
        )


class WorkOrderActView(_OneOrder):
    @extend_schema(
        summary="accept, decline, start, pause, resume (the technician) or cancel (a manager)",
        request=ActSerializer,
        responses={
            200: WorkOrderDetailSerializer,
            **ERRORS,
            **FORBIDDEN,
            **NOT_FOUND,
            **CONFLICT,
        },
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(ActSerializer, request.data)
        by = transitions.TRANSITIONS[data["action"]].by
        if not request.user.has_perm(MANAGE if by == transitions.MANAGER else WORK, order):
            raise PermissionDenied()
        services.work_order_act(
            order=order,
            action=data["action"],
            actor=request.user,
            reason=data["reason"],
            client_at=data.get("client_at"),
            expected_version=data.get("version"),
        )
        return _detail(request, order)


class WorkOrderExtrasView(_OneOrder):
    perm = WORK

    @extend_schema(
        summary="Add services and goods on site; a changed total waits for a manager",
        request=ExtrasSerializer,
        responses={
            200: WorkOrderDetailSerializer,
            **ERRORS,
            **FORBIDDEN,
            **NOT_FOUND,
            **CONFLICT,
        },
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(ExtrasSerializer, request.data)
        lines = _line_inputs(order.organisation, data["lines"], default_kind="service")
        services.extras_submit(
            order=order,
            lines=lines,
            note=data["note"],
            actor=request.user,
            expected_version=data.get("version"),
        )
        return _detail(request, order)


class WorkOrderExtrasDecideView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Approve or reject the new total (a reason is required to reject)",
        request=DecideSerializer,
        responses={200: WorkOrderDetailSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(DecideSerializer, request.data)
        services.extras_decide(
            order=order, approve=data["approve"], note=data["note"], actor=request.user
        )
        return _detail(request, order)


class WorkOrderPhotosView(_OneOrder):
    perm = WORK
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Upload photos of the work (multipart, field `photos`, one or more)",
        request={"multipart/form-data": PhotoUploadSerializer},
        responses={201: PhotoSerializer(many=True), **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        uploads = request.FILES.getlist("photos") or request.FILES.getlist("photo")
        if not uploads:
            raise ValidationError({"photos": _("Choose at least one photo.")})
        stored = []
        try:
            with transaction.atomic():
                for upload in uploads:
                    stored.append(photos.photo_add(order=order, upload=upload, actor=request.user))
        except ValidationError:
            # The rows are rolled back; remove the files already written too.
            for photo in stored:
                photo.image.delete(save=False)
                photo.thumbnail.delete(save=False)
            raise
        return Response(PhotoSerializer(stored, many=True).data, status=status.HTTP_201_CREATED)


class WorkOrderCompleteView(_OneOrder):
    perm = WORK

    @extend_schema(
        summary="Complete: every amount, ≥ 1 photo, the questionnaire and the payment",
        request=CompleteSerializer,
        responses={
            200: WorkOrderDetailSerializer,
            **ERRORS,
            **FORBIDDEN,
            **NOT_FOUND,
            **CONFLICT,
        },
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(CompleteSerializer, request.data)
        completion = services.CompletionInput(
            work_cost=data.get("work_cost"),
            extras_cost=data.get("extras_cost"),
            travel_cost=data.get("travel_cost"),
            toll_miles=data.get("toll_miles"),
            tips=data.get("tips"),
            payment_method=data["payment_method"],
            payment_amount=data.get("payment_amount"),
            answers=data["answers"],
            link_sms_to=data["link_sms_to"],
            link_email_to=data["link_email_to"],
        )
        services.work_order_complete(
            order=order,
            data=completion,
            actor=request.user,
            received_by=staff_of(request.user),
            client_at=data.get("client_at"),
            expected_version=data.get("version"),
        )
        return _detail(request, order)


class WorkOrderConfirmView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Confirm the completion: only now is the order closed",
        request=None,
        responses={200: WorkOrderDetailSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        services.work_order_confirm(order=order, actor=request.user)
        return _detail(request, order)


class WorkOrderReturnView(_OneOrder):
    perm = MANAGE

    @extend_schema(
        summary="Send the completion back to the technician, with what to fix",
        request=ReturnSerializer,
        responses={200: WorkOrderDetailSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND},
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(ReturnSerializer, request.data)
        services.work_order_return(order=order, reason=data["reason"], actor=request.user)
        return _detail(request, order)


class WorkOrderCommentsView(_OneOrder):
    @extend_schema(
        summary="The manager–technician comment thread, oldest first",
        responses={200: CommentSerializer(many=True), **NOT_FOUND},
    )
    def get(self, request, public_id):
        order = self.order(request, public_id)
        comments = order.comments.select_related("author")
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(
        summary="Add a comment (as the technician if it's your order, else as the office)",
        request=CommentInSerializer,
        responses={201: CommentSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request, public_id):
        order = self.order(request, public_id)
        data = _valid(CommentInSerializer, request.data)
        side = (
            WorkOrderComment.Side.TECHNICIAN
            if request.user.has_perm(WORK, order)
            else WorkOrderComment.Side.MANAGER
        )
        comment = services.comment_add(
            order=order, author=request.user, side=side, body=data["body"]
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CatalogueListView(_Base):
    @extend_schema(
        summary="The organisation's catalogue of services and goods",
        parameters=[CatalogueQuerySerializer],
        responses={200: CatalogueItemSerializer(many=True), **FORBIDDEN},
    )
    def get(self, request):
        organisation = self.organisation(request)
        q = _valid(CatalogueQuerySerializer, request.query_params)
        qs = CatalogueItem.objects.filter(organisation=organisation)
        if q.get("active") is not None:
            qs = qs.filter(active=q["active"])
        return Response(CatalogueItemSerializer(qs.order_by("kind", "name", "pk"), many=True).data)
