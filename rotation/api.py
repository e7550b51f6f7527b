"""Rotation tasks in the REST API: list, read, and complete with a new secret.

The new secret arrives in the request body, goes to rotation_task_complete (which seals it
as the credential's new version) and is never echoed: the answer is the task's metadata.
Error reports of these views leave the body and the locals out (sensitive_post_parameters,
sensitive_variables), as the service does for its own frames.
"""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ApiScope
from integrations.rest import ApiViewSet
from rotation.selectors import tasks as task_selectors
from rotation.serializers import (
    RotationTaskCompleteSerializer,
    RotationTaskFilterSerializer,
    RotationTaskSerializer,
)
from rotation.services import tasks as task_services

TAG = "rotation tasks"


@method_decorator(sensitive_post_parameters("new_secret"), name="dispatch")
class RotationTaskViewSet(ApiViewSet):
    """The work of rotating credentials, of the clients the caller can see."""

    scopes = {
        "list": ApiScope.ROTATION_READ,
        "retrieve": ApiScope.ROTATION_READ,
        "complete": ApiScope.ROTATION_WRITE,
    }

    @extend_schema(
        operation_id="rotation_tasks_list",
        tags=[TAG],
        summary="Rotation tasks of the clients you can see, soonest due first",
        parameters=[RotationTaskFilterSerializer],
        responses=RotationTaskSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        data = self.query_filters(RotationTaskFilterSerializer)
        tasks = task_selectors.rotation_task_list_for_user(
            actor=request.user,
            client_id=data.get("client"),
            status=data.get("status", ""),
            overdue=data.get("overdue"),
            due_before=data.get("due_before"),
            mine=data.get("mine", False),
        )
        return self.page_of(tasks, RotationTaskSerializer)

    @extend_schema(
        operation_id="rotation_tasks_retrieve",
        tags=[TAG],
        summary="One rotation task of a client you can see",
        responses=RotationTaskSerializer,
    )
    def retrieve(self, request: Request, task_id) -> Response:
        task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
        return Response(RotationTaskSerializer(task).data)

    @extend_schema(
        operation_id="rotation_tasks_complete",
        tags=[TAG],
        summary="Complete a task with the new secret set on the system",
        description="Use level on the client (privileged for high-privilege credentials). "
        "The new secret becomes the credential's current version; the old one stays in its "
        "history. The answer never contains the secret.",
        request=RotationTaskCompleteSerializer,
        responses=RotationTaskSerializer,
    )
    @sensitive_variables()
    def complete(self, request: Request, task_id) -> Response:
        task = task_selectors.rotation_task_get_for_user(actor=request.user, task_id=task_id)
        body = RotationTaskCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = task_services.rotation_task_complete(
            actor=request.user, task=task, new_secret=body.validated_data["new_secret"]
        )
        return Response(RotationTaskSerializer(done).data)
