"""Checkouts in the REST API: list, request, read, approve, deny, cancel and check in.

Each call is one selector or one of vault.services.checkouts' services, which check the
caller's level and role and record the audit event. A request for a credential someone
else holds answers 409 Conflict with the service's message ("Held by … until …"); the
integration may try again after that time. Approving a request while another lease is
active answers 400 with the service's message, as every other refused answer does.
"""

from http import HTTPStatus

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ApiScope
from integrations.rest import ApiViewSet
from integrations.schema import PROBLEM_CONTENT_TYPE, ProblemSerializer
from tenants.models import AccessLevel
from vault import selectors as vault_selectors
from vault.selectors import checkouts as checkout_selectors
from vault.serializers.checkouts import (
    CheckoutApproveSerializer,
    CheckoutCreateSerializer,
    CheckoutDenySerializer,
    CheckoutFilterSerializer,
    CheckoutSerializer,
)
from vault.services import checkouts as checkout_services

TAG = "checkouts"


HELD_RESPONSE = OpenApiResponse(
    ProblemSerializer, description="Someone else holds the credential (the message says who)."
)


class CheckoutViewSet(ApiViewSet):
    """Checkouts of high-privilege credentials: exclusive, time-boxed and ticket-linked."""

    scopes = {
        "list": ApiScope.CREDENTIALS_READ,
        "retrieve": ApiScope.CREDENTIALS_READ,
        "create": ApiScope.CHECKOUTS_WRITE,
        "approve": ApiScope.CHECKOUTS_WRITE,
        "deny": ApiScope.CHECKOUTS_WRITE,
        "cancel": ApiScope.CHECKOUTS_WRITE,
        "check_in": ApiScope.CHECKOUTS_WRITE,
    }

    def _checkout(self, checkout_id):
        return checkout_selectors.checkout_get_for_user(
            actor=self.request.user, checkout_id=checkout_id
        )

    @extend_schema(
        operation_id="checkouts_list",
        tags=[TAG],
        summary="Your checkouts and, for a manager, the requests awaiting an answer",
        parameters=[CheckoutFilterSerializer],
        responses=CheckoutSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        filters = self.query_filters(CheckoutFilterSerializer)
        checkouts = checkout_selectors.checkout_list_for_user(
            actor=request.user,
            status=filters.get("status", ""),
            credential_id=filters.get("credential"),
        )
        return self.page_of(checkouts, CheckoutSerializer)

    @extend_schema(
        operation_id="checkouts_create",
        tags=[TAG],
        summary="Ask for a lease of a high-privilege credential",
        description="Starts at once (status active), or waits for a manager (status "
        "requested) when the client's vault policy asks for approval.",
        request=CheckoutCreateSerializer,
        responses={201: CheckoutSerializer, (409, PROBLEM_CONTENT_TYPE): HELD_RESPONSE},
    )
    def create(self, request: Request) -> Response:
        body = CheckoutCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        credential = vault_selectors.credential_get_for_user(
            actor=request.user, credential_id=data["credential_id"], level=AccessLevel.VIEW
        )
        checkout = checkout_services.checkout_request(
            actor=request.user,
            credential=credential,
            ticket=data["ticket"],
            reason=data["reason"],
            duration_minutes=data.get("duration_minutes"),
        )
        return Response(CheckoutSerializer(checkout).data, status=HTTPStatus.CREATED)

    @extend_schema(
        operation_id="checkouts_retrieve",
        tags=[TAG],
        summary="One checkout of a client you can see",
        responses=CheckoutSerializer,
    )
    def retrieve(self, request: Request, checkout_id) -> Response:
        return Response(CheckoutSerializer(self._checkout(checkout_id)).data)

    @extend_schema(
        operation_id="checkouts_approve",
        tags=[TAG],
        summary="Approve a request (a manager of the client, not the requester)",
        request=CheckoutApproveSerializer,
        responses=CheckoutSerializer,
    )
    def approve(self, request: Request, checkout_id) -> Response:
        checkout = self._checkout(checkout_id)
        body = CheckoutApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approved = checkout_services.checkout_approve(
            actor=request.user, checkout=checkout, note=body.validated_data.get("note", "")
        )
        return Response(CheckoutSerializer(approved).data)

    @extend_schema(
        operation_id="checkouts_deny",
        tags=[TAG],
        summary="Deny a request, saying why (a manager of the client, not the requester)",
        request=CheckoutDenySerializer,
        responses=CheckoutSerializer,
    )
    def deny(self, request: Request, checkout_id) -> Response:
        checkout = self._checkout(checkout_id)
        body = CheckoutDenySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        denied = checkout_services.checkout_deny(
            actor=request.user, checkout=checkout, note=body.validated_data["note"]
        )
        return Response(CheckoutSerializer(denied).data)

    @extend_schema(
        operation_id="checkouts_cancel",
        tags=[TAG],
        summary="Withdraw your own request while it waits for a manager",
        request=None,
        responses=CheckoutSerializer,
    )
    def cancel(self, request: Request, checkout_id) -> Response:
        cancelled = checkout_services.checkout_cancel(
            actor=request.user, checkout=self._checkout(checkout_id)
        )
        return Response(CheckoutSerializer(cancelled).data)

    @extend_schema(
        operation_id="checkouts_check_in",
        tags=[TAG],
        summary="Return a credential you hold; it is then due for rotation",
        request=None,
        responses=CheckoutSerializer,
    )
    def check_in(self, request: Request, checkout_id) -> Response:
        returned = checkout_services.checkout_check_in(
            actor=request.user, checkout=self._checkout(checkout_id)
        )
        return Response(CheckoutSerializer(returned).data)
