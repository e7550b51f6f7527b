from django.urls import path

from intake.views import imports, intakes, links, takeover

app_name = "intake"

urlpatterns: list = []

# Client intake links: the staff pages, then the contact's public page. "intake/<token>/"
# answers for every intake/<anything>/ address, so other intake pages live under clients/.
urlpatterns += [
    path("clients/<slug:slug>/intake-links/", links.intake_link_list, name="link_list"),
    path(
        "clients/<slug:slug>/intake-links/<uuid:link_id>/",
        links.intake_link_detail,
        name="link_detail",
    ),
    path(
        "clients/<slug:slug>/intake-links/<uuid:link_id>/revoke/",
        links.intake_link_revoke,
        name="link_revoke",
    ),
    path(
        "clients/<slug:slug>/intake-links/<uuid:link_id>/entries/<uuid:staged_id>/accept/",
        links.staged_credential_accept,
        name="staged_accept",
    ),
    path(
        "clients/<slug:slug>/intake-links/<uuid:link_id>/entries/<uuid:staged_id>/reject/",
        links.staged_credential_reject,
        name="staged_reject",
    ),
    path("intake/", links.intake_link_page, name="link_page"),
    path("intake/<str:token>/", links.intake_link_landing, name="link_landing"),
]

# Structured intake, the onboarding checklist and the takeover checklist.
urlpatterns += [
    path("clients/<slug:slug>/onboarding/", intakes.onboarding, name="onboarding"),
    path(
        "clients/<slug:slug>/onboarding/grant-access/",
        intakes.access_grant,
        name="access_grant",
    ),
    path("clients/<slug:slug>/intake/", intakes.intake_draft, name="intake"),
    path(
        "clients/<slug:slug>/intake/entries/<uuid:entry_id>/",
        intakes.entry_edit,
        name="intake_entry_edit",
    ),
    path(
        "clients/<slug:slug>/intake/entries/<uuid:entry_id>/remove/",
        intakes.entry_remove,
        name="intake_entry_remove",
    ),
    path("clients/<slug:slug>/intake/submit/", intakes.intake_submit, name="intake_submit"),
    path(
        "clients/<slug:slug>/intake/<uuid:intake_id>/notice/",
        intakes.intake_notice,
        name="intake_notice",
    ),
    path("clients/<slug:slug>/takeover/", takeover.takeover_checklist, name="takeover"),
    path("clients/<slug:slug>/takeover/<str:key>/", takeover.takeover_step, name="takeover_step"),
]

# Imports of a previous provider's export: history, upload (and mapping), preview, actions.
urlpatterns += [
    path("clients/<slug:slug>/imports/", imports.import_list, name="import_list"),
    path("clients/<slug:slug>/imports/new/", imports.import_new, name="import_new"),
    path(
        "clients/<slug:slug>/imports/<uuid:batch_id>/",
        imports.import_preview,
        name="import_preview",
    ),
    path(
        "clients/<slug:slug>/imports/<uuid:batch_id>/exclusions/",
        imports.import_exclusions,
        name="import_exclusions",
    ),
    path(
        "clients/<slug:slug>/imports/<uuid:batch_id>/exclude-invalid/",
        imports.import_exclude_invalid,
        name="import_exclude_invalid",
    ),
    path(
        "clients/<slug:slug>/imports/<uuid:batch_id>/confirm/",
        imports.import_confirm,
        name="import_confirm",
    ),
    path(
        "clients/<slug:slug>/imports/<uuid:batch_id>/cancel/",
        imports.import_cancel,
        name="import_cancel",
    ),
]
