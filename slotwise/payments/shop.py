"""The webshop (S4.9): an organisation sells services with prices; a logged-in customer (e.g. a
real-estate agent ordering photography and a floor plan) puts them in a cart, pays, and books the
visit straight away through the option generator, with the duration and skills of the services
bought.

Decisions documented here:

* **The cart lives in the session** as plain JSON (``{"org": id, "lines": [{"service", "quantity",
  "price", "currency"}]}``): nothing is written before checkout. One organisation per cart.
  Each line remembers the price the customer saw when adding it.
* **One visit.** Everything in the cart is done in one visit, so the cart follows the option
  generator's rule for combining services (`visit_spec`): at most one service that is not
  combinable (it becomes the visit's main service), every other service must be combinable, all in
  one currency.
* **Quantity** counts in the price only: the visit's length, buffers and required skills come
  from each *distinct* service once (durations add, skills take the highest level), because that
  is the visit the booking services book.
* **Prices are frozen when the order is placed.** `shop_order_place` compares the price each line
  was seen at with the current price under a lock; if one changed, nothing is written and the
  caller shows the new prices (`cart_accept_prices`) before the customer pays. A zero total needs
  no payment: the order is paid at once.
* **Paid → book.** Only a paid order can be booked, once (the order row is locked while the
  booking is made); the booking is confirmed at once (the order paid for it, no prepayment
  again) and linked to the order. A second payment that arrives for an order already paid (two tabs
  or a stale link) is refunded automatically (`_refund_surplus_payment`, a payment status hook).
* **Customers** reach their own orders only (by the order's unguessable id *and* the contact's
  user); anyone else gets a 404.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core import signing
from django.db import transaction
from django.utils.translation import gettext as _

from slotwise.core.errors import ValidationError
from slotwise.core.money import Money
from slotwise.customers.models import Contact
from slotwise.scheduling.models import AppointmentType

from .models import SETTLED_STATUSES, PaymentStatus, Purpose, ShopOrder, ShopOrderLine
from .models import ShopOrderStatus as S

MAX_QUANTITY = 20
CART_SESSION_KEY = "slotwise.shop.cart"
OPTION_SALT = "slotwise.payments.shop-option"
OPTION_MAX_AGE = 2 * 60 * 60


# --- the catalogue ----------------------------------------------------------------------------


def catalogue(*, organisation):
    """The services the organisation sells in its webshop, by name."""
    return AppointmentType.objects.filter(
        organisation=organisation, active=True, sold_in_webshop=True
    ).order_by("name")


# --- the cart (session data; nothing is written) ----------------------------------------------


def empty_cart(organisation) -> dict:
    return {"org": organisation.pk, "lines": []}


def cart_from_session(data, organisation) -> dict:
    """The session's cart for this organisation (an empty one if there is none, or if the session
    holds another organisation's cart: that one is kept until it is replaced)."""
    if isinstance(data, dict) and data.get("org") == organisation.pk:
        lines = [dict(line) for line in data.get("lines", []) if isinstance(line, dict)]
        return {"org": organisation.pk, "lines": lines}
    return empty_cart(organisation)


def cart_belongs_elsewhere(data, organisation) -> bool:
    """The session holds a non-empty cart of another organisation."""
    return isinstance(data, dict) and data.get("org") != organisation.pk and bool(data.get("lines"))


def _quantity(value) -> int:
    try:
        quantity = int(value)
    except (TypeError, ValueError):
        quantity = -1
    if not 0 <= quantity <= MAX_QUANTITY:
        raise ValidationError(
            {
                "quantity": _("Choose a quantity from 1 to %(max)s.") % {"max": MAX_QUANTITY},
            }
        )
    return quantity


def _check_visit(services: list[AppointmentType]) -> None:
    """The services can be done in one visit: at most one of them is not combinable, and they
    share one currency. Errors under `service`."""
    solo = [s for s in services if not s.combinable]
    if len(solo) > 1:
        message = _(
            "“%(new)s” can't be combined with “%(other)s” in one visit. Order it separately."
        ) % {"new": solo[-1].name, "other": solo[0].name}
        raise ValidationError({"service": ValidationError(message, code="not_combinable")})
    if len({s.currency for s in services}) > 1:
        raise ValidationError(
            {
                "service": ValidationError(
                    _("These services are priced in different currencies."), code="currency"
                )
            }
        )


