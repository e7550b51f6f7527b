"""The project's URLs plus the audit export, until audit/urls.py wires it for everyone."""

from django.urls import include, path

from audit import export_views
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path(
        "audit/",
        include(
            (
                [path("events/export/", export_views.audit_export, name="events_export")],
                "audit",
            )
        ),
    ),
    *project_urlpatterns,
]
