"""Administrators' pages for integrations: API tokens and outbound webhooks."""

from django.urls import path

from integrations.views import tokens, webhooks

app_name = "integrations"

urlpatterns = [
    path("tokens/", tokens.api_token_list, name="api_token_list"),
    path("tokens/new/", tokens.api_token_create, name="api_token_create"),
    path("tokens/<uuid:token_id>/revoke/", tokens.api_token_revoke, name="api_token_revoke"),
    path("webhooks/", webhooks.webhook_list, name="webhook_list"),
    path("webhooks/new/", webhooks.webhook_create, name="webhook_create"),
    path("webhooks/<uuid:subscription_id>/", webhooks.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:subscription_id>/edit/", webhooks.webhook_edit, name="webhook_edit"),
    path(
        "webhooks/<uuid:subscription_id>/rotate-secret/",
        webhooks.webhook_secret_rotate,
        name="webhook_secret_rotate",
    ),
    path("webhooks/<uuid:subscription_id>/test/", webhooks.webhook_test, name="webhook_test"),
    path("webhooks/<uuid:subscription_id>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/retry/",
        webhooks.webhook_delivery_retry,
        name="webhook_delivery_retry",
    ),
]