def _service(organisation, service_id) -> AppointmentType:
    try:
        service = catalogue(organisation=organisation).filter(pk=int(service_id)).first()
    except (TypeError, ValueError):
        service = None
    if service is None:
        raise ValidationError({"service": _("This service is not sold in the webshop.")})
    return service


def cart_add(*, cart: dict, organisation, service_id, quantity=1) -> dict:
    """A new cart with `quantity` more of the service. The service must be sold in this
    organisation's webshop and fit in one visit with what is already in the cart."""
    if cart.get("org") != organisation.pk:
        raise ValidationError(
            {"service": _("Your cart holds another organisation's services. Empty it first.")}
        )
    quantity = _quantity(quantity)
    if quantity == 0:
        raise ValidationError(
            {"quantity": _("Choose a quantity from 1 to %(max)s.") % {"max": MAX_QUANTITY}}
        )
    service = _service(organisation, service_id)
    lines = [dict(line) for line in cart["lines"]]
    existing = next((line for line in lines if line["service"] == service.pk), None)
    if existing is not None:
        total = existing["quantity"] + quantity
        if total > MAX_QUANTITY:
            raise ValidationError(
                {"quantity": _("At most %(max)s of one service.") % {"max": MAX_QUANTITY}}
            )
        existing["quantity"] = total
    else:
        others = list(AppointmentType.objects.filter(pk__in=[line["service"] for line in lines]))
        _check_visit([*others, service])
        lines.append(
            {
                "service": service.pk,
                "quantity": quantity,
                "price": str(service.price),
                "currency": service.currency,
            }
        )
    return {"org": organisation.pk, "lines": lines}


def cart_set_quantity(*, cart: dict, service_id, quantity) -> dict:
    """A new cart with the line's quantity changed; 0 removes the line."""
    quantity = _quantity(quantity)
    try:
        service_id = int(service_id)
    except (TypeError, ValueError):
        service_id = None
    lines = [dict(line) for line in cart["lines"]]
    line = next((line for line in lines if line["service"] == service_id), None)
    if line is None:
        raise ValidationError({"service": _("This service is not in your cart.")})
    if quantity == 0:
        lines.remove(line)
    else:
        line["quantity"] = quantity
    return {"org": cart["org"], "lines": lines}


def cart_remove(*, cart: dict, service_id) -> dict:
    return cart_set_quantity(cart=cart, service_id=service_id, quantity=0)


@dataclass(frozen=True)
class CartLine:
    service: AppointmentType
    quantity: int
    unit_price: Money  # now
    seen_price: Money  # when it was put in the cart
    total: Money

    @property
    def price_changed(self) -> bool:
        return self.unit_price != self.seen_price


@dataclass(frozen=True)
class CartSummary:
    lines: list[CartLine]
    total: Money | None
    #: services that were in the cart but are no longer sold (dropped from the summary)
    gone: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[CartLine]:
        return [line for line in self.lines if line.price_changed]

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def duration(self) -> int:
        """Minutes of the visit: each distinct service once (see the module docstring)."""
        return sum(line.service.duration_minutes for line in self.lines)


def _seen(line: dict) -> Money | None:
    try:
        return Money(Decimal(str(line["price"])), str(line["currency"]))
    except (KeyError, InvalidOperation, ValueError):
        return None


def cart_read(*, cart: dict, organisation) -> CartSummary:
    """The cart with current prices and totals (Money), in one query."""
    ids = [line["service"] for line in cart["lines"]]
    services = {s.pk: s for s in catalogue(organisation=organisation).filter(pk__in=ids)}
    lines: list[CartLine] = []
    gone: list[str] = []
    for line in cart["lines"]:
        service = services.get(line["service"])
        if service is None:
            gone.append(str(line["service"]))
            continue
        now = Money(service.price, service.currency)
        seen = _seen(line) or now
        lines.append(
            CartLine(
                service=service,
                quantity=int(line["quantity"]),
                unit_price=now,
                seen_price=seen,
                total=now * int(line["quantity"]),
            )
        )
    total = None
    if lines and len({line.total.currency for line in lines}) == 1:
        total = Money(Decimal("0"), lines[0].total.currency)
        for line in lines:
            total = total + line.total
    return CartSummary(lines=lines, total=total, gone=gone)


