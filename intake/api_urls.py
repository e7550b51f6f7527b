"""Intake routes of the REST API (included by config/api_urls.py)."""

from django.urls import path

from intake.api import IntakeSubmissionViewSet

urlpatterns = [
    path(
        "intake-submissions/",
        IntakeSubmissionViewSet.as_view({"get": "list", "post": "create"}),
        name="intake_submission_list",
    ),
    path(
        "intake-submissions/<uuid:intake_id>/",
        IntakeSubmissionViewSet.as_view({"get": "retrieve"}),
        name="intake_submission_detail",
    ),
]
