from django.urls import path

from vault.views import checkouts, credentials, emergency, history, share_links

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
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/checkout/",
        checkouts.checkout_request,
        name="checkout_request",
    ),
    path("checkouts/", checkouts.checkout_mine, name="checkout_mine"),
    path("checkouts/approvals/", checkouts.checkout_approvals, name="checkout_approvals"),
    path("checkouts/<uuid:checkout_id>/cancel/", checkouts.checkout_cancel, name="checkout_cancel"),
    path(
        "checkouts/<uuid:checkout_id>/check-in/",
        checkouts.checkout_check_in,
        name="checkout_check_in",
    ),
    path(
        "checkouts/<uuid:checkout_id>/approve/",
        checkouts.checkout_approve,
        name="checkout_approve",
    ),
    path("checkouts/<uuid:checkout_id>/deny/", checkouts.checkout_deny, name="checkout_deny"),
    path("checkouts/<uuid:checkout_id>/revoke/", checkouts.checkout_revoke, name="checkout_revoke"),
    path("clients/<slug:slug>/vault-policy/", checkouts.vault_policy, name="vault_policy"),
    # Sealed emergency credentials
    path("clients/<slug:slug>/emergency/", emergency.emergency_list, name="emergency_list"),
    path(
        "clients/<slug:slug>/emergency/<uuid:credential_id>/open/",
        emergency.emergency_open_view,
        name="emergency_open",
    ),
    path(
        "clients/<slug:slug>/emergency/<uuid:credential_id>/reseal/",
        emergency.emergency_reseal_view,
        name="emergency_reseal",
    ),
    # One-time share links (staff side)
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/share-links/",
        share_links.share_link_panel,
        name="share_link_panel",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/share-links/new/",
        share_links.share_link_create,
        name="share_link_create",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/share-links/<uuid:link_id>/revoke/",
        share_links.share_link_revoke,
        name="share_link_revoke",
    ),
    # Secret history and TOTP codes
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/history/",
        history.credential_history,
        name="credential_history",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/history/<uuid:version_id>/reveal/",
        history.credential_version_reveal,
        name="credential_version_reveal",
    ),
    path(
        "clients/<slug:slug>/credentials/<uuid:credential_id>/totp/",
        history.credential_totp_code,
        name="credential_totp_code",
    ),
]
