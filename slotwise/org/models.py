"""Organisations, their unit tree, staff, skills, regions and locations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, TimeStamped

from .roles import Role

COUNTRIES = [
    ("SE", _("Sweden")),
    ("NL", _("Netherlands")),
    ("RU", _("Russia")),
    ("US", _("United States")),
]


class Organisation(TimeStamped):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRIES)
    time_zone = models.CharField(_("time zone"), max_length=64)
    currency = models.CharField(_("currency"), max_length=3)
    default_language = models.CharField(
        _("default language"), max_length=8, choices=settings.LANGUAGES
    )
    # Travel model (S4.1): great-circle distance × road factor ÷ speed, per organisation.
    road_factor = models.DecimalField(
        _("road factor"), max_digits=4, decimal_places=2, default=1.30
    )
    travel_speed_kmh = models.PositiveSmallIntegerField(
        _("average travel speed (km/h)"), default=40
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrgUnit(OrgScoped):
    """A department or branch. `path` is the materialised path of ids ("/3/7/12/"), kept by
    `services.org_unit_create/move`, so "this unit and everything below it" is one prefix query."""

    KINDS = [("department", _("Department")), ("branch", _("Branch")), ("team", _("Team"))]

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=KINDS, default="department")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent"),
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    location = models.ForeignKey(
        "Location",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("address"),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2


class Skill(OrgScoped):
    code = models.SlugField(_("code"))
    name = models.CharField(_("name"), max_length=200)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "code"], name="skill_code_unique")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Region(OrgScoped):
    """An area defined by postcodes: `postcodes` is what the business types ("1000-1099, 1200");
    `services.region_save` parses it into `RegionRange` rows that matching uses."""

    name = models.CharField(_("name"), max_length=200)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRIES)
    postcodes = models.TextField(
        _("postcodes"),
        help_text=_(
            "Postcode prefixes or ranges separated by commas, for example: 1000-1099, 1200, 1300-1399."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RegionRange(models.Model):
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="ranges")
    start = models.CharField(max_length=10)  # normalised prefix, same length as end
    end = models.CharField(max_length=10)

    class Meta:
        indexes = [models.Index(fields=["start", "end"])]

    def __str__(self) -> str:
        return self.start if self.start == self.end else f"{self.start}-{self.end}"


class Location(OrgScoped):
    """An address with coordinates: a customer's home, a branch, a technician's home base."""

    label = models.CharField(_("label"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    postcode = models.CharField(_("postcode"), max_length=16)
    city = models.CharField(_("city"), max_length=120, blank=True)
    country = models.CharField(_("country"), max_length=2, choices=COUNTRIES)
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    geocoded_by = models.CharField(_("geocoded by"), max_length=40, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")

    def __str__(self) -> str:
        return self.label or ", ".join(p for p in (self.address, self.postcode, self.city) if p)


class Staff(OrgScoped):
    """A person who works for the organisation. People join and leave (active_from/active_to);
    a leaver keeps their history but is no longer offered."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    unit = models.ForeignKey(
        OrgUnit, on_delete=models.PROTECT, related_name="staff", verbose_name=_("unit")
    )
    title = models.CharField(_("title"), max_length=120, blank=True)
    languages = models.JSONField(
        _("languages"), default=list, blank=True, help_text=_("Language codes, e.g. en, sv.")
    )
    regions = models.ManyToManyField(
        Region, blank=True, related_name="staff", verbose_name=_("regions")
    )
    home_base = models.ForeignKey(
        Location,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("home base"),
    )
    active_from = models.DateField(_("active from"))
    active_to = models.DateField(_("active to"), null=True, blank=True)
    history = HistoricalRecords(m2m_fields=[regions])

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["user__first_name", "user__last_name"]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def role_set(self) -> frozenset[str]:
        cached = getattr(self, "_role_set", None)
        if cached is None:
            cached = frozenset(r.role for r in self.roles.all())
            self._role_set = cached
        return cached

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_set & set(roles))

    def is_active_on(self, day) -> bool:
        return self.active_from <= day and (self.active_to is None or day <= self.active_to)


class StaffRole(models.Model):
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        constraints = [models.UniqueConstraint(fields=["staff", "role"], name="staff_role_unique")]

    def __str__(self) -> str:
        return self.get_role_display()


class StaffSkill(models.Model):
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(
        Skill, on_delete=models.CASCADE, related_name="+", verbose_name=_("skill")
    )
    level = models.PositiveSmallIntegerField(
        _("level"), default=3, help_text=_("1 (beginner) to 5 (expert).")
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("staff skill")
        verbose_name_plural = _("staff skills")
        constraints = [
            models.UniqueConstraint(fields=["staff", "skill"], name="staff_skill_unique"),
            models.CheckConstraint(
                condition=models.Q(level__gte=1, level__lte=5), name="staff_skill_level_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ({self.level})"
