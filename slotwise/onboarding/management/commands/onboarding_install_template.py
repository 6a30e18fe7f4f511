"""`manage.py onboarding_install_template --org <slug>`: install the driver-onboarding flow
(S1) for an organisation, to be edited in the admin afterwards."""

from django.core.management.base import BaseCommand, CommandError

from slotwise.onboarding.template import install_driver_template
from slotwise.org.models import Organisation, OrgUnit


class Command(BaseCommand):
    help = "Install the driver-onboarding bot flow for an organisation (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument("--unit", type=int, help="Id of the unit handling applications.")
        parser.add_argument("--offer-url", default="", help="Link to the offer's text.")
        parser.add_argument("--offer-version", default="1")
        parser.add_argument(
            "--replace", action="store_true", help="Rewrite the steps of an existing flow."
        )

    def handle(self, *args, **options):
        organisation = Organisation.objects.filter(slug=options["org"]).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {options['org']!r}.")
        unit = None
        if options.get("unit"):
            unit = OrgUnit.objects.filter(organisation=organisation, pk=options["unit"]).first()
            if unit is None:
                raise CommandError("No such unit in this organisation.")
        flow, created = install_driver_template(
            organisation,
            unit=unit,
            offer_url=options["offer_url"],
            offer_version=options["offer_version"],
            replace=options["replace"],
        )
        what = "installed" if created else ("replaced" if options["replace"] else "already there")
        self.stdout.write(f"{flow.name} ({flow.steps.count()} steps): {what}")
