"""Field work orders (S2): intake, preparation, dispatch, the technician's day, extras and their
approval, completion, the manager's confirmation, earnings and payouts.

A work order's visit is a `bookings.Booking` on the technician's agenda (made by
`services.work_order_assign` through `bookings.services.booking_create`), so the option
generator sees it as busy time and the exclusion constraint keeps two visits of one technician
apart: this app uses the booking engine, it does not rebuild it.

Status machine (`transitions.py` holds the table; services apply it under a row lock)::

    draft ──assign──▶ assigned ──accept──▶ accepted ──start──▶ in_progress ⇄ paused
      ▲                 │  ▲ decline          │ decline           │  submit extras
      └────decline──────┘  └──reassign────────┘                   ▼
                                                  needs_confirmation ──approve/reject──▶ back
    in_progress / paused ──complete──▶ completed ──confirm (manager)──▶ closed
                                          └──return (manager)──▶ paused
    draft / assigned / accepted ──cancel──▶ cancelled

Money is `Decimal` with the organisation's currency; totals are computed by `money.py`
(property-tested) and stored on the order when they change, so lists never add up lines.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, PublicId, TimeStamped

AMOUNT = {"max_digits": 14, "decimal_places": 2}
QUANTITY = {"max_digits": 10, "decimal_places": 3}
RATE = {"max_digits": 5, "decimal_places": 2}


class Status(models.TextChoices):
    DRAFT = "draft", _("New")
    ASSIGNED = "assigned", _("Assigned")
    ACCEPTED = "accepted", _("Accepted")
    IN_PROGRESS = "in_progress", _("In progress")
    PAUSED = "paused", _("Paused")
    NEEDS_CONFIRMATION = "needs_confirmation", _("Needs confirmation")
    COMPLETED = "completed", _("Completed, awaiting confirmation")
    CLOSED = "closed", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


#: statuses in which the order is on a technician's agenda and not finished
OPEN_STATUSES = (
    Status.DRAFT,
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.IN_PROGRESS,
    Status.PAUSED,
    Status.NEEDS_CONFIRMATION,
    Status.COMPLETED,
)
#: statuses in which the technician is at work on site
ON_SITE_STATUSES = (Status.IN_PROGRESS, Status.PAUSED, Status.NEEDS_CONFIRMATION)


class Source(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    API = "api", _("API")
    EMAIL = "email", _("E-mail")
    MESSAGE = "message", _("Message")
    PHONE = "phone", _("Phone call")
    MANUAL = "manual", _("Entered by staff")


class WorkOrderSequence(models.Model):
    """The next order number of one organisation (taken under a row lock)."""

    organisation = models.OneToOneField(
        "org.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("work order sequence")
        verbose_name_plural = _("work order sequences")

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.next_number}"


class CatalogueItem(OrgScoped):
    """A service or a good a manager or technician adds to an order (S2.2, S2.7)."""

    class Kind(models.TextChoices):
        SERVICE = "service", _("Service")
        GOODS = "goods", _("Goods")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SERVICE)
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=40, blank=True)
    unit_label = models.CharField(
        _("unit"), max_length=20, blank=True, help_text=_("e.g. pcs, h, m")
    )
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    tax_rate = models.DecimalField(_("tax rate (%)"), default=0, **RATE)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("catalogue item")
        verbose_name_plural = _("catalogue")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class WorkOrder(OrgScoped, PublicId):
    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    #: where the order returns to after a manager decided on extras (in_progress or paused)
    resume_status = models.CharField(max_length=20, blank=True, editable=False)
    #: bumped by every change; the technician app sends the version it saw (offline queue)
    version = models.PositiveIntegerField(default=1, editable=False)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    #: the id of what the order came from (message, e-mail, API client's key): one order each
    source_ref = models.CharField(_("source reference"), max_length=120, blank=True)
    contact = models.ForeignKey(
        "customers.Contact",
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("customer"),
    )
    unit = models.ForeignKey(
        "org.OrgUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
        help_text=_("The unit that handles the order; the assigned technician's unit."),
    )
    type = models.ForeignKey(
        "scheduling.AppointmentType",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("work"),
        help_text=_("The kind of visit: its duration and the skills it needs."),
    )
    location = models.ForeignKey(
        "org.Location",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("address"),
    )
    title = models.CharField(_("short description"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    window_start = models.DateTimeField(_("visit window from"), null=True, blank=True)
    window_end = models.DateTimeField(_("visit window until"), null=True, blank=True)
    technician = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
        verbose_name=_("technician"),
    )
    booking = models.OneToOneField(
        "bookings.Booking",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="work_order",
        verbose_name=_("visit"),
    )
    #: copied from the booking so the technician's lists sort and filter without a join
    scheduled_start = models.DateTimeField(_("scheduled start"), null=True, blank=True)
    scheduled_end = models.DateTimeField(_("scheduled end"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    #: totals of the agreed lines (labour + extras + travel charge), tax included in `total`
    net_total = models.DecimalField(_("net"), default=0, **AMOUNT)
    tax_total = models.DecimalField(_("tax"), default=0, **AMOUNT)
    total = models.DecimalField(_("agreed total"), default=0, **AMOUNT)
    #: the total with the extras waiting for the manager's approval (equal to total otherwise)
    proposed_total = models.DecimalField(_("proposed total"), default=0, **AMOUNT)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("possible duplicate of"),
    )
    manager_comment = models.TextField(_("manager's comment"), blank=True)
    technician_comment = models.TextField(_("technician's comment"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"], name="workorder_number_unique"
            ),
            models.UniqueConstraint(
                fields=["organisation", "source", "source_ref"],
                condition=~models.Q(source_ref=""),
                name="workorder_source_ref_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_end__gt=models.F("window_start")),
                name="workorder_window_order",
            ),
        ]
        indexes = [
            models.Index(fields=["technician", "scheduled_start"], name="workorder_tech_start_idx"),
            models.Index(fields=["organisation", "status"], name="workorder_org_status_idx"),
            models.Index(fields=["contact", "-created_at"], name="workorder_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LineKind(models.TextChoices):
    LABOUR = "labour", _("Labour")
    SERVICE = "service", _("Service")
    GOODS = "goods", _("Goods")
    TRAVEL = "travel", _("Travel charge")


class LineState(models.TextChoices):
    AGREED = "agreed", _("Agreed")
    PENDING = "pending", _("Waiting for approval")
    REJECTED = "rejected", _("Rejected")


class WorkOrderLine(models.Model):
    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=LineKind.choices)
    item = models.ForeignKey(
        CatalogueItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("catalogue item"),
    )
    name = models.CharField(_("name"), max_length=200)
    quantity = models.DecimalField(_("quantity"), default=1, **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    tax_rate = models.DecimalField(_("tax rate (%)"), default=0, **RATE)
    state = models.CharField(
        _("state"), max_length=10, choices=LineState.choices, default=LineState.AGREED
    )
    #: added by the technician on site (an extra, S2.7)
    on_site = models.BooleanField(_("added on site"), default=False)
    request = models.ForeignKey(
        "ExtrasRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lines",
        verbose_name=_("approval request"),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="wo_line_qty_gt_0"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="wo_line_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"


class ExtrasRequest(TimeStamped):
    """The technician's changed total waiting for a manager's decision (S2.7)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="extras_requests")
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    previous_total = models.DecimalField(_("previous total"), **AMOUNT)
    proposed_total = models.DecimalField(_("proposed total"), **AMOUNT)
    note = models.TextField(_("technician's note"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("manager's note"), blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("extras approval")
        verbose_name_plural = _("extras approvals")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(state="pending"),
                name="wo_one_pending_extras_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order} {self.previous_total} → {self.proposed_total}"


class Event(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Prepared")
    ASSIGNED = "assigned", _("Assigned")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    STARTED = "started", _("Started")
    PAUSED = "paused", _("Paused")
    RESUMED = "resumed", _("Resumed")
    EXTRAS_SUBMITTED = "extras_submitted", _("Extras submitted")
    EXTRAS_APPROVED = "extras_approved", _("Extras approved")
    EXTRAS_REJECTED = "extras_rejected", _("Extras rejected")
    COMPLETED = "completed", _("Completed")
    RETURNED = "returned", _("Sent back to the technician")
    CONFIRMED = "confirmed", _("Confirmed and closed")
    CANCELLED = "cancelled", _("Cancelled")


class WorkOrderEvent(models.Model):
    """Every status change with its time (S2.12: actual durations are reported from these)."""

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=20, choices=Event.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)
    #: when the technician's phone says it happened (an offline change synced later)
    client_at = models.DateTimeField(_("on the phone at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("work order event")
        verbose_name_plural = _("work order events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class WorkOrderComment(models.Model):
    """The manager's and technician's comment thread on an order (S2.6)."""

    class Side(models.TextChoices):
        MANAGER = "manager", _("Manager")
        TECHNICIAN = "technician", _("Technician")

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    side = models.CharField(_("from"), max_length=12, choices=Side.choices)
    body = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.body[:60]


def _photo_path(instance, filename: str) -> str:
    return f"workorders/{instance.order.organisation_id}/{instance.order.public_id}/{filename}"


class WorkOrderPhoto(models.Model):
    """A photo from the site: re-encoded on upload (location and other metadata stripped), with a
    thumbnail; served only through an access-checked view."""

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="photos")
    public_id = models.UUIDField(unique=True, editable=False)
    image = models.FileField(_("photo"), upload_to=_photo_path, max_length=300)
    thumbnail = models.FileField(_("thumbnail"), upload_to=_photo_path, max_length=300)
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    size = models.PositiveIntegerField(default=0)
    original_name = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("taken"), auto_now_add=True)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.original_name or str(self.public_id)


class Question(OrgScoped):
    """One question of the completion questionnaire (S2.8); an organisation without its own
    questions gets `questionnaire.DEFAULT_QUESTIONS`."""

    class Kind(models.TextChoices):
        YES_NO = "yes_no", _("Yes or no")
        TEXT = "text", _("Text")
        RATING = "rating", _("Rating 1–5")

    text = models.CharField(_("question"), max_length=255)
    kind = models.CharField(_("answer"), max_length=10, choices=Kind.choices, default=Kind.YES_NO)
    required = models.BooleanField(_("required"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("completion question")
        verbose_name_plural = _("completion questions")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.text


class Completion(models.Model):
    """What the technician submitted to complete the order (S2.8), and the manager's check."""

    order = models.OneToOneField(WorkOrder, on_delete=models.CASCADE, related_name="completion")
    work_cost = models.DecimalField(_("work cost"), **AMOUNT)
    extras_cost = models.DecimalField(_("extras"), **AMOUNT)
    travel_cost = models.DecimalField(_("travel costs"), **AMOUNT)
    toll_miles = models.DecimalField(_("toll-road miles"), max_digits=8, decimal_places=1)
    tips = models.DecimalField(_("tips"), **AMOUNT)
    answers = models.JSONField(_("questionnaire"), default=dict)
    payment_method = models.CharField(_("payment method"), max_length=20)
    payment_amount = models.DecimalField(_("amount paid"), **AMOUNT)
    payment = models.ForeignKey(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("payment"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted"))
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("completion")
        verbose_name_plural = _("completions")

    def __str__(self) -> str:
        return f"{self.order}"


class PayRule(OrgScoped):
    """How a technician is paid (S2.10): a share of the labour, a fixed amount per job and a
    rate per toll-road mile; tips always go to the technician."""

    technician = models.OneToOneField(
        "org.Staff", on_delete=models.CASCADE, related_name="pay_rule", verbose_name=_("technician")
    )
    labour_share_percent = models.DecimalField(_("share of labour (%)"), default=0, **RATE)
    fixed_per_job = models.DecimalField(_("fixed per job"), default=0, **AMOUNT)
    mileage_rate = models.DecimalField(
        _("rate per mile"), default=0, max_digits=8, decimal_places=3
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("pay rule")
        verbose_name_plural = _("pay rules")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(labour_share_percent__gte=0, labour_share_percent__lte=100),
                name="payrule_share_0_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.technician}"


class Earning(OrgScoped):
    """A technician's pay for one closed order, computed when the manager confirms it."""

    order = models.OneToOneField(WorkOrder, on_delete=models.CASCADE, related_name="earning")
    technician = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, related_name="earnings", verbose_name=_("technician")
    )
    earned_on = models.DateField(_("date"), db_index=True)
    currency = models.CharField(_("currency"), max_length=3)
    labour = models.DecimalField(_("labour share"), **AMOUNT)
    fixed = models.DecimalField(_("fixed"), **AMOUNT)
    mileage = models.DecimalField(_("mileage"), **AMOUNT)
    tips = models.DecimalField(_("tips"), **AMOUNT)
    total = models.DecimalField(_("total"), **AMOUNT)
    payout = models.ForeignKey(
        "Payout",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="earnings",
        verbose_name=_("paid out in"),
    )

    class Meta:
        verbose_name = _("earning")
        verbose_name_plural = _("earnings")
        ordering = ["-earned_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.technician} {self.total} {self.currency}"


class Payout(OrgScoped):
    """Money paid to a technician for their earnings up to a date."""

    technician = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, related_name="payouts", verbose_name=_("technician")
    )
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3)
    period_end = models.DateField(_("for work up to"))
    paid_at = models.DateTimeField(_("paid"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-paid_at"]

    def __str__(self) -> str:
        return f"{self.technician} {self.amount} {self.currency}"
