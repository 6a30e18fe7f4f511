"""The roles a staff member can hold (S3.10 plus the roles of the other cases)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ORG_ADMIN = "org_admin", _("Organisation admin")
    HEAD_OF_DEPARTMENT = "head_of_department", _("Head of department")
    MANAGER = "manager", _("Manager / dispatcher")
    REPRESENTATIVE = "representative", _("Representative / advisor")
    TECHNICIAN = "technician", _("Technician")
    CALL_CENTRE = "call_centre", _("Call-centre operator")
    PROJECT_MANAGER = "project_manager", _("Project manager")
    ESTIMATOR = "estimator", _("Estimator")
    MEASURER = "measurer", _("Measurer")
    FOREMAN = "foreman", _("Foreman")


# Roles that manage other people's agendas inside their units.
MANAGING_ROLES = frozenset({Role.ORG_ADMIN, Role.HEAD_OF_DEPARTMENT, Role.MANAGER})
# Roles that book for customers (call centre, S4.1).
BOOKING_ROLES = MANAGING_ROLES | {Role.CALL_CENTRE, Role.REPRESENTATIVE, Role.PROJECT_MANAGER}
# Roles that do the visits themselves and so have an agenda.
AGENDA_ROLES = frozenset(
    {Role.REPRESENTATIVE, Role.TECHNICIAN, Role.MEASURER, Role.ESTIMATOR, Role.FOREMAN}
)
