"""Manual methods (S2.8): money taken outside any system and recorded by a person — cash and
checks (held by the technician until handed over), Zelle, Cash App, Venmo, PayPal, a card
terminal or an online terminal (received by the company). Nothing is sent anywhere; see
`services.manual_payment_record`."""

from django.utils.translation import gettext_lazy as _

from ..base import PaymentProvider

METHOD_LABELS = {
    "cash": _("Cash"),
    "check": _("Check"),
    "zelle": _("Zelle"),
    "cash_app": _("Cash App"),
    "venmo": _("Venmo"),
    "paypal": _("PayPal"),
    "card_terminal": _("Card terminal"),
    "online_terminal": _("Online terminal"),
}


class ManualProvider(PaymentProvider):
    identifier = "manual"
    verbose_name = _("Manual (cash, check, transfer apps, terminal)")
    manual = True
