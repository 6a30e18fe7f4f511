"""System checks: an enabled integration without its secrets is a warning at start-up."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def integration_secrets(app_configs, **kwargs):
    problems = []
    for flag, names in settings.INTEGRATION_SECRETS.items():
        if not getattr(settings, flag, False):
            continue
        missing = [name for name in names if not getattr(settings, name, "")]
        if missing:
            problems.append(
                checks.Warning(
                    f"{flag} is on but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set.",
                    hint="Set the missing variables in the environment, or turn the integration off.",
                    id="slotwise.W001",
                )
            )
    return problems
