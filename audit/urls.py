from django.urls import path

from audit import export_views, views

app_name = "audit"

urlpatterns = [
    path("reviews/", views.access_review, name="access_review"),
    path("reviews/events/", views.review_events, name="review_events"),
    path("hygiene/", views.hygiene_audit, name="hygiene_audit"),
    path("sign-offs/", views.sign_off_list, name="sign_off_list"),
    path("events/export/", export_views.audit_export, name="events_export"),
]
