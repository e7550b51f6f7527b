"""Every REST API route, under one "api" namespace: each app lists its own in api_urls.py."""

from django.urls import include, path

from integrations import api as integrations_api

app_name = "api"

urlpatterns = [
    path("schema/", integrations_api.SchemaApi.as_view(), name="schema"),
    # A page for people: signed in with MFA like every other page.
    path("docs/", integrations_api.DocsPage.as_view(), name="docs"),
    path(
        "v1/",
        include(
            [
                path("me/", integrations_api.MeApi.as_view(), name="me"),
                path("", include("tenants.api_urls")),
                path("", include("vault.api_urls")),
                path("", include("rotation.api_urls")),
                path("", include("audit.api_urls")),
                path("", include("intake.api_urls")),
            ]
        ),
    ),
]
