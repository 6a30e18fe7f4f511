"""Appointments and their life: held, confirmed, cancelled, no-show, done."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, PublicId


class BookingStatus(models.TextChoices):
    HELD = "held", _("Held")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    DONE = "done", _("Done")


ACTIVE_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED)


class BookingSource(models.TextChoices):
    BOOKER = "booker", _("Booker (call centre)")
    PUBLIC = "public", _("Public booking page")
    PORTAL = "portal", _("Customer portal")
    API = "api", _("API")
    STAFF = "staff", _("Staff")


class Booking(OrgScoped, PublicId):
    """One appointment of one contact with one staff member.

    `start`/`end` are the appointment itself (UTC); `blocked_start`/`blocked_end` add the type's
    buffers and are what occupies the staff member's calendar.

    No double booking (ARCHITECTURE rule 4): `services.booking_create/reschedule` lock the staff
    row and re-check before writing. On PostgreSQL, migration 0002 also adds an exclusion
    constraint as the last line of defence::

        booking_no_overlap EXCLUDE USING gist (
            staff_id WITH =, tstzrange(blocked_start, blocked_end, '[)') WITH &&
        ) WHERE (status IN ('held', 'confirmed') AND exclusive)

    It is added with raw SQL (btree_gist extension) and only on PostgreSQL, so it is deliberately
    *not* declared in `Meta.constraints`: `django.contrib.postgres` is not installed and SQLite
    could not create it; the model state stays consistent with the migrations. `exclusive` is
    True for one-to-one types (capacity 1); group bookings (several seats at one start) are kept
    apart by the service alone. An expired hold still has status "held", so the service cancels
    expired holds that overlap before inserting.
    """

    type = models.ForeignKey(
        "scheduling.AppointmentType",
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("appointment type"),
    )
    # Three of the foreign keys have no single-column index: a composite index below starts
    # with each of them (staff, contact, organisation), and every index costs every booking's
    # insert (bench booking_http).
    organisation = models.ForeignKey(
        "org.Organisation",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("organisation"),
        db_index=False,
    )
    staff = models.ForeignKey(
        "org.Staff",
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("staff"),
        db_index=False,
    )
    contact = models.ForeignKey(
        "customers.Contact",
        on_delete=models.PROTECT,
        related_name="bookings",
        verbose_name=_("contact"),
        db_index=False,
    )
    unit = models.ForeignKey(
        "org.OrgUnit",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
        help_text=_("The staff member's unit when the booking was made."),
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    blocked_start = models.DateTimeField(_("blocked from"))
    blocked_end = models.DateTimeField(_("blocked until"))
    status = models.CharField(
        _("status"), max_length=20, choices=BookingStatus.choices, default=BookingStatus.HELD
    )
    hold_expires_at = models.DateTimeField(_("hold expires at"), null=True, blank=True)
    exclusive = models.BooleanField(
        _("exclusive"), default=True, help_text=_("True for one-to-one appointment types.")
    )
    location = models.ForeignKey(
        "org.Location",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("location"),
    )
    seats = models.PositiveIntegerField(_("seats"), default=1)
    services = models.ManyToManyField(
        "scheduling.AppointmentType",
        blank=True,
        related_name="+",
        verbose_name=_("combined services"),
        help_text=_("Further services done in the same visit (S4.9)."),
    )
    source = models.CharField(
        _("booked through"), max_length=10, choices=BookingSource.choices, default="staff"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("booked by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Set when the booking was made with its follow-ups deferred (the API): its timeline entry
    # and the customer's message are written by the bookings pump (`services.
    # booking_effects_apply_pending`), or first thing by any later change of the booking.
    effects_due = models.BooleanField(_("follow-ups pending"), default=False, editable=False)
    # The audit trail is read per booking (by id) and by date; the copied foreign keys need no
    # index of their own there (each would cost every booking's insert).
    history = HistoricalRecords(
        no_db_index=[
            "organisation",
            "type",
            "staff",
            "contact",
            "unit",
            "location",
            "created_by",
            "public_id",
        ],
        excluded_fields=["effects_due"],
    )

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["start"]
        indexes = [
            models.Index(fields=["staff", "blocked_start"], name="booking_staff_blocked_idx"),
            models.Index(fields=["organisation", "start"], name="booking_org_start_idx"),
            # The loader's busy-time query: active bookings ending after the window starts (past
            # appointments, done or cancelled, are not in this index at all).
            models.Index(
                fields=["staff", "blocked_end"],
                condition=models.Q(status__in=["held", "confirmed"]),
                name="booking_active_staff_end_idx",
            ),
            models.Index(fields=["contact", "-start"], name="booking_contact_start_idx"),
            # The bookings pump's queue: only the few rows whose follow-ups are still due.
            models.Index(
                fields=["id"], condition=models.Q(effects_due=True), name="booking_effects_due_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="booking_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(blocked_start__lte=models.F("start"))
                & models.Q(blocked_end__gte=models.F("end")),
                name="booking_blocked_covers_appointment",
            ),
            models.CheckConstraint(condition=models.Q(seats__gte=1), name="booking_seats_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.start:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
