"""Reads of applications, scoped to what the user may see, and the supervisor's figures (S1.10)
in a constant number of queries."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import get_language

from slotwise.org.roles import Role
from slotwise.org.selectors import staff_of

from .models import (
    FUNNEL,
    FUNNEL_RANK,
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    FlowRun,
    RunState,
    pick_language,
)
from .rules import ONBOARDING_ROLES


def applications_for(user) -> QuerySet[Application]:
    """The organisation's applications without a unit or of the user's unit and below (org
    admins: all), for onboarding staff (`rules.ONBOARDING_ROLES`); nothing for anyone else."""
    qs = Application.objects.select_related("contact", "unit", "manager__user", "flow")
    if user.is_superuser:
        return qs
    staff = staff_of(user)
    if staff is None or not staff.has_role(*ONBOARDING_ROLES):
        return qs.none()
    qs = qs.filter(organisation_id=staff.organisation_id)
    if staff.has_role(Role.ORG_ADMIN):
        return qs
    return qs.filter(Q(unit__isnull=True) | Q(unit__path__startswith=staff.unit.path))


def status_counts(qs: QuerySet[Application]) -> list[dict]:
    """[{status, label, count}] for every status, in the order of the road (one query)."""
    counts = dict(qs.order_by().values_list("status").annotate(n=Count("id")))
    return [
        {"status": value, "label": label, "count": counts.get(value, 0)}
        for value, label in ApplicationStatus.choices
    ]


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def funnel(user, *, days: int = 30, stuck_hours: int = 24) -> dict:
    """The supervisor's figures over applications created in the last `days` that the user may
    see: per stage how many reached it, how many are in it now, conversion to the next stage,
    median and 90th percentile of the time spent in it (finished stays), and the drop-off: open
    bot conversations stuck at one step for more than `stuck_hours`. Three queries."""
    now = timezone.now()
    since = now - timedelta(days=days)
    apps = applications_for(user).filter(created_at__gte=since)
    rows = list(
        ApplicationStatusChange.objects.filter(application__in=apps.values("pk"))
        .order_by("application_id", "at", "id")
        .values_list("application_id", "to_status", "at")
    )
    current = dict(apps.order_by().values_list("pk", "status"))
    reached: dict[int, int] = {}  # application → highest rank reached
    durations: dict[str, list[float]] = {s: [] for s in ApplicationStatus.values}
    previous: tuple[int, str, object] | None = None
    for app_id, status, at in rows:
        reached[app_id] = max(reached.get(app_id, 0), FUNNEL_RANK.get(status, 0))
        if previous is not None and previous[0] == app_id:
            durations[previous[1]].append((at - previous[2]).total_seconds())
        previous = (app_id, status, at)
    for app_id, status in current.items():
        reached.setdefault(app_id, FUNNEL_RANK.get(status, 0))
    now_in: dict[str, int] = {}
    for status in current.values():
        now_in[status] = now_in.get(status, 0) + 1
    stages = []
    for rank, status in enumerate(FUNNEL):
        count = sum(1 for r in reached.values() if r >= rank)
        following = sum(1 for r in reached.values() if r >= rank + 1)
        waits = durations.get(status, [])
        if status == ApplicationStatus.NEW:
            waits = waits + durations.get(ApplicationStatus.MESSAGE_NOT_SENT, [])
        if status == ApplicationStatus.CONTACTED:
            waits = waits + durations.get(ApplicationStatus.CODE_SENT, [])
        stages.append(
            {
                "status": status,
                "label": ApplicationStatus(status).label,
                "reached": count,
                "now": now_in.get(status, 0),
                "conversion": (
                    round(100 * following / count, 1) if count and rank + 1 < len(FUNNEL) else None
                ),
                "median_seconds": statistics.median(waits) if waits else None,
                "p90_seconds": _percentile(waits, 0.9),
            }
        )
    detours = [
        {
            "status": s,
            "label": ApplicationStatus(s).label,
            "now": now_in.get(s, 0),
            "median_seconds": statistics.median(durations[s]) if durations[s] else None,
        }
        for s in (
            ApplicationStatus.MESSAGE_NOT_SENT,
            ApplicationStatus.CODE_SENT,
            ApplicationStatus.REJECTED,
        )
    ]
    stuck_rows = list(
        FlowRun.objects.filter(
            application__in=apps.values("pk"),
            state=RunState.WAITING,
            step_entered_at__lt=now - timedelta(hours=stuck_hours),
        )
        .exclude(step__kind="wait_for_manager")
        .values("step__key", "step__label", "flow__name")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    language = get_language() or "en"
    for row in stuck_rows:
        row["label"] = pick_language(row.get("step__label"), language) or row["step__key"]
    total = len(current)
    approved = sum(1 for r in reached.values() if r >= FUNNEL_RANK[ApplicationStatus.APPROVED])
    return {
        "days": days,
        "stuck_hours": stuck_hours,
        "total": total,
        "approved": approved,
        "conversion": round(100 * approved / total, 1) if total else None,
        "stages": stages,
        "detours": detours,
        "stuck": stuck_rows,
    }
