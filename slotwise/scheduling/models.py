"""Availability: weekly working hours in local wall-clock time, dated exceptions and time off.
(Appointment types, travel settings and external busy times are added by the booking engine.)"""

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
    prepayment_required = models.BooleanField(_("prepayment required"), default=False)
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
