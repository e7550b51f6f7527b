"""Vault routes of the REST API (included by config/api_urls.py)."""

from django.urls import path

from vault.api.checkouts import CheckoutViewSet
from vault.api.credentials import CredentialViewSet

urlpatterns = [
    # Credentials
    path(
        "credentials/",
        CredentialViewSet.as_view({"get": "list", "post": "create"}),
        name="credential_list",
    ),
    path(
        "credentials/<uuid:credential_id>/",
        CredentialViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="credential_detail",
    ),
    path(
        "credentials/<uuid:credential_id>/archive/",
        CredentialViewSet.as_view({"post": "archive"}, **CredentialViewSet.archive.kwargs),
        name="credential_archive",
    ),
    path(
        "credentials/<uuid:credential_id>/reveal/",
        # The action's kwargs carry its own throttles (reveals are limited on their own).
        CredentialViewSet.as_view({"post": "reveal"}, **CredentialViewSet.reveal.kwargs),
        name="credential_reveal",
    ),
    # Checkouts
    path(
        "checkouts/",
        CheckoutViewSet.as_view({"get": "list", "post": "create"}),
        name="checkout_list",
    ),
    path(
        "checkouts/<uuid:checkout_id>/",
        CheckoutViewSet.as_view({"get": "retrieve"}),
        name="checkout_detail",
    ),
    path(
        "checkouts/<uuid:checkout_id>/approve/",
        CheckoutViewSet.as_view({"post": "approve"}),
        name="checkout_approve",
    ),
    path(
        "checkouts/<uuid:checkout_id>/deny/",
        CheckoutViewSet.as_view({"post": "deny"}),
        name="checkout_deny",
    ),
    path(
        "checkouts/<uuid:checkout_id>/cancel/",
        CheckoutViewSet.as_view({"post": "cancel"}),
        name="checkout_cancel",
    ),
    path(
        "checkouts/<uuid:checkout_id>/check-in/",
        CheckoutViewSet.as_view({"post": "check_in"}),
        name="checkout_check_in",
    ),
]
