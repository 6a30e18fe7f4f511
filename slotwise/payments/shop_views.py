"""The webshop's pages (S4.9), thin: the catalogue, the cart (in the session), checkout (login
required), the order page that takes the customer from paying straight to booking the visit, and
the managers' list of orders. The rules live in `shop.py`.

    /shop/<org>/                     catalogue
    /shop/<org>/cart/                the cart (add, change quantity, remove, empty)
    /shop/<org>/checkout/            place the order and pay
    /shop/<org>/orders/              the customer's orders; every order for managers
    /shop/<org>/orders/<public id>/  the order: pay, then book the visit
"""

from __future__ import annotations

import datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from slotwise.bookings.display import local, org_zone
from slotwise.bookings.forms import SearchForm
from slotwise.core.errors import Conflict, ValidationError
from slotwise.core.money import Money
from slotwise.org.models import Organisation, Staff
from slotwise.org.selectors import staff_of

from . import shop
from .checkout import ProviderChoiceForm
from .models import ShopOrderStatus

DEFAULT_DAYS = 14
GRACE_MINUTES = 10  # options start this much later, so the customer has time to choose
PER_DAY = 6


# --- helpers ----------------------------------------------------------------------------------


def _org_or_404(org_slug: str) -> Organisation:
    return get_object_or_404(Organisation, slug=org_slug)


def _render(request, template: str, context: dict, *, status: int = 200):
    organisation = context["organisation"]
    with timezone.override(org_zone(organisation)):
        return render(request, f"payments/shop/{template}", context, status=status)


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in msgs] for name, msgs in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _flat(exc: ValidationError) -> list[str]:
    return [m for msgs in _messages(exc).values() for m in msgs]


def _session_cart(request, organisation) -> dict:
    return shop.cart_from_session(request.session.get(shop.CART_SESSION_KEY), organisation)


def _save_cart(request, cart: dict) -> None:
    request.session[shop.CART_SESSION_KEY] = cart


def _is_staff(user) -> bool:
    return getattr(user, "is_authenticated", False) and staff_of(user) is not None


def _cart_context(request, organisation, **extra) -> dict:
    cart = _session_cart(request, organisation)
    return {
        "organisation": organisation,
        "summary": shop.cart_read(cart=cart, organisation=organisation),
        "other_cart": shop.cart_belongs_elsewhere(
            request.session.get(shop.CART_SESSION_KEY), organisation
        ),
        **extra,
    }


# --- catalogue and cart -----------------------------------------------------------------------


@require_GET
def catalogue(request, org_slug: str):
    organisation = _org_or_404(org_slug)
    return _render(
        request,
        "catalogue.html",
        _cart_context(
            request,
            organisation,
            services=shop.catalogue(organisation=organisation),
            max_quantity=shop.MAX_QUANTITY,
        ),
    )


@require_POST
def cart_add(request, org_slug: str):
    organisation = _org_or_404(org_slug)
    if request.POST.get("replace") == "1":
        _save_cart(request, shop.empty_cart(organisation))
    cart = _session_cart(request, organisation)
    if shop.cart_belongs_elsewhere(request.session.get(shop.CART_SESSION_KEY), organisation):
        cart = {"org": None, "lines": []}  # refused below with a clear message
    try:
        cart = shop.cart_add(
            cart=cart,
            organisation=organisation,
            service_id=request.POST.get("service"),
            quantity=request.POST.get("quantity") or 1,
        )
    except ValidationError as exc:
        return _render(
            request,
            "catalogue.html",
            _cart_context(
                request,
                organisation,
                services=shop.catalogue(organisation=organisation),
                max_quantity=shop.MAX_QUANTITY,
                errors=_messages(exc),
                error_service=request.POST.get("service"),
            ),
            status=400,
        )
    _save_cart(request, cart)
    return redirect("shop:cart", org_slug=organisation.slug)


@require_http_methods(["GET", "POST"])
def cart(request, org_slug: str):
    """The cart; POST `action` = update (service, quantity: 0 removes), remove (service) or
    empty."""
    organisation = _org_or_404(org_slug)
    if request.method == "POST":
        current = _session_cart(request, organisation)
        action = request.POST.get("action")
        try:
            if action == "empty":
                current = shop.empty_cart(organisation)
            elif action == "remove":
                current = shop.cart_remove(cart=current, service_id=request.POST.get("service"))
            else:
                current = shop.cart_set_quantity(
                    cart=current,
                    service_id=request.POST.get("service"),
                    quantity=request.POST.get("quantity"),
                )
        except ValidationError as exc:
            return _render(
                request,
                "cart.html",
                _cart_context(
                    request,
                    organisation,
                    errors=_messages(exc),
                    error_service=request.POST.get("service"),
                    max_quantity=shop.MAX_QUANTITY,
                ),
                status=400,
            )
        _save_cart(request, current)
        return redirect("shop:cart", org_slug=organisation.slug)
    return _render(
        request, "cart.html", _cart_context(request, organisation, max_quantity=shop.MAX_QUANTITY)
    )


