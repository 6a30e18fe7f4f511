from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as the supervisor reads them: "45 s", "12 min", "3.5 h", "2.1 days"."""
    if seconds is None or seconds == "":
        return "—"
    seconds = float(seconds)
    if seconds < 90:
        return _("%(n)s s") % {"n": round(seconds)}
    if seconds < 90 * 60:
        return _("%(n)s min") % {"n": round(seconds / 60)}
    if seconds < 36 * 3600:
        return _("%(n)s h") % {"n": round(seconds / 3600, 1)}
    return _("%(n)s days") % {"n": round(seconds / 86400, 1)}