def cart_accept_prices(*, cart: dict, organisation) -> dict:
    """The cart with every line's remembered price set to the current price (after the customer
    was shown the changes) and lines of services no longer sold dropped."""
    services = {
        s.pk: s
        for s in catalogue(organisation=organisation).filter(
            pk__in=[line["service"] for line in cart["lines"]]
        )
    }
    lines = []
    for line in cart["lines"]:
        service = services.get(line["service"])
        if service is not None:
            lines.append({**line, "price": str(service.price), "currency": service.currency})
    return {"org": cart["org"], "lines": lines}


# --- the customer -----------------------------------------------------------------------------


def _verified_email(user) -> str:
    email = (user.email or "").strip().lower()
    if not email:
        return ""
    from allauth.account.models import EmailAddress

    ok = EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()
    return email if ok else ""


def shop_contact_for(*, organisation, user, actor=None) -> Contact:
    """The customer's contact in the organisation: the one linked to the user; else an unlinked
    contact with the user's verified phone number or e-mail, now linked to the user; else a new
    contact created from the user's account. A user is one contact (Contact.user is one-to-one):
    a customer of another organisation gets a field error."""
    from slotwise.customers.selectors import find_duplicates
    from slotwise.customers.services import contact_create, timeline_add

    if not getattr(user, "is_authenticated", False):
        raise ValidationError({"user": _("Log in to order.")})
    found = Contact.objects.filter(user=user, organisation=organisation).first()
    if found is not None:
        return found
    if Contact.objects.filter(user=user).exists():
        raise ValidationError(
            {
                "user": _(
                    "Your account is a customer account of another organisation. Log in with "
                    "another account to order here."
                )
            }
        )
    phone = user.phone if user.phone and user.phone_verified else ""
    email = _verified_email(user)
    with transaction.atomic():
        matches = [
            c
            for _field, c in find_duplicates(organisation=organisation, phone=phone, email=email)
            if c.user_id is None
        ]
        if matches:
            contact = matches[0]
            Contact.objects.filter(pk=contact.pk, user__isnull=True).update(user=user)
            contact.user = user
            timeline_add(
                contact=contact,
                kind="contact.user_linked",
                summary=_("Linked to the customer's account in the webshop"),
                actor=actor,
            )
            return contact
        try:
            return contact_create(
                organisation=organisation,
                first_name=user.first_name or user.username,
                last_name=user.last_name,
                phone=phone,
                email=email or (user.email or ""),
                language=user.language or organisation.default_language,
                user=user,
                actor=actor,
            )
        except ValidationError:
            # The unverified e-mail is someone else's: keep the account, not the address.
            return contact_create(
                organisation=organisation,
                first_name=user.first_name or user.username,
                last_name=user.last_name,
                phone=phone,
                language=user.language or organisation.default_language,
                user=user,
                actor=actor,
            )


# --- orders -----------------------------------------------------------------------------------


def shop_order_place(*, organisation, contact, cart: dict, actor=None) -> ShopOrder:
    """Turn the cart into an order with its prices frozen now. Under a lock on the services the
    price each line was seen at is compared with the current price: if one changed (or a service
    is no longer sold) nothing is written and a `cart` error (code ``price_changed``) says what;
    show the new prices and let the customer confirm again. A zero total is paid at once."""
    from slotwise.customers.services import timeline_add

    if contact.organisation_id != organisation.pk:
        raise ValidationError({"contact": _("Unknown contact.")})
    if cart.get("org") != organisation.pk or not cart.get("lines"):
        raise ValidationError({"cart": _("Your cart is empty.")})
    with transaction.atomic():
        ids = [line["service"] for line in cart["lines"]]
        services = {
            s.pk: s
            for s in catalogue(organisation=organisation)
            .filter(pk__in=ids)
            .select_for_update(of=("self",))
        }
        problems = []
        for line in cart["lines"]:
            service = services.get(line["service"])
            if service is None:
                problems.append(_("A service in your cart is no longer sold."))
                continue
            seen, now = _seen(line), Money(service.price, service.currency)
            if seen != now:
                problems.append(
                    _("The price of “%(name)s” changed from %(old)s to %(new)s.")
                    % {"name": service.name, "old": seen, "new": now}
                )
        if problems:
            raise ValidationError(
                {"cart": [ValidationError(p, code="price_changed") for p in problems]}
            )
        ordered = [services[line["service"]] for line in cart["lines"]]
        _check_visit(ordered)
        currency = ordered[0].currency
        total = Money(Decimal("0"), currency)
        for line in cart["lines"]:
            total = total + Money(services[line["service"]].price, currency) * _quantity(
                line["quantity"]
            )
        order = ShopOrder.objects.create(
            organisation=organisation,
            contact=contact,
            currency=currency,
            total=total.amount,
            status=S.PAID if total.amount == 0 else S.AWAITING_PAYMENT,
        )
        ShopOrderLine.objects.bulk_create(
            ShopOrderLine(
                order=order,
                service=services[line["service"]],
                quantity=_quantity(line["quantity"]),
                unit_price=services[line["service"]].price,
            )
            for line in cart["lines"]
        )
        timeline_add(
            contact=contact,
            kind="shop.order_placed",
            summary=_("Webshop order of %(total)s: %(services)s")
            % {"total": total, "services": ", ".join(s.name for s in ordered)},
            data={"order": str(order.public_id)},
            actor=actor,
        )
    return order


