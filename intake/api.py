"""Intake submissions through the REST API: a whole client intake in one call (created and
submitted through the same services as the pages, all or nothing), and what was submitted,
as metadata only. Every action needs the intake:write scope."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from intake.selectors.intakes import intake_submission_get, intake_submission_list
from intake.serializers import (
    IntakeSubmissionDetailSerializer,
    IntakeSubmissionInSerializer,
    IntakeSubmissionQuerySerializer,
    IntakeSubmissionSerializer,
    problem_fields,
)
from intake.services.intakes import intake_submission_create
from integrations.models import ApiScope
from integrations.rest import ApiViewSet


def _valid(serializer):
    """The serializer, validated; its errors as flat field names (`entries[2].username`)."""
    if not serializer.is_valid():
        raise ValidationError(problem_fields(serializer.errors))
    return serializer


class IntakeSubmissionViewSet(ApiViewSet):
    """Submitted intakes of the clients the caller can see; submitting needs manage access
    to the client and the Onboarding, Manager or Administrator role."""

    scopes = {
        "list": ApiScope.INTAKE_WRITE,
        "create": ApiScope.INTAKE_WRITE,
        "retrieve": ApiScope.INTAKE_WRITE,
    }

    @extend_schema(
        operation_id="intake_submissions_list",
        summary="Submitted intakes, newest first",
        parameters=[IntakeSubmissionQuerySerializer],
        responses=IntakeSubmissionSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        query = _valid(IntakeSubmissionQuerySerializer(data=request.query_params))
        intakes = intake_submission_list(
            actor=request.user, client_id=query.validated_data.get("client")
        )
        return self.page_of(intakes, IntakeSubmissionSerializer)

    @extend_schema(
        operation_id="intake_submissions_create",
        summary="Submit a client's intake in one call, all entries or none",
        description=(
            "Creates the systems, credentials, staff access and rotation tasks of every "
            "entry in one transaction. A refused entry leaves nothing behind, and the error "
            'names it by position from 0: `errors: {"entries[2].username": [...]}`.'
        ),
        request=IntakeSubmissionInSerializer,
        responses={201: IntakeSubmissionDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        incoming = _valid(IntakeSubmissionInSerializer(data=request.data))
        intake = intake_submission_create(actor=request.user, **incoming.to_service())
        submitted = intake_submission_get(actor=request.user, intake_id=intake.pk)
        location = reverse(
            "api:intake_submission_detail", kwargs={"intake_id": intake.pk}, request=request
        )
        return Response(
            IntakeSubmissionDetailSerializer(submitted).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        operation_id="intake_submissions_retrieve",
        summary="One submitted intake: what each entry was and became, never its secret",
        responses=IntakeSubmissionDetailSerializer,
    )
    def retrieve(self, request: Request, intake_id) -> Response:
        submitted = intake_submission_get(actor=request.user, intake_id=intake_id)
        return Response(IntakeSubmissionDetailSerializer(submitted).data)
