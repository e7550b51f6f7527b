"""Administrators see audit events in the Django admin, and cannot change or delete them."""

import pytest
from django.db import transaction

from audit import services as audit
from audit.models import AuditEvent
from tenants.models import AccessLevel
from tests.conftest import sign_in


@pytest.mark.django_db
def test_admin_lists_events_read_only(client, admin_user):
    with transaction.atomic():
        event = audit.record(actor=admin_user, action="staff.signed_in", reason="visible")
    sign_in(client, admin_user)
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert "staff.signed_in" in listing.content.decode()
    detail = client.get(f"/admin/audit/auditevent/{event.sequence}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.post(f"/admin/audit/auditevent/{event.sequence}/change/", {}).status_code == 403
    assert (
        client.post(
            f"/admin/audit/auditevent/{event.sequence}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.get(sequence=event.sequence).reason == "visible"


@pytest.mark.django_db
def test_a_technician_cannot_open_the_audit_admin(client, bob):
    sign_in(client, bob)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_admin_shows_only_events_of_the_administrators_clients(client, client_a, client_b):
    from tenants.services import assignment_grant
    from tests.factories import UserFactory

    only_a = UserFactory(roles=["Administrator"])
    assignment_grant(actor=None, client=client_a, user=only_a, level=AccessLevel.MANAGE)
    with transaction.atomic():
        audit.record(actor=None, action="system.created", client=client_b, reason="b-secret-plan")
        audit.record(actor=None, action="system.created", client=client_a, reason="a-visible")
    sign_in(client, only_a)
    body = client.get("/admin/audit/auditevent/?q=system.created").content.decode()
    assert "Contoso Dental" in body
    assert "Fabrikam Logistics" not in body