def order_total(order: ShopOrder) -> Money:
    return Money(order.total, order.currency)


def shop_order_pay(
    *, order: ShopOrder, provider: str, return_url: str, payer_phone: str = "", actor=None
):
    """Start paying an order awaiting payment with `provider` (after the order's transaction
    committed); the caller sends the customer to `payments:pay`."""
    from .checkout import checkout_start

    if order.status != S.AWAITING_PAYMENT:
        raise ValidationError({"provider": _("This order does not need a payment.")})
    return checkout_start(
        organisation=order.organisation,
        provider=provider,
        amount=order_total(order),
        purpose=Purpose.ORDER,
        return_url=return_url,
        contact=order.contact,
        order=order,
        payer_phone=payer_phone,
        actor=actor,
    )


def order_services(order: ShopOrder) -> list[AppointmentType]:
    """The distinct services of the order, the visit's main service (the one that is not
    combinable, if any) first, then in the order they were added."""
    seen: dict[int, AppointmentType] = {}
    for line in order.lines.select_related("service__organisation").order_by("pk"):
        seen.setdefault(line.service_id, line.service)
    services = list(seen.values())
    return sorted(services, key=lambda s: s.combinable)  # stable: False first


def order_visit_spec(order: ShopOrder):
    """The visit the order buys (durations add, skills at the highest level, regions
    intersect): the option generator's `visit_spec` of its services."""
    from slotwise.scheduling.selectors import visit_spec

    return visit_spec(order_services(order))


def order_options(
    *,
    order: ShopOrder,
    location=None,
    window_start: datetime.datetime,
    window_end: datetime.datetime,
    limit: int = 30,
    now: datetime.datetime | None = None,
):
    """The option generator's best options for the order's visit (spread over staff and days)."""
    from slotwise.scheduling.selectors import find_options

    return find_options(
        organisation=order.organisation,
        spec=order_visit_spec(order),
        location=location,
        window_start=window_start,
        window_end=window_end,
        contact=order.contact,
        limit=limit,
        now=now,
        spread=2,
    )


def option_token(
    *, order: ShopOrder, staff_id: int, start: datetime.datetime, postcode="", address=""
):
    """A signed choice of one offered option for this order (staff, start and the address)."""
    payload = {
        "o": str(order.public_id),
        "s": staff_id,
        "st": start.isoformat(),
        "pc": postcode,
        "ad": address,
    }
    return signing.TimestampSigner(salt=OPTION_SALT).sign_object(payload, compress=True)


@dataclass(frozen=True)
class ShopChoice:
    staff_id: int
    start: datetime.datetime
    postcode: str
    address: str


