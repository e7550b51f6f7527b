"""Test-only API views on integrations.rest's base classes, to test the base on its own."""

from django.db import transaction
from django.urls import path
from rest_framework.response import Response

from audit import services as audit
from integrations.rest import ApiView
from tenants.selectors import client_list_for_user


class ClientNames(ApiView):
    scopes = {"get": "clients:read"}

    def get(self, request):
        return Response(sorted(c.name for c in client_list_for_user(actor=request.user)))

    def post(self, request):
        # No scope is named for POST: every token is refused, whatever its scopes.
        return Response({})


class Record(ApiView):
    scopes = {"post": "clients:read"}

    def post(self, request):
        with transaction.atomic():
            event = audit.record(actor=request.user, action="api_token.created")
        return Response({"sequence": event.sequence})


class AuditDown(ApiView):
    scopes = {"post": "clients:read"}

    def post(self, request):
        raise audit.AuditWriteError("could not record api_token.created")


urlpatterns = [
    path("api/test/audit-down/", AuditDown.as_view()),
    path("api/test/clients/", ClientNames.as_view()),
    path("api/test/record/", Record.as_view()),
]
