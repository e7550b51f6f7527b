from django.urls import path

from vault.views import credentials

app_name = "vault"

urlpatterns = [
    path("credentials/", credentials.credential_search, name="credential_search"),
    path("search/", credentials.search, name="search"),
    path("clients/<slug:slug>/credentials/", credentials.credential_list, name="credential_list"),
    path(
        "clients/<slug:slug>/credentials/new/",
        credentials.credential_create,
        name="credential_create",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/",
        credentials.credential_detail,
        name="credential_detail",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/edit/",
        credentials.credential_edit,
        name="credential_edit",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/archive/",
        credentials.credential_archive,
        name="credential_archive",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/reveal/",
        credentials.credential_reveal,
        name="credential_reveal",
    ),
    # Checkouts and client vault policy
    # Sealed emergency credentials
    # One-time share links (staff side)
    # Secret history and TOTP codes
]