def read_option_token(token: str, *, order: ShopOrder) -> ShopChoice:
    expired = ValidationError({"option": _("This choice has expired. Please choose a time again.")})
    try:
        payload = signing.TimestampSigner(salt=OPTION_SALT).unsign_object(
            token or "", max_age=OPTION_MAX_AGE
        )
        choice = ShopChoice(
            staff_id=int(payload["s"]),
            start=datetime.datetime.fromisoformat(payload["st"]),
            postcode=str(payload.get("pc", "")),
            address=str(payload.get("ad", "")),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise expired from None
    if payload.get("o") != str(order.public_id) or choice.start.tzinfo is None:
        raise expired
    return choice


def shop_order_book(
    *,
    order: ShopOrder,
    staff,
    start: datetime.datetime,
    location=None,
    actor=None,
    now: datetime.datetime | None = None,
):
    """Book the paid order's visit: one booking of its services with `staff` at `start`,
    confirmed at once (the order paid for it), linked to the order (status booked). Only a paid
    order, and only once: the order row is locked meanwhile. Raises ValidationError / Conflict
    like `booking_create`; nothing is written then."""
    from slotwise.bookings.models import BookingSource
    from slotwise.bookings.services import booking_create
    from slotwise.customers.services import timeline_add

    with transaction.atomic():
        locked = (
            ShopOrder.objects.select_for_update(of=("self",))
            .select_related("contact", "organisation")
            .get(pk=order.pk)
        )
        if locked.status == S.BOOKED or locked.booking_id:
            raise ValidationError(
                {
                    "order": ValidationError(
                        _("The visit for this order has already been booked."), code="booked"
                    )
                }
            )
        if locked.status != S.PAID:
            raise ValidationError(
                {"order": ValidationError(_("Only a paid order can be booked."), code="not_paid")}
            )
        services = order_services(locked)
        booking = booking_create(
            type=services[0],
            services=services[1:],
            staff=staff,
            contact=locked.contact,
            start=start,
            location=location,
            source=BookingSource.PORTAL,
            notes=_("Webshop order %(ref)s") % {"ref": str(locked.public_id)[:8]},
            actor=actor,
            now=now,
        )
        locked.booking = booking
        locked.status = S.BOOKED
        locked._change_reason = "booked"
        locked.save(update_fields=["booking", "status", "updated_at"])
        timeline_add(
            contact=locked.contact,
            kind="shop.order_booked",
            summary=_("Visit for the webshop order booked for %(start)s")
            % {"start": start.isoformat()},
            data={"order": str(locked.public_id), "booking": str(booking.public_id)},
            actor=actor,
        )
    order.booking, order.status = booking, locked.status
    return booking


# --- reads ------------------------------------------------------------------------------------


def _orders():
    return ShopOrder.objects.select_related("organisation", "contact", "booking").prefetch_related(
        "lines__service"
    )


def order_for_customer(user, public_id, *, organisation=None) -> ShopOrder | None:
    """The customer's own order (its contact is the user's), else None."""
    if not getattr(user, "is_authenticated", False):
        return None
    qs = _orders().filter(public_id=public_id, contact__user=user)
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    return qs.first()


def orders_of_customer(user, *, organisation):
    if not getattr(user, "is_authenticated", False):
        return ShopOrder.objects.none()
    return _orders().filter(organisation=organisation, contact__user=user)


def can_manage_orders(user, organisation) -> bool:
    """Managers (org admin, head of department, manager) of the organisation, and superusers."""
    from slotwise.org.rules import is_manager
    from slotwise.org.selectors import staff_of

    if getattr(user, "is_superuser", False):
        return True
    staff = staff_of(user)
    return bool(staff and staff.organisation_id == organisation.pk and is_manager(user))


def orders_for_manager(user, *, organisation):
    """The organisation's webshop orders, newest first, for its managers; nothing for others."""
    if not can_manage_orders(user, organisation):
        return ShopOrder.objects.none()
    return _orders().filter(organisation=organisation).order_by("-created_at")


def order_payment_open(order: ShopOrder):
    """The order's latest payment still in progress (to continue it), if any."""
    return (
        order.payments.filter(status__in=(PaymentStatus.CREATED, PaymentStatus.PENDING))
        .exclude(provider_reference="")
        .order_by("-created_at")
        .first()
    )


# --- a second payment for the same order ------------------------------------------------------


def _refund_surplus_payment(*, payment, old, new, actor=None) -> None:
    """A payment settled for an order that another payment already paid (or that was
    cancelled) is refunded at once: the order is never paid twice. The order row is locked so two
    payments settling at the same moment are decided one after the other."""
    from . import services

    if not payment.order_id or new != PaymentStatus.PAID or old in SETTLED_STATUSES:
        return
    order = ShopOrder.objects.select_for_update().get(pk=payment.order_id)
    earlier = (
        order.payments.filter(status__in=SETTLED_STATUSES, paid_at__isnull=False)
        .exclude(pk=payment.pk)
        .exists()
    )
    if earlier or order.status == S.CANCELLED:
        services.refund_create(
            payment=payment,
            amount=Money(payment.paid_amount, payment.currency),
            reason=_("This order was already paid."),
            actor=None,
            automatic=True,
        )


def _register_hooks() -> None:
    from .services import STATUS_HOOKS

    if _refund_surplus_payment not in STATUS_HOOKS:
        STATUS_HOOKS.append(_refund_surplus_payment)


_register_hooks()
