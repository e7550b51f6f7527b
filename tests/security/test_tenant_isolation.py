"""A technician assigned to client A gets 404 on every page of client B."""

import re

import pytest

from tenants.models import AccessLevel, Assignment, System
from tenants.selectors import client_list_for_user
from tests.conftest import sign_in
from tests.security.urls_walk import all_endpoints
from tests.vault.test_credentials import make_credential
from vault.models import Credential

CLIENT_PAGES = [e for e in all_endpoints() if "(?P<slug>" in e.regex]


def test_every_client_page_is_in_the_sweep():
    names = {e.name for e in CLIENT_PAGES}
    assert {
        "tenants:client_detail",
        "tenants:client_access",
        "tenants:system_detail",
        "tenants:assignment_revoke",
        "vault:credential_list",
        "vault:credential_create",
        "vault:credential_detail",
        "vault:credential_edit",
        "vault:credential_archive",
    } <= names


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", CLIENT_PAGES, ids=lambda e: e.name)
@pytest.mark.parametrize("method", ["get", "post"])
def test_technician_of_client_a_gets_404_on_every_page_of_client_b(
    client, bob, charlie, client_b, system_b, endpoint, method
):
    assignment_b = Assignment.objects.get(user=charlie, client=client_b)
    credential_b = make_credential(client=client_b, name="Credential of B")
    sign_in(client, bob)
    path = endpoint.path(
        slug=client_b.slug,
        system_id=str(system_b.pk),
        assignment_id=str(assignment_b.pk),
        credential_id=str(credential_b.pk),
    )
    response = getattr(client, method)(
        path, {"name": "Injected", "kind": "server", "reason": "Injected"}
    )
    post_only = method == "get" and response.status_code == 405
    assert response.status_code == 404 or post_only
    assert client_b.name not in response.content.decode()
    assert not System.objects.filter(name="Injected").exists()
    assert Assignment.objects.get(pk=assignment_b.pk).revoked_at is None
    assert Credential.objects.get(pk=credential_b.pk).status == Credential.Status.ACTIVE
    assert not Credential.objects.filter(name="Injected").exists()


@pytest.mark.django_db
def test_unknown_client_and_unassigned_client_answer_alike(client, bob, client_b):
    sign_in(client, bob)
    unassigned = client.get(f"/clients/{client_b.slug}/")
    missing = client.get("/clients/no-such-client/")
    assert unassigned.status_code == missing.status_code == 404

    def without_csrf(response):
        return re.sub(rb'(content|value)="[A-Za-z0-9]{64}"', b"", response.content)

    assert without_csrf(unassigned) == without_csrf(missing)


@pytest.mark.django_db
def test_administrator_without_assignment_sees_no_client(client_a, client_b):
    from tests.factories import UserFactory

    admin = UserFactory(roles=["Administrator"])
    assert list(client_list_for_user(actor=admin)) == []


@pytest.mark.django_db
def test_revoked_assignment_denies_the_very_next_request(client, alice, bob, client_a):
    sign_in(client, bob)
    assert client.get(f"/clients/{client_a.slug}/").status_code == 200
    from tenants.services import assignment_revoke

    assignment_revoke(actor=alice, assignment=Assignment.objects.get(user=bob, client=client_a))
    assert client.get(f"/clients/{client_a.slug}/").status_code == 404


@pytest.mark.django_db
def test_view_level_cannot_open_the_manage_pages(client, client_a, alice):
    from accounts.models import Role
    from tenants.services import assignment_grant
    from tests.factories import UserFactory

    viewer = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=alice, client=client_a, user=viewer, level=AccessLevel.VIEW)
    sign_in(client, viewer)
    response = client.get(f"/clients/{client_a.slug}/access/")
    assert response.status_code == 403
    assert "Ask a manager" in response.content.decode()
