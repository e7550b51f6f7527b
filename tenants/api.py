"""Clients and their systems in the REST API: read-only, scoped to the caller (and, for a
token limited to some clients, to those)."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.models import ApiScope
from integrations.rest import ApiViewSet
from tenants import selectors
from tenants.serializers import (
    ClientFilterSerializer,
    ClientSerializer,
    SystemFilterSerializer,
    SystemSerializer,
)


class ClientViewSet(ApiViewSet):
    """The clients the caller may see, with the caller's access level on each."""

    scopes = {"list": ApiScope.CLIENTS_READ, "retrieve": ApiScope.CLIENTS_READ}

    @extend_schema(
        operation_id="clients_list",
        tags=["clients"],
        summary="List clients",
        parameters=[ClientFilterSerializer],
        responses=ClientSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        filters = self.query_filters(ClientFilterSerializer)
        clients = selectors.client_list_filtered(
            actor=request.user,
            search=filters.get("search", ""),
            status=filters.get("status", ""),
        )
        return self.page_of(clients, ClientSerializer)

    @extend_schema(
        operation_id="clients_retrieve",
        tags=["clients"],
        summary="One client",
        responses=ClientSerializer,
    )
    def retrieve(self, request: Request, client_id: uuid.UUID) -> Response:
        client = selectors.client_get_by_id_for_user(actor=request.user, client_id=client_id)
        return Response(ClientSerializer(client).data)


class SystemViewSet(ApiViewSet):
    """The systems of the clients the caller may see."""

    scopes = {"list": ApiScope.CLIENTS_READ, "retrieve": ApiScope.CLIENTS_READ}

    @extend_schema(
        operation_id="systems_list",
        tags=["systems"],
        summary="List systems",
        parameters=[SystemFilterSerializer],
        responses=SystemSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        filters = self.query_filters(SystemFilterSerializer)
        systems = selectors.system_list_filtered(
            actor=request.user,
            client_id=filters.get("client"),
            kind=filters.get("kind", ""),
            status=filters.get("status", ""),
            search=filters.get("search", ""),
        )
        return self.page_of(systems, SystemSerializer)

    @extend_schema(
        operation_id="systems_retrieve",
        tags=["systems"],
        summary="One system",
        responses=SystemSerializer,
    )
    def retrieve(self, request: Request, system_id: uuid.UUID) -> Response:
        system = selectors.system_get_by_id_for_user(actor=request.user, system_id=system_id)
        return Response(SystemSerializer(system).data)
