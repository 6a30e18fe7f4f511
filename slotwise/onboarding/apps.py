from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    """Bot flows (defined as data, edited in the admin) and the applications they collect (S1)."""

    name = "slotwise.onboarding"
    label = "onboarding"
    verbose_name = _("Onboarding")

    def ready(self) -> None:
        from slotwise.messaging import hooks
        from slotwise.messaging.inbound import register_inbound_hook

        from . import engine, rules  # noqa: F401 - rules registers the permissions

        register_inbound_hook(engine.on_inbound)
        if engine.on_message_failed not in hooks.message_failed_hooks:
            hooks.message_failed_hooks.append(engine.on_message_failed)
        if engine.on_takeover not in hooks.takeover_hooks:
            hooks.takeover_hooks.append(engine.on_takeover)
        from slotwise.core.management.commands.worker import register_periodic

        register_periodic(
            "onboarding.check_documents", "slotwise.onboarding.tasks.check_documents", 30
        )
