"""Availability (weekly working hours in local wall-clock time, dated exceptions, time off,
external busy time), appointment types and the organisation's scheduling policy (ranking weights,
travel source, slot step, public holidays)."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, TimeStamped

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class WorkingHours(TimeStamped):
    """One range of one weekday, in the organisation's local time. Several per day are allowed."""

    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["staff", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="working_hours_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class AvailabilityException(TimeStamped):
    """A dated change: extra hours on a day, or different hours. A day with exceptions uses only
    its exception ranges; `start`/`end` empty means the whole day off."""

    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField(_("date"))
    start = models.TimeField(_("from"), null=True, blank=True)
    end = models.TimeField(_("until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("availability exception")
        verbose_name_plural = _("availability exceptions")
        ordering = ["staff", "date", "start"]

    def __str__(self) -> str:
        if self.start is None:
            return f"{self.date}: {_('day off')}"
        return f"{self.date}: {self.start:%H:%M}–{self.end:%H:%M}"


class TimeOff(TimeStamped):
    """Absence between two moments (holiday, sick leave), stored in UTC."""

    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="time_off")
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("time off")
        verbose_name_plural = _("time off")
        ordering = ["staff", "start"]
        indexes = [models.Index(fields=["staff", "end"], name="time_off_staff_end_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="time_off_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"


class AppointmentMode(models.TextChoices):
    CUSTOMER_ADDRESS = "customer_address", _("At the customer's address")
    BRANCH = "branch", _("At a branch")
    PHONE = "phone", _("By phone")
    VIDEO = "video", _("By video")


class Prepayment(models.TextChoices):
    NONE = "none", _("No prepayment")
    DEPOSIT = "deposit", _("Deposit")
    FULL = "full", _("Full prepayment")


WEIGHT_NAMES = ("earliest", "travel", "compact", "continuity", "skill", "fairness")


def _weight_field(verbose_name, *, null: bool = False, default=None):
    return models.DecimalField(
        verbose_name,
        max_digits=4,
        decimal_places=2,
        null=null,
        blank=null,
        default=default,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
    )


class TravelSourceKind(models.TextChoices):
    GREAT_CIRCLE = "great_circle", _("Estimate from coordinates")
    OSRM = "osrm", _("Routing service (OSRM)")


class SchedulingPolicy(TimeStamped):
    """How the option generator works for one organisation (S4.14: changed by the business).

    Weights are in 0..10; a type may override each one. Travel: great-circle distance x the
    organisation's road factor / speed (on Organisation), or an OSRM-compatible routing service."""

    organisation = models.OneToOneField(
        "org.Organisation",
        on_delete=models.CASCADE,
        related_name="scheduling_policy",
        verbose_name=_("organisation"),
    )
    weight_earliest = _weight_field(_("weight: earliest"), default=Decimal("1.00"))
    weight_travel = _weight_field(_("weight: least travel"), default=Decimal("1.00"))
    weight_compact = _weight_field(_("weight: compact day"), default=Decimal("1.00"))
    weight_continuity = _weight_field(_("weight: usual staff member"), default=Decimal("1.00"))
    weight_skill = _weight_field(_("weight: skill level"), default=Decimal("0.50"))
    weight_fairness = _weight_field(_("weight: fair load"), default=Decimal("0.50"))
    slot_step_minutes = models.PositiveSmallIntegerField(
        _("start times every (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
    )
    travel_source = models.CharField(
        _("travel times"),
        max_length=20,
        choices=TravelSourceKind.choices,
        default=TravelSourceKind.GREAT_CIRCLE,
    )
    observe_public_holidays = models.BooleanField(
        _("closed on public holidays"),
        default=True,
        help_text=_("Public holidays of the organisation's country are days off for everyone."),
    )
    hold_minutes = models.PositiveSmallIntegerField(
        _("hold while paying (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("scheduling policy")
        verbose_name_plural = _("scheduling policies")

    def __str__(self) -> str:
        return str(self.organisation)


class ExternalBusy(TimeStamped):
    """Busy time from an external calendar (filled by calendar sync, S4.4). Blocks time only: the
    engine never shows its summary and never routes travel through it."""

    staff = models.ForeignKey("org.Staff", on_delete=models.CASCADE, related_name="external_busy")
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    source = models.CharField(_("calendar"), max_length=100, blank=True)
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    summary = models.CharField(_("summary"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("external busy time")
        verbose_name_plural = _("external busy times")
        ordering = ["staff", "start"]
        indexes = [models.Index(fields=["staff", "end"], name="external_busy_staff_end_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="external_busy_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%H:%M}"


class AppointmentType(OrgScoped):
    """What a customer can book: its length, buffers, where it happens, how many seats it has
    (1 = one-to-one; more = a group), the booking rules and the price."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"))
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"))
    buffer_before = models.PositiveIntegerField(_("buffer before (minutes)"), default=0)
    buffer_after = models.PositiveIntegerField(_("buffer after (minutes)"), default=0)
    mode = models.CharField(
        _("mode"), max_length=20, choices=AppointmentMode.choices, default=AppointmentMode.BRANCH
    )
    capacity = models.PositiveIntegerField(
        _("capacity"), default=1, help_text=_("1 for one-to-one; more for a group with seats.")
    )
    min_notice_minutes = models.PositiveIntegerField(_("minimum notice (minutes)"), default=0)
    horizon_days = models.PositiveIntegerField(_("bookable days ahead"), default=90)
    cancel_window_hours = models.PositiveIntegerField(_("cancel until (hours before)"), default=0)
    reschedule_window_hours = models.PositiveIntegerField(
        _("reschedule until (hours before)"), default=0
    )
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3)
    prepayment = models.CharField(
        _("prepayment"), max_length=10, choices=Prepayment.choices, default=Prepayment.NONE
    )
    deposit_amount = models.DecimalField(
        _("deposit"),
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text=_("Paid when booking if the prepayment rule is a deposit."),
    )
    late_cancel_keeps_deposit = models.BooleanField(
        _("late cancellation keeps the prepayment"),
        default=True,
        help_text=_(
            "Cancelled after the cancellation window: the deposit (or the prepayment) is kept. "
            "Cancelled in time it is always refunded."
        ),
    )
    no_show_fee = models.DecimalField(
        _("no-show fee"),
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text=_("Charged when a booking is marked no-show (0: none)."),
    )
    sold_in_webshop = models.BooleanField(
        _("sold in the webshop"),
        default=False,
        help_text=_("Customers can buy this service in the webshop and book it afterwards."),
    )
    combinable = models.BooleanField(
        _("can be combined"),
        default=False,
        help_text=_("Can be added to another service in one visit (durations and skills add up)."),
    )
    slot_step_minutes = models.PositiveSmallIntegerField(
        _("start times every (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
        help_text=_("Empty: the organisation's setting."),
    )
    # Ranking weights for this type; empty = the organisation's weight (SchedulingPolicy).
    weight_earliest = _weight_field(_("weight: earliest"), null=True)
    weight_travel = _weight_field(_("weight: least travel"), null=True)
    weight_compact = _weight_field(_("weight: compact day"), null=True)
    weight_continuity = _weight_field(_("weight: usual staff member"), null=True)
    weight_skill = _weight_field(_("weight: skill level"), null=True)
    weight_fairness = _weight_field(_("weight: fair load"), null=True)
    required_skills = models.ManyToManyField(
        "org.Skill",
        through="AppointmentTypeSkill",
        blank=True,
        related_name="+",
        verbose_name=_("required skills"),
    )
    allowed_units = models.ManyToManyField(
        "org.OrgUnit", blank=True, related_name="+", verbose_name=_("allowed units")
    )
    allowed_regions = models.ManyToManyField(
        "org.Region", blank=True, related_name="+", verbose_name=_("allowed regions")
    )
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("appointment type")
        verbose_name_plural = _("appointment types")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "slug"], name="appointment_type_slug_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gt=0), name="appointment_type_duration_gt_0"
            ),
            models.CheckConstraint(
                condition=models.Q(capacity__gte=1), name="appointment_type_capacity_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_travel(self) -> bool:
        """Phone and video appointments need no travel (S4.3); at a branch the staff member is
        at the branch, at the customer's address they travel there."""
        return self.mode == AppointmentMode.CUSTOMER_ADDRESS


class AppointmentTypeSkill(models.Model):
    """A skill the staff member must have, at least at `min_level`, to deliver the type."""

    type = models.ForeignKey(
        AppointmentType, on_delete=models.CASCADE, related_name="skill_requirements"
    )
    skill = models.ForeignKey(
        "org.Skill", on_delete=models.CASCADE, related_name="+", verbose_name=_("skill")
    )
    min_level = models.PositiveSmallIntegerField(_("minimum level"), default=1)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("required skill")
        verbose_name_plural = _("required skills")
        constraints = [
            models.UniqueConstraint(fields=["type", "skill"], name="appointment_type_skill_unique"),
            models.CheckConstraint(
                condition=models.Q(min_level__gte=1, min_level__lte=5),
                name="appointment_type_skill_level_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ≥ {self.min_level}"