# --- checkout ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request, org_slug: str):
    """What will be paid (prices now; changes since the cart was filled are shown and must be
    seen before paying), the payment method, then: place the order and go to the pay page."""
    organisation = _org_or_404(org_slug)
    current = _session_cart(request, organisation)
    summary = shop.cart_read(cart=current, organisation=organisation)
    if not summary.lines:
        return redirect("shop:cart", org_slug=organisation.slug)
    currency = summary.lines[0].unit_price.currency
    context = {"organisation": organisation, "summary": summary, "problems": []}
    if _is_staff(request.user):
        context["problems"] = [
            _("Staff accounts can't order in the webshop. Log in as a customer.")
        ]
        return _render(request, "checkout.html", context, status=403)
    form = _provider_form(
        request.POST if request.method == "POST" else None, organisation, currency
    )
    context["form"] = form
    context["free"] = summary.total is not None and summary.total.amount == 0
    # From here on the customer has seen the current prices (and what is no longer sold).
    _save_cart(request, shop.cart_accept_prices(cart=current, organisation=organisation))
    if request.method == "GET":
        return _render(request, "checkout.html", context)

    if not context["free"] and not form.is_valid():
        return _render(request, "checkout.html", context, status=400)
    try:
        contact = shop.shop_contact_for(
            organisation=organisation, user=request.user, actor=request.user
        )
        order = shop.shop_order_place(
            organisation=organisation, contact=contact, cart=current, actor=request.user
        )
    except ValidationError as exc:
        context["problems"] = _flat(exc)
        return _render(request, "checkout.html", context, status=409 if summary.changed else 400)
    _save_cart(request, shop.empty_cart(organisation))
    if order.status != ShopOrderStatus.AWAITING_PAYMENT:
        return redirect(_order_url(order))
    return _pay(request, order, form)


def _provider_form(data, organisation, currency: str) -> ProviderChoiceForm:
    form = ProviderChoiceForm(data, organisation=organisation, currency=currency)
    choices = form.fields["provider"].choices
    if len(choices) == 1:
        form.fields["provider"].initial = choices[0][0]
    return form


def _order_url(order) -> str:
    return reverse("shop:order", args=[order.organisation.slug, order.public_id])


def _pay(request, order, form):
    try:
        payment = shop.shop_order_pay(
            order=order,
            provider=form.cleaned_data["provider"],
            payer_phone=form.cleaned_data.get("phone", ""),
            return_url=request.build_absolute_uri(_order_url(order)),
            actor=request.user,
        )
    except ValidationError as exc:
        request.session["shop_problem"] = _flat(exc)
        return redirect(_order_url(order))
    return redirect("payments:pay", public_id=payment.public_id)


# --- the order: pay, then book ----------------------------------------------------------------


def _own_order(request, organisation, public_id):
    order = shop.order_for_customer(request.user, public_id, organisation=organisation)
    if order is None:
        raise Http404
    return order


def _window(organisation, spec, start: datetime.date, end: datetime.date, now):
    zone = org_zone(organisation)
    window_start = datetime.datetime.combine(start, datetime.time.min, tzinfo=zone)
    window_end = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )
    window_start = max(window_start, now + datetime.timedelta(minutes=GRACE_MINUTES))
    return window_start, min(window_end, now + datetime.timedelta(days=spec.horizon_days))


