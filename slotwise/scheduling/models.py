"""Availability: weekly working hours in local wall-clock time, dated exceptions and time off.
(Appointment types, travel settings and external busy times are added by the booking engine.)"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import TimeStamped

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
