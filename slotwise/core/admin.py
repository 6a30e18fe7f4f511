from django.contrib import admin

from .admin_scoping import ReadOnlyOrgScopedAdmin
from .models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyOrgScopedAdmin):
    """Operational data: superusers only (not organisation data)."""

    list_display = ["worker_id", "seen_at", "started_at"]

    def _may_use(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if request.user.is_superuser else qs.none()
