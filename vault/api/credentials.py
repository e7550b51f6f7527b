"""Credentials in the REST API: metadata to list and read, writes through the vault's
services, and the one endpoint that returns a secret (reveal).

Sealed emergency credentials follow the browser: never in a list (credential_list_for_user
leaves them out), readable as metadata by id, and refused on reveal by credential_reveal
itself (403, audited): they are opened in the browser, with a reason that alerts managers.
"""

from http import HTTPStatus

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.mfa import mfa_verified_within
from config.errors import AccessDenied, FieldInvalid, InvalidRequest
from integrations.models import ApiScope
from integrations.rest import ApiRateThrottle, ApiViewSet, RevealRateThrottle, token_of
from integrations.schema import PROBLEM_CONTENT_TYPE, ProblemSerializer
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import services
from vault.models import PrivilegeTier
from vault.selectors import credentials as selectors
from vault.serializers.credentials import (
    CredentialArchiveSerializer,
    CredentialFilterSerializer,
    CredentialRevealedSerializer,
    CredentialRevealSerializer,
    CredentialSerializer,
    CredentialWriteSerializer,
)
from vault.services import history as history_services

TAG = "credentials"
STEP_UP_REFUSAL = (
    "High-privilege credentials need a recent MFA check: confirm your code again in Keyhold, "
    "then retry."
)
# Fields of the write body that credential_create and credential_update take as they are.
_PLAIN_FIELDS = (
    "name",
    "credential_type",
    "username",
    "access_method",
    "host",
    "is_shared",
    "is_emergency",
    "mfa_on_path",
    "rotation_interval_days",
    "tags",
    "used_by",
    "status",
)


