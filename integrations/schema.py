"""How the OpenAPI schema describes Keyhold's authentication (drf-spectacular extensions)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiTokenAuthentication"
    name = ["bearerToken", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        # Either header will do: alternatives, not both at once.
        return [{"bearerToken": []}, {"apiKeyHeader": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (kh_…) created by an administrator.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": "The same token in the header IT Glue and Hudu tools use.",
            },
        ]


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.VerifiedSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "A browser session that passed MFA; unsafe methods need the CSRF token.",
        }


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every API error."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name to its messages, on validation errors.",
    )


class KeyholdAutoSchema(AutoSchema):
    """Documents the problem responses every operation can give, so that clients (and
    schemathesis) know the shape of each error as well as of success."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403", "404", "429"]
        if self.method in {"POST", "PUT", "PATCH"} or self._is_list_view():
            codes.insert(0, "400")
        for code in codes:
            responses.setdefault(
                code,
                self._get_response_for_code(
                    ProblemSerializer, code, media_types=[PROBLEM_CONTENT_TYPE]
                ),
            )
        return responses
