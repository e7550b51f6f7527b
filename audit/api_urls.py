"""Audit routes of the REST API (included by config/api_urls.py)."""

from django.urls import path

from audit.api import AuditEventViewSet

urlpatterns = [
    path(
        "audit-events/",
        AuditEventViewSet.as_view({"get": "list"}),
        name="audit_event_list",
    ),
    path(
        "audit-events/<int:sequence>/",
        AuditEventViewSet.as_view({"get": "retrieve"}),
        name="audit_event_detail",
    ),
]