class CredentialViewSet(ApiViewSet):
    """Credentials of the clients the caller may see."""

    scopes = {
        "list": ApiScope.CREDENTIALS_READ,
        "retrieve": ApiScope.CREDENTIALS_READ,
        "create": ApiScope.CREDENTIALS_WRITE,
        "partial_update": ApiScope.CREDENTIALS_WRITE,
        "archive": ApiScope.CREDENTIALS_WRITE,
        "reveal": ApiScope.CREDENTIALS_REVEAL,
    }

    def _credential(self, credential_id):
        return selectors.credential_get_for_user(
            actor=self.request.user, credential_id=credential_id, level=AccessLevel.VIEW
        )

    def _system(self, system_id):
        if system_id is None:
            return None
        return tenant_selectors.system_get_by_id_for_user(
            actor=self.request.user, system_id=system_id
        )

    @extend_schema(
        operation_id="credentials_list",
        tags=[TAG],
        summary="List credentials (metadata only, never the secret)",
        description="Sealed emergency credentials are not listed; archived ones only with "
        "status=archived.",
        parameters=[CredentialFilterSerializer],
        responses=CredentialSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        data = self.query_filters(CredentialFilterSerializer)
        credentials = selectors.credential_list_filtered(
            actor=request.user,
            client_id=data.get("client"),
            credential_type=data.get("credential_type", ""),
            tier=data.get("tier", ""),
            status=data.get("status", ""),
            rotation_due=data.get("rotation_due"),
            updated_since=data.get("updated_since"),
            search=data.get("search", ""),
        )
        return self.page_of(
            credentials,
            CredentialSerializer,
            prepare=lambda page: selectors.credential_tag_names_attach(credentials=page),
        )

    @extend_schema(
        operation_id="credentials_retrieve",
        tags=[TAG],
        summary="One credential (metadata only)",
        responses=CredentialSerializer,
    )
    def retrieve(self, request: Request, credential_id) -> Response:
        return Response(CredentialSerializer(self._credential(credential_id)).data)

    @extend_schema(
        operation_id="credentials_create",
        tags=[TAG],
        summary="Add a credential to a client (manage level)",
        request=CredentialWriteSerializer,
        responses={201: CredentialSerializer},
    )
    @sensitive_variables("data")
    def create(self, request: Request) -> Response:
        body = CredentialWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data.get("reason"):
            raise FieldInvalid("reason", "A reason goes with a change; leave it out when adding.")
        client = tenant_selectors.client_get_by_id_for_user(
            actor=request.user, client_id=data["client"]
        )
        credential = services.credential_create(
            actor=request.user,
            client=client,
            system=self._system(data.get("system")),
            secret=data["secret"],
            notes=data.get("notes", ""),
            totp_seed=data.get("totp_seed", ""),
            requested_tier=data.get("privilege_tier", ""),
            **{field: data[field] for field in _PLAIN_FIELDS if field in data},
        )
        return Response(
            CredentialSerializer(self._credential(credential.pk)).data, status=HTTPStatus.CREATED
        )

    @extend_schema(
        operation_id="credentials_partial_update",
        tags=[TAG],
        summary="Change some of a credential's fields (manage level)",
        description="Fields left out keep their value. A new secret keeps the old one as a "
        "version; notes or totp_seed set to an empty string are cleared.",
        request=CredentialWriteSerializer,
        responses=CredentialSerializer,
    )
    @sensitive_variables("data")
    def partial_update(self, request: Request, credential_id) -> Response:
        credential = self._credential(credential_id)
        body = CredentialWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "client" in data and data["client"] != credential.client_id:
            raise FieldInvalid(
                "client", "A credential stays with its client; add it to the other client."
            )
        changes = {field: data[field] for field in _PLAIN_FIELDS if field in data}
        if "system" in data:
            changes["system"] = self._system(data["system"])
        if "privilege_tier" in data:
            changes["requested_tier"] = data["privilege_tier"]
        services.credential_update(
            actor=request.user,
            credential=credential,
            secret=data.get("secret"),
            notes=data.get("notes"),
            totp_seed=data.get("totp_seed"),
            reason=data.get("reason", ""),
            **changes,
        )
        return Response(CredentialSerializer(self._credential(credential.pk)).data)

    @extend_schema(
        operation_id="credentials_archive",
        tags=[TAG],
        summary="Archive a credential, saying why (manage level)",
        request=CredentialArchiveSerializer,
        responses=CredentialSerializer,
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, credential_id) -> Response:
        credential = self._credential(credential_id)
        body = CredentialArchiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.credential_archive(
            actor=request.user, credential=credential, reason=body.validated_data["reason"]
        )
        return Response(CredentialSerializer(self._credential(credential.pk)).data)

    @extend_schema(
        operation_id="credentials_reveal",
        tags=[TAG],
        summary="Reveal the secret (use level; a checkout for high privilege), audited",
        description="With an API token a ticket is required; the audit event names the "
        "token. A credential with a TOTP seed also gets its current code (audited as well). "
        "The answer is never cached.",
        request=CredentialRevealSerializer,
        responses={
            200: CredentialRevealedSerializer,
            (503, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The reveal could not be audited: no secret."
            ),
        },
    )
    @action(detail=True, methods=["post"], throttle_classes=[ApiRateThrottle, RevealRateThrottle])
    @sensitive_variables("secret", "totp")
    def reveal(self, request: Request, credential_id) -> Response:
        credential = selectors.credential_get_to_open(
            actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW
        )
        body = CredentialRevealSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = body.validated_data.get("ticket", "")
        token = token_of(request)
        if (
            token is None
            and credential.privilege_tier == PrivilegeTier.HIGH
            and not mfa_verified_within(request, settings.MFA_STEP_UP_MINUTES)
        ):
            raise AccessDenied(STEP_UP_REFUSAL)
        secret = services.credential_reveal(
            actor=request.user,
            credential=credential,
            ticket=ticket,
            reason=body.validated_data.get("reason", ""),
            ticket_required=token is not None,
        )
        totp = None
        if credential.has_totp_seed:
            try:
                code = history_services.credential_totp_code(
                    actor=request.user, credential=credential, ticket=ticket
                )
            except InvalidRequest:
                pass  # A seed authenticator apps cannot read: the secret still counts.
            else:
                totp = {"code": code.code, "seconds_left": code.seconds_left}
        revealed = {
            "id": credential.pk,
            "name": credential.name,
            "username": credential.username,
            "secret": secret,
            "totp": totp,
        }
        return Response(CredentialRevealedSerializer(revealed).data)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.action == "reveal":
            # Whatever the outcome: no proxy or browser cache keeps a reveal's answer.
            response["Cache-Control"] = "no-store"
        return response
