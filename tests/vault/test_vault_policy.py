"""A client's vault policy: who may read and change it, its bounds, and what it governs.

client.vault_policy_updated leaves exactly one event per change.
"""

import pytest

from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import services
from vault.models import ClientVaultPolicy, CredentialType
from vault.selectors.policies import vault_policy_for
from vault.services.checkouts import client_vault_policy_update

ACTION = "client.vault_policy_updated"
VALUES = {
    "reveal_ticket_required": True,
    "checkout_approval_required": True,
    "checkout_default_minutes": 30,
    "checkout_max_minutes": 120,
}


def url(client) -> str:
    return f"/clients/{client.slug}/vault-policy/"


@pytest.mark.django_db
def test_a_manager_sets_the_policy_with_one_event(alice, client_a):
    policy = client_vault_policy_update(actor=alice, client=client_a, **VALUES)
    stored = ClientVaultPolicy.objects.get(client=client_a)
    assert stored == policy
    assert (stored.checkout_default_minutes, stored.checkout_max_minutes) == (30, 120)
    assert stored.reveal_ticket_required
    assert stored.checkout_approval_required
    assert stored.updated_by == alice
    event = AuditEvent.objects.get(action=ACTION)
    assert (event.outcome, event.actor_user_id, event.client_id) == (
        "success",
        alice.pk,
        client_a.pk,
    )
    assert event.details["changed"]["checkout_max_minutes"] == {"from": 480, "to": 120}
    # A second change records only what changed.
    client_vault_policy_update(
        actor=alice, client=client_a, **{**VALUES, "checkout_max_minutes": 90}
    )
    latest = AuditEvent.objects.filter(action=ACTION).order_by("-sequence").first()
    assert latest.details["changed"] == {"checkout_max_minutes": {"from": 120, "to": 90}}
    assert AuditEvent.objects.filter(action=ACTION).count() == 2


@pytest.mark.django_db
def test_use_level_and_other_clients_staff_cannot_change_it(bob, charlie, client_a):
    with pytest.raises(AccessDenied, match="this needs manage access"):
        client_vault_policy_update(actor=bob, client=client_a, **VALUES)
    with pytest.raises(NotFound):
        client_vault_policy_update(actor=charlie, client=client_a, **VALUES)
    assert not ClientVaultPolicy.objects.exists()
    denied = AuditEvent.objects.filter(action=ACTION, outcome="denied")
    assert sorted(denied.values_list("actor_user_id", flat=True)) == sorted([bob.pk, charlie.pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"checkout_default_minutes": 4}, "checkout_default_minutes", "at least 5 minutes"),
        ({"checkout_max_minutes": 10081}, "checkout_max_minutes", "at most 10080 minutes"),
        ({"checkout_default_minutes": 200}, "checkout_default_minutes", "cannot be longer"),
    ],
)
def test_bounds_are_refused_per_field(alice, client_a, values, field, message):
    with pytest.raises(FieldInvalid, match=message) as refusal:
        client_vault_policy_update(actor=alice, client=client_a, **{**VALUES, **values})
    assert refusal.value.field == field
    assert isinstance(refusal.value, InvalidRequest)
    assert not ClientVaultPolicy.objects.exists()


@pytest.mark.django_db
def test_the_policy_decides_whether_a_reveal_needs_a_ticket(alice, bob, client_a, client_b):
    credential = make_credential(
        client=client_a, actor=alice, name="PC", credential_type=CredentialType.STANDARD_USER
    )
    assert services.credential_reveal(actor=bob, credential=credential, ticket="") == SECRET
    client_vault_policy_update(actor=alice, client=client_a, **VALUES)
    with pytest.raises(InvalidRequest, match="Enter the ticket number"):
        services.credential_reveal(actor=bob, credential=credential, ticket="")
    assert services.credential_reveal(actor=bob, credential=credential, ticket="T-5") == SECRET
    # Another client keeps the default.
    assert vault_policy_for(actor=None, client=client_b).reveal_ticket_required is False


@pytest.mark.django_db
def test_the_manager_edits_the_page_and_errors_keep_what_was_typed(client, alice, client_a):
    sign_in(client, alice)
    html = client.get(url(client_a)).content.decode()
    assert "Vault policy of Contoso Dental" in html
    assert 'name="checkout_max_minutes"' in html
    response = client.post(
        url(client_a), {"checkout_default_minutes": "700", "checkout_max_minutes": "600"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot be longer than the longest checkout (600 minutes)" in html
    assert 'value="700"' in html
    assert not ClientVaultPolicy.objects.exists()
    response = client.post(
        url(client_a),
        {
            "checkout_approval_required": "on",
            "checkout_default_minutes": "45",
            "checkout_max_minutes": "600",
        },
    )
    assert response.status_code == 302
    policy = ClientVaultPolicy.objects.get(client=client_a)
    assert policy.checkout_approval_required
    assert not policy.reveal_ticket_required
    assert policy.checkout_default_minutes == 45
    assert AuditEvent.objects.filter(action=ACTION, outcome="success").count() == 1


@pytest.mark.django_db
def test_view_level_reads_the_policy_but_cannot_post(client, client_a):
    viewer = UserFactory(email="vic@msp.example")
    assignment_grant(actor=None, client=client_a, user=viewer, level=AccessLevel.VIEW)
    sign_in(client, viewer)
    html = client.get(url(client_a)).content.decode()
    assert "data-policy-facts" in html
    assert '<form method="post" class="form-narrow"' not in html
    response = client.post(
        url(client_a), {"checkout_default_minutes": "30", "checkout_max_minutes": "60"}
    )
    assert response.status_code == 403
    assert not ClientVaultPolicy.objects.exists()
    assert AuditEvent.objects.get(action=ACTION).outcome == "denied"


@pytest.mark.django_db
def test_another_clients_technician_gets_404(client, charlie, client_a):
    sign_in(client, charlie)
    for method in ("get", "post"):
        response = getattr(client, method)(url(client_a))
        assert response.status_code == 404
        assert client_a.name not in response.content.decode()
    assert not ClientVaultPolicy.objects.exists()


@pytest.mark.django_db
def test_the_client_page_links_to_the_policy(client, bob, client_a):
    sign_in(client, bob)
    assert f'href="{url(client_a)}"' in client.get(f"/clients/{client_a.slug}/").content.decode()
