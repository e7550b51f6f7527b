"""The API's own endpoints: who the caller is, the OpenAPI schema and its interactive docs."""

from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.rest import ApiView, token_of


class MeApi(ApiView):
    """Who a request acts as: the person, and the token with its scopes when one is used."""

    open_to_every_token = True

    @extend_schema(
        operation_id="me_retrieve",
        summary="The caller: the person and, for a token, its name, scopes and expiry",
        responses=inline_serializer(
            "Me",
            {
                "user": inline_serializer("MeUser", {"email": serializers.EmailField()}),
                "token": inline_serializer(
                    "MeToken",
                    {
                        "name": serializers.CharField(),
                        "prefix": serializers.CharField(),
                        "scopes": serializers.ListField(child=serializers.CharField()),
                        "expires_at": serializers.DateTimeField(allow_null=True),
                    },
                    allow_null=True,
                ),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        token = token_of(request)
        return Response(
            {
                "token": None
                if token is None
                else {
                    "name": token.name,
                    "prefix": token.prefix,
                    "scopes": token.scopes,
                    "expires_at": token.expires_at,
                },
                "user": {"email": request.user.email},
            }
        )


class SchemaApi(SpectacularAPIView):
    """The OpenAPI document, for a token or a signed-in session only (C52: the schema is not
    served to anonymous callers in production)."""

    permission_classes = [permissions.IsAuthenticated]

    def handle_exception(self, exc):
        # Errors are problem details in JSON, as everywhere in the API, not a YAML document.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class DocsPage(SpectacularSwaggerSplitView):
    """Swagger UI from vendored files (drf-spectacular-sidecar), its start-up script served
    separately so the page runs under Keyhold's script-src 'self' policy."""

    permission_classes = [permissions.IsAuthenticated]
    url_name = "api:schema"

    @classmethod
    def as_view(cls, **initkwargs):
        # DRF marks its views login_not_required; this page is for people, so an anonymous
        # visitor goes to the sign-in page (and then MFA) like everywhere else.
        view = super().as_view(**initkwargs)
        view.login_required = True
        return view
