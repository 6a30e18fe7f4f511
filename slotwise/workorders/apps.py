from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkOrdersConfig(AppConfig):
    name = "slotwise.workorders"
    label = "workorders"
    verbose_name = _("Work orders")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            hooks,  # noqa: F401  (payment status and messaging intake hooks)
            rules,  # noqa: F401
        )
        from .payment_hooks import register

        register()
