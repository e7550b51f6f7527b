from django.urls import path

app_name = "offboarding"

urlpatterns: list = []

# Technician departures
from offboarding.views import departures  # noqa: E402

urlpatterns += [
    path("offboarding/", departures.case_list, name="case_list"),
    path("offboarding/departures/new/", departures.departure_new, name="departure_new"),
    path("offboarding/cases/<uuid:case_id>/", departures.case_detail, name="case_detail"),
    path(
        "offboarding/cases/<uuid:case_id>/confirm/",
        departures.departure_confirm,
        name="departure_confirm",
    ),
    path(
        "offboarding/cases/<uuid:case_id>/close/",
        departures.departure_close,
        name="departure_close",
    ),
]

# Evidence report and export
from offboarding.views import evidence  # noqa: E402

urlpatterns += [
    path(
        "offboarding/cases/<uuid:case_id>/evidence/",
        evidence.evidence_report,
        name="evidence_report",
    ),
    path(
        "offboarding/cases/<uuid:case_id>/evidence.csv",
        evidence.evidence_csv,
        name="evidence_csv",
    ),
]

# Client offboarding
from offboarding.views import client_exits  # noqa: E402

urlpatterns += [
    path("offboarding/clients/new/", client_exits.client_exit_new, name="client_exit_new"),
    path(
        "offboarding/client-exits/<uuid:case_id>/",
        client_exits.client_exit_detail,
        name="client_exit_detail",
    ),
    path(
        "offboarding/client-exits/<uuid:case_id>/credentials/<uuid:credential_id>/decide/",
        client_exits.client_exit_decide,
        name="client_exit_decide",
    ),
    path(
        "offboarding/client-exits/<uuid:case_id>/hand-over-all/",
        client_exits.client_exit_hand_over_all,
        name="client_exit_hand_over_all",
    ),
    path(
        "offboarding/client-exits/<uuid:case_id>/handover/",
        client_exits.client_exit_handover,
        name="client_exit_handover",
    ),
    path(
        "offboarding/client-exits/<uuid:case_id>/handover/download/",
        client_exits.client_exit_handover_download,
        name="client_exit_handover_download",
    ),
    path(
        "offboarding/client-exits/<uuid:case_id>/confirm/",
        client_exits.client_exit_confirm,
        name="client_exit_confirm",
    ),
]
