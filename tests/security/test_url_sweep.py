"""Every URL: anonymous sessions go to login, sessions without MFA go to the MFA step."""

from urllib.parse import urlparse

import pytest

from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.security.urls_walk import all_endpoints

PUBLIC = {
    "accounts:login",
    "accounts:invitation_accept",
    "accounts:invitation_open",
    "admin:login",
    "share_link_page",
    "share_link_landing",
    "rotation:psa_callback",
    "intake:link_page",
    "intake:link_landing",
    # DRF authenticates API requests itself: a token, or a session that passed MFA.
    "api:me",
    "api:schema",
    "api:client_list",
    "api:client_detail",
    "api:system_list",
    "api:system_detail",
    "api:credential_list",
    "api:credential_detail",
    "api:credential_archive",
    "api:credential_reveal",
    "api:checkout_list",
    "api:checkout_detail",
    "api:checkout_approve",
    "api:checkout_deny",
    "api:checkout_cancel",
    "api:checkout_check_in",
    "api:rotation_task_list",
    "api:rotation_task_detail",
    "api:rotation_task_complete",
    "api:audit_event_list",
    "api:audit_event_detail",
    "api:intake_submission_list",
    "api:intake_submission_detail",
}
BEFORE_MFA = {"accounts:mfa_verify", "accounts:mfa_enrol", "accounts:logout"}
ENDPOINTS = all_endpoints()


def _ids(endpoint):
    return endpoint.name


def test_the_sweep_sees_the_admin_and_every_app():
    names = {endpoint.name for endpoint in ENDPOINTS}
    assert "admin:index" in names
    assert {"home", "tenants:client_detail", "accounts:staff_list"} <= names
    assert len(names) > 40


def test_only_the_known_public_views_skip_login():
    public = {e.name for e in ENDPOINTS if getattr(e.callback, "login_required", True) is False}
    assert public == PUBLIC


def test_only_the_mfa_views_skip_mfa():
    before = {e.name for e in ENDPOINTS if getattr(e.callback, "mfa_not_required", False)}
    assert before == BEFORE_MFA


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.name not in PUBLIC], ids=_ids)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_request_is_sent_to_login(client, endpoint, method):
    response = getattr(client, method)(endpoint.path())
    assert response.status_code == 302, response.status_code
    location = urlparse(response["Location"]).path
    if endpoint.name.startswith("admin:"):
        assert location in {"/login/", "/admin/login/"}
        if location == "/admin/login/":
            assert urlparse(client.get(response["Location"])["Location"]).path == "/login/"
    else:
        assert location == "/login/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.name not in PUBLIC | BEFORE_MFA], ids=_ids
)
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("enrolled", [True, False], ids=["enrolled", "not-enrolled"])
def test_session_without_mfa_is_sent_to_the_mfa_step(client, endpoint, method, enrolled):
    user = UserFactory(mfa=enrolled, roles=["Administrator"])
    sign_in(client, user, verified=False)
    response = getattr(client, method)(endpoint.path())
    assert response.status_code == 302
    expected = "/mfa/" if enrolled else "/mfa/enrol/"
    assert urlparse(response["Location"]).path == expected


@pytest.mark.django_db
def test_admin_is_served_only_after_mfa(client):
    admin = UserFactory(roles=["Administrator"])
    sign_in(client, admin, verified=False)
    assert urlparse(client.get("/admin/")["Location"]).path == "/mfa/"
    sign_in(client, admin, verified=True)
    assert client.get("/admin/").status_code == 200
