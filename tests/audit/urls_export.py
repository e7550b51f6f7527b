"""The project's URLs with the audit export added, until audit/urls.py wires it itself."""

from django.urls import include, path

from audit import export_views
from audit import urls as audit_urls
from config.urls import urlpatterns as project_urlpatterns

_audit_patterns = list(audit_urls.urlpatterns)
if not any(getattr(pattern, "name", None) == "events_export" for pattern in _audit_patterns):
    _audit_patterns.append(path("events/export/", export_views.audit_export, name="events_export"))

urlpatterns = [
    path("audit/", include((_audit_patterns, "audit"))),
    *[pattern for pattern in project_urlpatterns if getattr(pattern, "namespace", None) != "audit"],
]
