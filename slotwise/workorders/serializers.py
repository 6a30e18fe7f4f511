"""API shapes of work orders. Input serializers check the form of a request only (numbers are
passed on as strings, so the services give their own field-level messages: "enter 0 if there is
none", "Enter a quantity above zero" …); every rule lives in `services` (ARCHITECTURE: no
business logic in serializers). Output serializers read what `selectors.order_card` prefetched:
no query per line, event, comment or photo."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from slotwise.scheduling.api import LocationSerializer, OptionSerializer

from . import money
from .models import LineKind, LineState, Status
from .services import SIMPLE_ACTIONS

AMOUNT = {"max_digits": 14, "decimal_places": 2}
QUANTITY = {"max_digits": 10, "decimal_places": 3}
RATE = {"max_digits": 5, "decimal_places": 2}


def _name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


class WorkOrderRef(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class WorkTypeRef(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class ActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    label = serializers.CharField(help_text="Translated button label.")


# -- output ------------------------------------------------------------------------------------


class WorkOrderSerializer(serializers.Serializer):
    """A work order as lists show it. `id` is the public id (UUID)."""

    id = serializers.UUIDField(source="public_id")
    number = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    version = serializers.IntegerField(help_text="Send it back as `version` with an action.")
    source = serializers.CharField()
    source_ref = serializers.CharField()
    title = serializers.CharField()
    contact = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    type = serializers.SerializerMethodField()
    technician = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    scheduled_start = serializers.DateTimeField(allow_null=True)
    scheduled_end = serializers.DateTimeField(allow_null=True)
    currency = serializers.CharField()
    total = serializers.DecimalField(help_text="The agreed total, tax included.", **AMOUNT)
    proposed_total = serializers.DecimalField(
        help_text="With the extras waiting for approval (equal to total otherwise).", **AMOUNT
    )
    duplicate_of = serializers.SerializerMethodField(
        help_text="A possible duplicate: an open order of the same customer or address."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(WorkOrderRef)
    def get_contact(self, order) -> dict:
        return {"id": str(order.contact.public_id), "name": str(order.contact)}

    @extend_schema_field(WorkOrderRef)
    def get_unit(self, order) -> dict:
        return {"id": str(order.unit_id), "name": order.unit.name}

    @extend_schema_field(WorkTypeRef(allow_null=True))
    def get_type(self, order) -> dict | None:
        if order.type is None:
            return None
        return {"slug": order.type.slug, "name": order.type.name}

    @extend_schema_field(WorkOrderRef(allow_null=True))
    def get_technician(self, order) -> dict | None:
        if order.technician is None:
            return None
        return {"id": str(order.technician_id), "name": _name(order.technician.user)}

    @extend_schema_field(LocationSerializer(allow_null=True))
    def get_location(self, order) -> dict | None:
        loc = order.location
        if loc is None:
            return None
        return {
            "address": loc.address,
            "postcode": loc.postcode,
            "country": loc.country,
            "lat": loc.lat,
            "lng": loc.lng,
        }

    def get_duplicate_of(self, order) -> str | None:
        dup = order.duplicate_of
        return str(dup.public_id) if dup is not None else None


class LineSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    position = serializers.IntegerField()
    kind = serializers.CharField()
    item = serializers.IntegerField(source="item_id", allow_null=True)
    name = serializers.CharField()
    quantity = serializers.DecimalField(**QUANTITY)
    unit_price = serializers.DecimalField(**AMOUNT)
    tax_rate = serializers.DecimalField(**RATE)
    net = serializers.SerializerMethodField()
    state = serializers.CharField(help_text="agreed, pending (waiting for approval), rejected.")
    on_site = serializers.BooleanField(help_text="Added by the technician on site.")

    def get_net(self, line) -> str:
        value = money.LineValue(line.quantity, line.unit_price, line.tax_rate, line.kind)
        return str(money.line_net(value, self.context["currency"]).amount)


class TotalsSerializer(serializers.Serializer):
    net = serializers.DecimalField(**AMOUNT)
    tax = serializers.DecimalField(**AMOUNT)
    total = serializers.DecimalField(**AMOUNT)
    labour = serializers.DecimalField(help_text="Net of labour lines.", **AMOUNT)
    extras = serializers.DecimalField(help_text="Net of service and goods lines.", **AMOUNT)
    travel = serializers.DecimalField(help_text="Net of travel-charge lines.", **AMOUNT)
    proposed_total = serializers.DecimalField(**AMOUNT)


class EventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField(source="get_kind_display")
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    client_at = serializers.DateTimeField(allow_null=True)
    actor = serializers.SerializerMethodField()
    data = serializers.DictField()

    def get_actor(self, event) -> str:
        return _name(event.actor)


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    side = serializers.CharField(help_text="manager or technician.")
    author = serializers.SerializerMethodField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_author(self, comment) -> str:
        return _name(comment.author)


class PhotoSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField(help_text="Access-checked, for signed-in users.")
    thumbnail = serializers.SerializerMethodField()
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_url(self, photo) -> str:
        return f"/work/photo/{photo.public_id}/"

    def get_thumbnail(self, photo) -> str:
        return f"/work/photo/{photo.public_id}/thumb/"


class ExtrasRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    state = serializers.CharField()
    previous_total = serializers.DecimalField(**AMOUNT)
    proposed_total = serializers.DecimalField(**AMOUNT)
    note = serializers.CharField()
    decision_note = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class CompletionOutSerializer(serializers.Serializer):
    work_cost = serializers.DecimalField(**AMOUNT)
    extras_cost = serializers.DecimalField(**AMOUNT)
    travel_cost = serializers.DecimalField(**AMOUNT)
    toll_miles = serializers.DecimalField(max_digits=8, decimal_places=1)
    tips = serializers.DecimalField(**AMOUNT)
    payment_method = serializers.CharField()
    payment_amount = serializers.DecimalField(**AMOUNT)
    payment = serializers.UUIDField(source="payment.public_id", allow_null=True, default=None)
    answers = serializers.DictField()
    submitted_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)


class WorkOrderDetailSerializer(WorkOrderSerializer):
    """One order with its lines, totals, the actions the caller may take, events, comments,
    photos, extras requests and completion. Give the order through `selectors.order_card`."""

    description = serializers.CharField()
    manager_comment = serializers.CharField()
    technician_comment = serializers.CharField()
    booking = serializers.UUIDField(source="booking.public_id", allow_null=True, default=None)
    lines = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField(
        help_text="What you may do now, from the state machine (manager or technician side)."
    )
    events = EventSerializer(many=True, source="events.all")
    comments = CommentSerializer(many=True, source="comments.all")
    photos = PhotoSerializer(many=True, source="photos.all")
    extras_requests = ExtrasRequestSerializer(many=True, source="extras_requests.all")
    completion = serializers.SerializerMethodField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(LineSerializer(many=True))
    def get_lines(self, order) -> list[dict]:
        return LineSerializer(
            order.lines.all(), many=True, context={"currency": order.currency}
        ).data

    @extend_schema_field(TotalsSerializer)
    def get_totals(self, order) -> dict:
        agreed = [
            money.LineValue(x.quantity, x.unit_price, x.tax_rate, x.kind)
            for x in order.lines.all()
            if x.state == LineState.AGREED
        ]
        t = money.totals(agreed, order.currency)
        return {
            "net": str(t.net.amount),
            "tax": str(t.tax.amount),
            "total": str(t.total.amount),
            "labour": str(t.labour.amount),
            "extras": str(t.extras.amount),
            "travel": str(t.travel.amount),
            "proposed_total": str(order.proposed_total),
        }

    @extend_schema_field(ActionSerializer(many=True))
    def get_allowed_actions(self, order) -> list[dict]:
        return [{"action": t.action, "label": str(t.label)} for t in self.context["actions"]]

    @extend_schema_field(CompletionOutSerializer(allow_null=True))
    def get_completion(self, order) -> dict | None:
        try:
            completion = order.completion
        except order.__class__.completion.RelatedObjectDoesNotExist:
            return None
        return CompletionOutSerializer(completion).data


class CatalogueItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.CharField(help_text="service or goods.")
    name = serializers.CharField()
    code = serializers.CharField()
    unit_label = serializers.CharField()
    unit_price = serializers.DecimalField(**AMOUNT)
    tax_rate = serializers.DecimalField(**RATE)
    active = serializers.BooleanField()


class CandidatesSerializer(serializers.Serializer):
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    options = OptionSerializer(many=True, help_text="Best first, one per technician and day.")


class WorkOrderConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    status = serializers.CharField(required=False, help_text="The server's status (it wins).")
    version = serializers.IntegerField(required=False)
    options = OptionSerializer(many=True, required=False, help_text="After a lost assign race.")


# -- input -------------------------------------------------------------------------------------

_text = {"required": False, "allow_blank": True, "allow_null": True}


class LineInSerializer(serializers.Serializer):
    """Numbers as decimal strings; the service checks them (quantity > 0, price ≥ 0, tax rate
    0–100). With `item` (a catalogue item's id) name, kind, price and tax rate default to the
    item's."""

    kind = serializers.ChoiceField(choices=LineKind.choices, required=False)
    item = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.CharField(default="1")
    unit_price = serializers.CharField(**_text)
    tax_rate = serializers.CharField(**_text)


class CustomerInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=240)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)