def _search_form(request, order, spec, today) -> SearchForm:
    bound = {
        "start": today.isoformat(),
        "end": (today + datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
    }
    location = order.contact.location
    if location is not None:
        bound["postcode"], bound["address"] = location.postcode, location.address
    bound.update(
        {k: request.GET[k] for k in ("start", "end", "postcode", "address") if k in request.GET}
    )
    return SearchForm(bound, needs_travel=spec.needs_travel, today=today)


def _options(request, order, spec, form, now):
    """Run the option generator for the order's visit; field errors go onto the form."""
    from slotwise.scheduling.selectors import resolve_location

    data = form.cleaned_data
    organisation = order.organisation
    try:
        location = None
        if spec.needs_travel:
            location = resolve_location(
                organisation=organisation,
                postcode=data.get("postcode", ""),
                address=data.get("address", ""),
                country=organisation.country,
            )
        window_start, window_end = _window(organisation, spec, data["start"], data["end"], now)
        if window_end <= window_start:
            form.add_error("start", _("Bookings for this service are not open for these days."))
            return []
        return shop.order_options(
            order=order,
            location=location,
            window_start=window_start,
            window_end=window_end,
            now=now + datetime.timedelta(minutes=GRACE_MINUTES),
        )
    except ValidationError as exc:
        for name, msgs in _messages(exc).items():
            target = {"window_start": "start", "window_end": "end"}.get(name, name)
            for message in msgs:
                form.add_error(target if target in form.fields else None, message)
        return []


def _days(order, options, postcode: str, address: str) -> list[dict]:
    organisation = order.organisation
    names = dict(
        Staff.objects.filter(pk__in={o.staff_id for o in options}).values_list(
            "pk", "user__first_name"
        )
    )
    days: dict[datetime.date, list[dict]] = {}
    for option in sorted(options, key=lambda o: (o.start, o.staff_id)):
        start = local(option.start, organisation)
        days.setdefault(start.date(), []).append(
            {
                "start": start,
                "end": local(option.end, organisation),
                "staff_first_name": names.get(option.staff_id) or option.staff_name.split(" ")[0],
                "reasons": list(option.reasons[:2]),
                "token": shop.option_token(
                    order=order,
                    staff_id=option.staff_id,
                    start=option.start,
                    postcode=postcode,
                    address=address,
                ),
            }
        )
    return [
        {"day": day, "first": items[:PER_DAY], "more": items[PER_DAY:]}
        for day, items in days.items()
    ]


def _order_context(request, order, *, problem: str = "", now=None) -> dict:
    organisation = order.organisation
    now = now or timezone.now()
    context = {
        "organisation": organisation,
        "order": order,
        "lines": [
            {"line": line, "total": Money(line.unit_price, order.currency) * line.quantity}
            for line in order.lines.all()
        ],
        "total": shop.order_total(order),
        "problems": request.session.pop("shop_problem", []) + ([problem] if problem else []),
    }
    if order.status == ShopOrderStatus.AWAITING_PAYMENT:
        context["pay_form"] = _provider_form(None, organisation, order.currency)
        context["open_payment"] = shop.order_payment_open(order)
    elif order.status == ShopOrderStatus.PAID:
        try:
            spec = shop.order_visit_spec(order)
        except ValidationError:
            context["problems"].append(
                _("This order can no longer be booked online. Please contact us to book it.")
            )
            return context
        today = timezone.localtime(now, org_zone(organisation)).date()
        form = _search_form(request, order, spec, today)
        context.update({"spec": spec, "form": form, "searched": False, "days": []})
        if form.is_valid() and (not spec.needs_travel or form.cleaned_data.get("postcode")):
            options = _options(request, order, spec, form, now)
            context["searched"] = form.is_valid()
            data = form.cleaned_data
            context["days"] = _days(
                order, options, data.get("postcode", ""), data.get("address", "")
            )
        elif spec.needs_travel and not request.GET:
            # First visit without a known address: ask for it, no errors yet.
            context["form"] = SearchForm(initial=form.data, needs_travel=True, today=today)
    elif order.booking_id:
        booking = order.booking
        context["booking"] = {
            "start": local(booking.start, organisation),
            "end": local(booking.end, organisation),
            "staff_first_name": booking.staff.user.first_name,
            "url": reverse("bookings:confirmation", args=[booking.public_id]),
        }
    return context


@login_required
@require_http_methods(["GET", "POST"])
def order(request, org_slug: str, public_id):
    """The customer's order: pay it (again) while it awaits payment; once paid, the options for
    its visit at once, and the chosen one is booked; once booked, what was booked."""
    organisation = _org_or_404(org_slug)
    the_order = _own_order(request, organisation, public_id)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "pay":
            form = _provider_form(request.POST, organisation, the_order.currency)
            if not form.is_valid():
                context = _order_context(request, the_order)
                context["pay_form"] = form
                return _render(request, "order.html", context, status=400)
            return _pay(request, the_order, form)
        if action == "book":
            return _book(request, the_order)
        raise Http404
    return _render(request, "order.html", _order_context(request, the_order))


def _book(request, the_order):
    from slotwise.scheduling.selectors import resolve_location

    organisation = the_order.organisation
    try:
        choice = shop.read_option_token(request.POST.get("o", ""), order=the_order)
        staff = Staff.objects.filter(pk=choice.staff_id, organisation=organisation).first()
        if staff is None:
            raise Http404
        location = None
        if shop.order_visit_spec(the_order).needs_travel:
            location = resolve_location(
                organisation=organisation,
                postcode=choice.postcode,
                address=choice.address,
                country=organisation.country,
            )
        shop.shop_order_book(
            order=the_order, staff=staff, start=choice.start, location=location, actor=request.user
        )
    except Conflict as exc:
        return _render(
            request,
            "order.html",
            _order_context(request, the_order, problem=exc.message),
            status=409,
        )
    except ValidationError as exc:
        the_order.refresh_from_db()
        return _render(
            request,
            "order.html",
            _order_context(request, the_order, problem=" ".join(_flat(exc))),
            status=400,
        )
    return redirect(_order_url(the_order))


@login_required
@require_GET
def orders(request, org_slug: str):
    """Managers: every webshop order of the organisation. Customers: their own."""
    organisation = _org_or_404(org_slug)
    manager = shop.can_manage_orders(request.user, organisation)
    if manager:
        rows = shop.orders_for_manager(request.user, organisation=organisation)
    elif _is_staff(request.user):
        raise Http404
    else:
        rows = shop.orders_of_customer(request.user, organisation=organisation)
    return _render(
        request,
        "orders.html",
        {"organisation": organisation, "orders": rows[:200], "manager": manager},
    )
