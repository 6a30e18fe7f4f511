"""Role-based navigation. Each app adds its entries here; the base template renders them."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str | None = None  # a rules permission name checked without an object
    #: dotted path of a function(user) -> int | None shown as a count next to the label (the
    #: inbox's unread conversations; None hides the entry); its element id is `nav-badge-<key>`.
    badge: str | None = None
    key: str = ""

    def url(self) -> str | None:
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return None


ITEMS = [
    NavItem(_("Home"), "home"),
    NavItem(_("Book"), "scheduling:booker", "scheduling.use_booker"),
    NavItem(_("Day view"), "scheduling:day_view", "scheduling.view_day"),
    NavItem(_("My hours"), "scheduling:my_hours", "scheduling.edit_own_hours"),
    NavItem(_("Appointment types"), "scheduling:types", "scheduling.manage_types"),
    NavItem(_("Customers"), "customers:list", "customers.view_contacts"),
    NavItem(
        _("Inbox"),
        "inbox:list",
        "customers.view_contacts",  # every staff member (the inbox shows what they may see)
        badge="slotwise.messaging.selectors.unread_conversations",
        key="inbox",
    ),
    NavItem(_("Work orders"), "workorders:list", "workorders.view_orders"),
    NavItem(_("Dispatch"), "workorders:dispatch", "workorders.dispatch"),
    NavItem(_("My orders"), "workorders:tech_today", "workorders.use_tech_app"),
    NavItem(_("My earnings"), "workorders:tech_earnings", "workorders.use_tech_app"),
    NavItem(_("Staff"), "org:staff_list", "org.view_staff"),
    NavItem(_("My bookings"), "bookings:mine", "bookings.view_own"),
    NavItem(_("My invoices"), "payments:my_invoices", "payments.view_own_invoices"),
    NavItem(_("Messages"), "chat:messages", "messaging.chat_as_customer"),
    NavItem(_("Chat with the office"), "chat:office", "messaging.chat_with_office"),
    # Every customer with a contact (the same rule as "My bookings").
    NavItem(_("Notifications"), "messaging:preferences", "bookings.view_own"),
    NavItem(_("Payments"), "payments:office_payments", "payments.manage_payments"),
    NavItem(_("Invoices"), "payments:office_invoices", "payments.manage_invoices"),
    NavItem(_("Reconciliation"), "payments:reconciliation", "payments.view_reconciliation"),
    NavItem(_("Applications"), "onboarding:list", "onboarding.view_applications"),
    NavItem(_("Catalogue"), "workorders:catalogue", "workorders.manage_catalogue"),
    NavItem(_("Technicians' pay"), "workorders:pay_rules", "workorders.dispatch"),
    NavItem(_("Payment methods"), "payments:providers", "payments.manage_providers"),
    NavItem(_("Channels"), "channel_settings:list", "messaging.manage_channels"),
    NavItem(_("Administration"), "admin:index", "org.use_admin"),
]


def menu_for(user) -> list[dict]:
    if not user.is_authenticated:
        return []
    items = []
    for item in ITEMS:
        if item.permission and not user.has_perm(item.permission):
            continue
        url = item.url()
        if url:
            entry = {"label": item.label, "url": url, "key": item.key}
            if item.badge:
                entry["badge"] = import_string(item.badge)(user)
                if entry["badge"] is None:
                    continue
            items.append(entry)
    return items
