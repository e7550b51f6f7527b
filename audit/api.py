"""Audit events in the REST API, for managers and auditors: a filtered list and one event.

Reads through audit.selectors, which applies the review pages' rule (the caller's clients
and events of no client) and the request's client limit (a token limited to some clients
reads only their events).
"""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audit import selectors
from audit.serializers import AuditEventFilterSerializer, AuditEventSerializer
from integrations.models import ApiScope
from integrations.rest import ApiViewSet

TAG = "audit events"


class AuditEventViewSet(ApiViewSet):
    """The append-only audit log, newest first."""

    scopes = {"list": ApiScope.AUDIT_READ, "retrieve": ApiScope.AUDIT_READ}

    @extend_schema(
        operation_id="audit_events_list",
        tags=[TAG],
        summary="Audit events you may read, newest first (managers and auditors)",
        description="Events of the clients you are assigned to, and events of no client "
        "(sign-ins, tokens, system jobs) unless the token is limited to some clients.",
        parameters=[AuditEventFilterSerializer],
        responses=AuditEventSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        data = self.query_filters(AuditEventFilterSerializer)
        events = selectors.audit_event_list_for_user(
            actor=request.user,
            client_id=data.get("client"),
            action=data.get("action", ""),
            outcome=data.get("outcome", ""),
            actor_email=data.get("actor", ""),
            target_type=data.get("target_type", ""),
            target_id=data.get("target_id", ""),
            since=data.get("since"),
            until=data.get("until"),
        )
        return self.page_of(events, AuditEventSerializer)

    @extend_schema(
        operation_id="audit_events_retrieve",
        tags=[TAG],
        summary="One audit event you may read",
        responses=AuditEventSerializer,
    )
    def retrieve(self, request: Request, sequence: int) -> Response:
        event = selectors.audit_event_get_for_user(actor=request.user, sequence=sequence)
        return Response(AuditEventSerializer(event).data)
