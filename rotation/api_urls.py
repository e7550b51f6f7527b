"""Rotation routes of the REST API (included by config/api_urls.py)."""

from django.urls import path

from rotation.api import RotationTaskViewSet

urlpatterns = [
    path(
        "rotation-tasks/",
        RotationTaskViewSet.as_view({"get": "list"}),
        name="rotation_task_list",
    ),
    path(
        "rotation-tasks/<uuid:task_id>/",
        RotationTaskViewSet.as_view({"get": "retrieve"}),
        name="rotation_task_detail",
    ),
    path(
        "rotation-tasks/<uuid:task_id>/complete/",
        RotationTaskViewSet.as_view({"post": "complete"}),
        name="rotation_task_complete",
    ),
]
