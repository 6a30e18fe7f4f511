"""Work orders in the demo: the home-repair company in Los Angeles (FixRight, seed 002) gets a
catalogue of services and goods, work types for its HVAC and electrical technicians, pay rules,
and orders in every stage of their life for today and tomorrow — made through the services
(intake, preparation, assignment through the booking engine, the technician's actions, extras,
photos, completion with an on-site payment, the manager's confirmation with the earning), so
the demo runs the real code paths:

- today: one closed with its earning (cash held by the technician), one completed waiting for
  the manager's confirmation, one waiting for the approval of extras, one in progress and one
  paused;
- tomorrow: one assigned and one accepted;
- two new orders from the web form and the phone for the same customer (a possible duplicate).

Today's visits are booked "as of" the day before (the services' `now=`), because the booking
engine refuses a start in the past; their creation is dated the same way so the event list
reads in order. When a technician has no working hours at the chosen time (a weekend), the
visit is booked outside the hours, as a dispatcher may.

Idempotent: the catalogue, types and pay rules are created when missing; orders are added only
when the organisation has none.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from slotwise.core.errors import Conflict, ValidationError

ORGS = {"fixright"}
TAX = Decimal("9.5")  # Los Angeles County sales tax on goods

# (kind, name, code, unit, price)
CATALOGUE = [
    ("service", "Diagnostic visit", "SV-DIAG", "", "79.00"),
    ("service", "Drain cleaning", "SV-DRAIN", "", "149.00"),
    ("service", "Drain camera inspection", "SV-CAM", "", "89.00"),
    ("service", "Water heater flush", "SV-WHF", "", "120.00"),
    ("service", "Thermostat installation", "SV-THERM", "", "85.00"),
    ("service", "Ceiling fan installation", "SV-FAN", "", "140.00"),
    ("service", "AC refrigerant recharge", "SV-R410", "lb", "75.00"),
    ("service", "Emergency call-out", "SV-EMERG", "", "150.00"),
    ("goods", "Kitchen faucet (single handle)", "GD-FAUCET", "pcs", "149.00"),
    ("goods", "P-trap kit", "GD-PTRAP", "pcs", "24.00"),
    ("goods", "Toilet wax ring", "GD-WAX", "pcs", "9.50"),
    ("goods", "Furnace filter 16×25", "GD-FILTER", "pcs", "18.00"),
    ("goods", "Smart thermostat", "GD-SMART", "pcs", "199.00"),
    ("goods", "GFCI outlet", "GD-GFCI", "pcs", "22.00"),
    ("goods", "Water heater anode rod", "GD-ANODE", "pcs", "45.00"),
    ("goods", "Ceiling fan brace box", "GD-BRACE", "pcs", "32.00"),
]

# (slug, name, minutes, price, {skill: level}) — "repair" (plumbing) comes with the demo's types
TYPES = [
    ("hvac", "HVAC service", 90, "129", {"hvac": 2}),
    ("electrical", "Electrical repair", 60, "110", {"electrical": 2}),
]

# username → (labour share %, fixed per job, rate per mile)
PAY_RULES = {
    "la-tech": ("40", "0", "0.655"),
    "la-tech3": ("35", "15", "0.655"),
    "la-tech2": ("0", "65", "0.50"),
}

ANSWERS = {"finished": "yes", "client_checked": "yes", "rating": "5"}


def _catalogue(org) -> dict:
    from .models import CatalogueItem

    items = {}
    for kind, name, code, unit, price in CATALOGUE:
        item, _ = CatalogueItem.objects.get_or_create(
            organisation=org,
            code=code,
            defaults={
                "kind": kind,
                "name": name,
                "unit_label": unit,
                "unit_price": Decimal(price),
                "tax_rate": TAX if kind == "goods" else Decimal("0"),
            },
        )
        items[code] = item
    return items


def _types(org) -> dict:
    from slotwise.org.models import Skill
    from slotwise.scheduling.models import AppointmentMode, AppointmentType, AppointmentTypeSkill

    for slug, name, minutes, price, skills in TYPES:
        if AppointmentType.objects.filter(organisation=org, slug=slug).exists():
            continue
        type_ = AppointmentType.objects.create(
            organisation=org,
            slug=slug,
            name=name,
            duration_minutes=minutes,
            mode=AppointmentMode.CUSTOMER_ADDRESS,
            price=Decimal(price),
            currency=org.currency,
            buffer_after=15,
        )
        for code, level in skills.items():
            skill = Skill.objects.filter(organisation=org, code=code).first()
            if skill is not None:
                AppointmentTypeSkill.objects.create(type=type_, skill=skill, min_level=level)
    return {t.slug: t for t in AppointmentType.objects.filter(organisation=org)}


def _pay_rules(org, staff: dict) -> None:
    from .models import PayRule

    for username, (share, fixed, mileage) in PAY_RULES.items():
        member = staff.get(username)
        if member is None:
            continue
        PayRule.objects.get_or_create(
            technician=member,
            defaults={
                "organisation": org,
                "labour_share_percent": Decimal(share),
                "fixed_per_job": Decimal(fixed),
                "mileage_rate": Decimal(mileage),
            },
        )


def _photo(color: tuple[int, int, int], name: str) -> SimpleUploadedFile:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (960, 720), color)
    draw = ImageDraw.Draw(image)
    for i in range(0, 960, 60):
        draw.line([(i, 0), (960 - i, 720)], fill=(255, 255, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


class _Demo:
    def __init__(self, org, staff: dict, types: dict, items: dict):
        self.org = org
        self.zone = ZoneInfo(org.time_zone)
        self.now = timezone.now()
        self.today = self.now.astimezone(self.zone).date()
        self.tomorrow = self.today + dt.timedelta(days=1)
        self.staff = staff
        self.manager = staff["la-manager"].user
        self.rep = staff.get("la-rep", staff["la-manager"]).user
        self.types = types
        self.items = items

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)

    def as_of(self, start: dt.datetime) -> dt.datetime:
        """When the visit is booked: now, or the day before for a visit that has begun."""
        if start > self.now + dt.timedelta(hours=1):
            return self.now
        return start - dt.timedelta(days=1)

    def when(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The time of a step of today's visit: never in the future."""
        return min(start + dt.timedelta(minutes=minutes), self.now)

    def contact(self, postcode_prefix: str, index: int = 0):
        from slotwise.customers.models import Contact

        contacts = list(
            Contact.objects.filter(
                organisation=self.org, location__postcode__startswith=postcode_prefix
            ).order_by("pk")
        )
        if not contacts:
            contacts = list(
                Contact.objects.filter(organisation=self.org, location__isnull=False).order_by("pk")
            )
        return contacts[index % len(contacts)]

    def line(self, code: str, quantity: str = "1"):
        from .services import LineInput

        item = self.items[code]
        return LineInput(
            kind=item.kind,
            name=item.name,
            quantity=quantity,
            unit_price=item.unit_price,
            tax_rate=item.tax_rate,
            item=item,
        )

    def labour(self, hours: str, rate: str):
        from .services import LineInput

        return LineInput(kind="labour", name="Labour", quantity=hours, unit_price=rate)

    def travel(self, amount: str = "35.00"):
        from .services import LineInput

        return LineInput(kind="travel", name="Travel charge", quantity="1", unit_price=amount)

    def order(self, *, contact, title, type_slug, lines=(), description="", **kwargs):
        from . import services

        return services.work_order_create(
            organisation=self.org,
            contact=contact,
            source=kwargs.pop("source", "phone"),
            title=title,
            description=description,
            type=self.types.get(type_slug),
            location=contact.location,
            lines=list(lines),
            actor=kwargs.pop("actor", self.rep),
            unit=self.staff["la-manager"].unit,  # the dispatch unit: its managers see new orders
            **kwargs,
        )

    def assign(self, order, technician, starts: list[dt.datetime]):
        """Book the first of `starts` that the booking engine accepts; within the working hours
        if possible, outside them otherwise (a weekend)."""
        from . import services
        from .models import WorkOrder, WorkOrderEvent

        for enforce in (True, False):
            for start in starts:
                as_of = self.as_of(start)
                try:
                    order = services.work_order_assign(
                        order=order,
                        technician=technician,
                        start=start,
                        actor=self.manager,
                        enforce_availability=enforce,
                        now=as_of,
                    )
                except (ValidationError, Conflict):
                    continue
                if as_of < self.now:  # booked the day before: created then too
                    created = as_of - dt.timedelta(hours=2)
                    WorkOrder.objects.filter(pk=order.pk).update(created_at=created)
                    WorkOrderEvent.objects.filter(order=order, kind="created").update(at=created)
                return order
        return None

    def run(self) -> int:
        from . import services
        from .photos import photo_add

        carlos = self.staff.get("la-tech")
        kevin = self.staff.get("la-tech2")
        priya = self.staff.get("la-tech3")
        made = 0
        today, tomorrow = self.today, self.tomorrow

        # today, Carlos, 8:00 — closed, with his earning and the cash he holds
        order = self.order(
            contact=self.contact("900"),
            title="Replace the kitchen faucet",
            description="The old faucet drips and the handle is loose.",
            type_slug="repair",
            lines=[self.labour("1", "95.00"), self.line("GD-FAUCET"), self.travel()],
        )
        made += 1
        order = self.assign(order, carlos, [self.at(today, 8), self.at(today, 7, 30)])
        if order is not None:
            start = order.scheduled_start
            order = services.work_order_act(
                order=order, action="accept", actor=carlos.user, now=self.when(start, -60)
            )
            order = services.work_order_act(
                order=order, action="start", actor=carlos.user, now=self.when(start, 5)
            )
            photo_add(order=order, upload=_photo((70, 110, 150), "faucet.jpg"), actor=carlos.user)
            order = self._complete(
                order, carlos, method="cash", tips="15.00", miles="8.4", at=self.when(start, 70)
            )
            services.work_order_confirm(order=order, actor=self.manager, now=self.when(start, 95))

        # today, Priya, 9:00 — completed, waiting for the manager's confirmation
        order = self.order(
            contact=self.contact("904"),
            title="AC blows warm air",
            description="Upstairs unit, about 12 years old.",
            type_slug="hvac",
            lines=[self.labour("1.5", "110.00"), self.line("SV-R410", "2")],
        )
        made += 1
        order = self.assign(order, priya, [self.at(today, 9), self.at(today, 13)])
        if order is not None:
            start = order.scheduled_start
            order = services.work_order_act(
                order=order, action="start", actor=priya.user, now=self.when(start, 0)
            )
            photo_add(order=order, upload=_photo((160, 90, 60), "condenser.jpg"), actor=priya.user)
            photo_add(order=order, upload=_photo((60, 140, 90), "gauges.jpg"), actor=priya.user)
            self._complete(
                order,
                priya,
                method="card_terminal",
                tips="0",
                miles="0",
                at=self.when(start, 85),
            )

        # today, Carlos, 10:30 — extras waiting for the manager's approval
        order = self.order(
            contact=self.contact("900", 2),
            title="Bathroom sink drains slowly",
            type_slug="repair",
            lines=[self.labour("1", "95.00"), self.line("SV-DRAIN")],
        )
        made += 1
        order = self.assign(order, carlos, [self.at(today, 10, 30), self.at(today, 12, 30)])
        if order is not None:
            start = order.scheduled_start
            order = services.work_order_act(
                order=order, action="start", actor=carlos.user, now=self.when(start, 10)
            )
            photo_add(order=order, upload=_photo((90, 90, 90), "drain.jpg"), actor=carlos.user)
            services.extras_submit(
                order=order,
                lines=[self.line("SV-CAM"), self.line("GD-PTRAP")],
                note="Roots in the line: a camera look and a new P-trap.",
                actor=carlos.user,
                now=self.when(start, 35),
            )

        # today, Kevin, 9:30 — in progress, with a comment for the office
        order = self.order(
            contact=self.contact("914"),
            title="Install a ceiling fan in the bedroom",
            type_slug="electrical",
            lines=[self.labour("1", "110.00"), self.line("SV-FAN")],
        )
        made += 1
        order = self.assign(order, kevin, [self.at(today, 9, 30), self.at(today, 11)])
        if order is not None:
            start = order.scheduled_start
            order = services.work_order_act(
                order=order, action="start", actor=kevin.user, now=self.when(start, 0)
            )
            services.comment_add(
                order=order,
                author=kevin.user,
                side="technician",
                body="The ceiling box is not rated for a fan; I'll add a brace box.",
            )

        # today, Kevin, 13:00 — paused (waiting for a part)
        order = self.order(
            contact=self.contact("914", 1),
            title="Kitchen outlets trip the breaker",
            type_slug="electrical",
            lines=[self.labour("1", "110.00"), self.line("GD-GFCI", "2")],
        )
        made += 1
        order = self.assign(order, kevin, [self.at(today, 13), self.at(today, 14, 30)])
        if order is not None:
            start = order.scheduled_start
            order = services.work_order_act(
                order=order, action="start", actor=kevin.user, now=self.when(start, 0)
            )
            services.work_order_act(
                order=order, action="pause", actor=kevin.user, now=self.when(start, 30)
            )

        # tomorrow, Carlos — assigned, with the manager's comment
        order = self.order(
            contact=self.contact("900", 1),
            title="Water heater leaks at the base",
            description="40 gallon gas heater in the garage.",
            type_slug="repair",
            lines=[self.labour("2", "95.00"), self.line("GD-ANODE"), self.travel()],
        )
        made += 1
        order = services.work_order_update(
            order=order,
            manager_comment="Gate code 4471. The dog is friendly.",
            actor=self.manager,
        )
        self.assign(order, carlos, [self.at(tomorrow, h) for h in (13, 7, 10, 12, 16)])

        # tomorrow, Priya — accepted
        order = self.order(
            contact=self.contact("904", 1),
            title="Furnace tune-up and new thermostat",
            type_slug="hvac",
            lines=[self.labour("1", "110.00"), self.line("GD-SMART"), self.line("GD-FILTER")],
        )
        made += 1
        order = self.assign(order, priya, [self.at(tomorrow, h) for h in (13, 16, 9, 10)])
        if order is not None:
            services.work_order_act(order=order, action="accept", actor=priya.user)

        # new: from the web form, and the same customer again by phone (a possible duplicate)
        customer = self.contact("90024")
        window_start = self.at(tomorrow + dt.timedelta(days=1), 8)
        window_end = window_start + dt.timedelta(hours=4)
        self.order(
            contact=customer,
            source="web_form",
            source_ref="demo-web-form-1",
            title="Toilet keeps running",
            description="It runs every few minutes, the handle sticks.",
            type_slug="repair",
            window_start=window_start,
            window_end=window_end,
            actor=None,
        )
        self.order(
            contact=customer,
            title="Toilet running, called again",
            type_slug="repair",
            actor=self.rep,
        )
        made += 2
        return made

    def _complete(self, order, technician, *, method, tips, miles, at):
        from . import services

        totals = services.order_totals(order)
        return services.work_order_complete(
            order=order,
            data=services.CompletionInput(
                work_cost=totals.labour.amount,
                extras_cost=totals.extras.amount,
                travel_cost=totals.travel.amount,
                toll_miles=miles,
                tips=tips,
                payment_method=method,
                payment_amount=order.total,
                answers=ANSWERS,
            ),
            actor=technician.user,
            received_by=technician,
            now=at,
        )


def workorders_demo(org) -> int:
    """The FixRight demo's work orders (see the module docstring); the number of orders added."""
    if org.slug not in ORGS:
        return 0
    from slotwise.org.models import Staff

    from .models import WorkOrder

    staff = {
        s.user.username: s
        for s in Staff.objects.filter(organisation=org, user__username__startswith="la-")
        .select_related("user", "unit")
        .order_by("pk")
    }
    with transaction.atomic():
        items = _catalogue(org)
        types = _types(org)
        _pay_rules(org, staff)
        if WorkOrder.objects.filter(organisation=org).exists():
            return 0
        if not {"la-manager", "la-tech", "la-tech2", "la-tech3"} <= set(staff):
            return 0
        return _Demo(org, staff, types, items).run()
