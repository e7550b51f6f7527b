"""The client's primary technician, who owns its rotation tasks.

Action covered here with exactly one event per operation: client.primary_technician_set.
"""

import pytest
from django.test import Client as Browser

from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest
from tenants.models import Client
from tenants.services import client_primary_technician_set
from tests.conftest import sign_in


def events(outcome="success"):
    return AuditEvent.objects.filter(action="client.primary_technician_set", outcome=outcome)


def test_manager_sets_an_assigned_technician_once(client_a, alice, bob):
    client_primary_technician_set(actor=alice, client=client_a, technician=bob)
    assert Client.objects.get(pk=client_a.pk).primary_technician == bob
    assert events().count() == 1
    assert events().get().details["technician"] == str(bob.pk)
    client_primary_technician_set(actor=alice, client=client_a, technician=None)
    assert Client.objects.get(pk=client_a.pk).primary_technician is None


def test_the_technician_must_be_assigned_to_the_client(client_a, alice, charlie):
    with pytest.raises(InvalidRequest, match="not assigned"):
        client_primary_technician_set(actor=alice, client=client_a, technician=charlie)
    assert Client.objects.get(pk=client_a.pk).primary_technician is None
    assert not events().exists()


def test_only_manage_level_may_set_it(client_a, bob, charlie):
    with pytest.raises(AccessDenied):
        client_primary_technician_set(actor=bob, client=client_a, technician=bob)
    with pytest.raises(AccessDenied):
        client_primary_technician_set(actor=charlie, client=client_a, technician=bob)
    assert events("denied").count() == 2


def test_client_page_form_sets_it_and_other_clients_technicians_get_404(
    client_a, alice, bob, charlie
):
    browser = Browser()
    sign_in(browser, alice)
    page = browser.get(f"/clients/{client_a.slug}/").content.decode()
    assert "Primary technician" in page
    response = browser.post(
        f"/clients/{client_a.slug}/primary-technician/", {"technician": str(bob.pk)}
    )
    assert response.status_code == 302
    assert Client.objects.get(pk=client_a.pk).primary_technician == bob
    outsider = Browser()
    sign_in(outsider, charlie)
    refused = outsider.post(
        f"/clients/{client_a.slug}/primary-technician/", {"technician": str(charlie.pk)}
    )
    assert refused.status_code == 404
    assert Client.objects.get(pk=client_a.pk).primary_technician == bob
