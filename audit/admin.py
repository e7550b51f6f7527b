"""Audit events in the admin: read-only, for administrators after MFA."""

from django.contrib import admin
from django.db.models import Q

from accounts.admin import ReadOnlyAdmin
from audit.models import AuditEvent, ReviewSignOff
from tenants.models import AccessLevel, Client


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "occurred_at", "action", "outcome", "actor_label", "client_label"]
    list_filter = ["outcome", "actor_kind"]
    search_fields = ["action", "actor_label", "client_label", "target_label", "ticket"]
    ordering = ["-sequence"]
    show_full_result_count = False

    def get_queryset(self, request):
        """Staff-level events, and those of clients the administrator is assigned to."""
        visible = Client.objects.for_user(request.user, AccessLevel.VIEW).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(Q(client_id__isnull=True) | Q(client_id__in=visible))
        )


@admin.register(ReviewSignOff)
class ReviewSignOffAdmin(ReadOnlyAdmin):
    list_display = ["kind", "period_start", "client", "signed_by", "signed_at"]
