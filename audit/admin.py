"""Audit events in the admin: read-only, for administrators after MFA."""

from django.contrib import admin

from accounts.admin import ReadOnlyAdmin
from audit.models import AuditEvent, ReviewSignOff


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "occurred_at", "action", "outcome", "actor_label", "client_label"]
    list_filter = ["outcome", "actor_kind"]
    search_fields = ["action", "actor_label", "client_label", "target_label", "ticket"]
    ordering = ["-sequence"]
    show_full_result_count = False


@admin.register(ReviewSignOff)
class ReviewSignOffAdmin(ReadOnlyAdmin):
    list_display = ["kind", "period_start", "client", "signed_by", "signed_at"]