class _PlaceIn(serializers.Serializer):
    postcode = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True, max_length=300)
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)


class WorkOrderCreateSerializer(_PlaceIn):
    contact = serializers.UUIDField(
        required=False, allow_null=True, help_text="An existing customer's public id."
    )
    customer = CustomerInSerializer(
        required=False,
        allow_null=True,
        help_text="Or the customer's name, phone and/or e-mail: matched to an existing contact "
        "by phone or e-mail, else created.",
    )
    title = serializers.CharField(max_length=200, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    type = serializers.CharField(
        required=False, allow_blank=True, help_text="The work: an appointment type's slug or id."
    )
    unit = serializers.IntegerField(required=False, allow_null=True)
    window_start = serializers.DateTimeField(required=False, allow_null=True)
    window_end = serializers.DateTimeField(required=False, allow_null=True)
    lines = LineInSerializer(many=True, required=False, default=list)


class WorkOrderUpdateSerializer(_PlaceIn):
    """Only the fields given change (postcode/address: the visit's address, geocoded)."""

    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    type = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    window_start = serializers.DateTimeField(required=False, allow_null=True)
    window_end = serializers.DateTimeField(required=False, allow_null=True)
    manager_comment = serializers.CharField(required=False, allow_blank=True)


class LinesInSerializer(serializers.Serializer):
    lines = LineInSerializer(many=True)


class AssignSerializer(serializers.Serializer):
    technician = serializers.IntegerField(help_text="The staff id of the technician.")
    start = serializers.DateTimeField(help_text="The visit's start (e.g. a candidate's start).")


class CandidatesQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)


class ActSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=sorted(SIMPLE_ACTIONS),
        help_text="accept, decline, start, pause, resume (the technician); cancel (a manager).",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    version = serializers.IntegerField(
        required=False, allow_null=True, help_text="The version you acted on: 409 if it changed."
    )
    client_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it happened on the phone (offline)."
    )


class ExtrasSerializer(serializers.Serializer):
    lines = LineInSerializer(many=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    version = serializers.IntegerField(required=False, allow_null=True)


class DecideSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required when rejecting."
    )


class PhotoUploadSerializer(serializers.Serializer):
    photos = serializers.ListField(
        child=serializers.FileField(), help_text="One or more images (JPEG, PNG, WebP, GIF)."
    )


class CompleteSerializer(serializers.Serializer):
    """Every amount is required: "0" is an answer, empty is not (the service says so per field)."""

    work_cost = serializers.CharField(**_text)
    extras_cost = serializers.CharField(**_text)
    travel_cost = serializers.CharField(**_text)
    toll_miles = serializers.CharField(**_text)
    tips = serializers.CharField(**_text)
    payment_method = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="cash, check, zelle, cash_app, venmo, paypal, card_terminal, online_terminal "
        "or link (the client pays online).",
    )
    payment_amount = serializers.CharField(**_text)
    answers = serializers.DictField(
        required=False, default=dict, help_text='The questionnaire: {"<key>": answer}.'
    )
    link_sms_to = serializers.CharField(required=False, allow_blank=True, default="")
    link_email_to = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, allow_null=True)
    client_at = serializers.DateTimeField(required=False, allow_null=True)


class ReturnSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class CommentInSerializer(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class WorkOrderListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    day = serializers.DateField(
        required=False,
        help_text="Orders scheduled that day (organisation's time zone); unscheduled ones whose "
        "visit window starts that day.",
    )
    technician = serializers.IntegerField(required=False, help_text="A technician's staff id.")
    contact = serializers.UUIDField(required=False)


class CatalogueQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(
        required=False, allow_null=True, default=True, help_text="Default: active items only."
    )
