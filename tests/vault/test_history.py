"""Secret history: manage level lists kept versions (audited), reveals one old value per POST."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import services
from vault.models import (
    Checkout,
    ClientVaultPolicy,
    Credential,
    CredentialSecretVersion,
    CredentialType,
)
from vault.selectors import history as history_selectors
from vault.services import history as history_services

SECOND = "Second-Canary-51d0ee"
CURRENT = "Current-Canary-93ab07"


def with_history(client, actor, **overrides):
    """A credential whose secret was changed twice: v1 keeps SECRET, v2 keeps SECOND."""
    fields = {"name": "Front desk PC", "credential_type": CredentialType.STANDARD_USER}
    credential = make_credential(client=client, actor=actor, **{**fields, **overrides})
    services.credential_update(
        actor=actor, credential=credential, secret=SECOND, reason="Quarterly rotation"
    )
    services.credential_update(actor=actor, credential=credential, secret=CURRENT, reason="")
    return Credential.objects.get(pk=credential.pk)


def version(credential, number: int) -> CredentialSecretVersion:
    return CredentialSecretVersion.objects.get(credential=credential, version=number)


def page(credential) -> str:
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/history/"


def reveal_url(credential, kept) -> str:
    return f"{page(credential)}{kept.pk}/reveal/"


def events(action):
    return AuditEvent.objects.filter(action=action)


def active_lease(credential, user) -> Checkout:
    """An approved, running checkout of `credential` held by `user` (as the checkout flow
    leaves it)."""
    now = timezone.now()
    return Checkout.objects.create(
        client=credential.client,
        credential=credential,
        requested_by=user,
        ticket="T-LEASE",
        reason="Server patching",
        duration_minutes=60,
        status=Checkout.Status.ACTIVE,
        starts_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(minutes=59),
    )


@pytest.fixture
def vic(client_a):
    """View-level staff member of client A."""
    user = UserFactory(email="vic@msp.example")
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.VIEW)
    return user


# --- The list ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_manager_sees_versions_as_metadata_and_the_view_leaves_one_event(client, alice, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, alice)
    response = client.get(page(credential))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<td class="num">v1</td>' in html
    assert '<td class="num">v2</td>' in html
    assert "Quarterly rotation" in html
    assert "Alice Manager" in html
    for value in (SECRET, SECOND, CURRENT):
        assert value not in html
    # Newest first (the cells, as "v1" can also turn up in the page's random CSRF token).
    assert html.index('<td class="num">v2</td>') < html.index('<td class="num">v1</td>')
    assert f'hx-post="{reveal_url(credential, version(credential, 1))}"' in html
    event = events("credential.history_viewed").get()
    assert (event.outcome, event.actor_user_id, event.client_id) == (
        "success",
        alice.pk,
        client_a.pk,
    )
    assert event.target_id == str(credential.pk)
    assert event.details == {"versions": 2}


@pytest.mark.django_db
def test_use_level_gets_403_and_a_denied_event(client, alice, bob, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, bob)
    response = client.get(page(credential))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Ask a manager" in html
    assert "Quarterly rotation" not in html
    event = events("credential.history_viewed").get()
    assert (event.outcome, event.actor_user_id) == ("denied", bob.pk)


@pytest.mark.django_db
def test_view_level_gets_403(client, alice, vic, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, vic)
    assert client.get(page(credential)).status_code == 403
    assert not events("credential.history_viewed").filter(outcome="success").exists()


@pytest.mark.django_db
def test_another_clients_technician_gets_404_and_learns_nothing(client, alice, charlie, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, charlie)
    response = client.get(page(credential))
    assert response.status_code == 404
    assert client_a.name not in response.content.decode()
    assert "Quarterly rotation" not in response.content.decode()
    assert not events("credential.history_viewed").exists()


@pytest.mark.django_db
def test_the_list_page_runs_a_constant_number_of_queries(
    client, alice, client_a, django_assert_num_queries
):
    few = with_history(client_a, alice)
    many = with_history(client_a, alice, name="Reception PC")
    for n in range(5):
        services.credential_update(actor=alice, credential=many, secret=f"Rotated-{n}-x9")
    sign_in(client, alice)
    client.get(page(few))  # warm the session and the key cache
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(page(few)).status_code == 200
    with django_assert_num_queries(len(baseline.captured_queries)):
        response = client.get(page(many))
    assert response.content.decode().count('aria-label="Reveal version') == 7


@pytest.mark.django_db
def test_history_link_is_offered_to_manage_level_only(client, alice, bob, client_a):
    credential = with_history(client_a, alice)
    detail = f"/clients/{client_a.slug}/credentials/{credential.pk}/"
    sign_in(client, alice)
    assert f'href="{page(credential)}"' in client.get(detail).content.decode()
    sign_in(client, bob)
    assert f'href="{page(credential)}"' not in client.get(detail).content.decode()


@pytest.mark.django_db
def test_the_selector_never_loads_the_sealed_value(alice, client_a):
    credential = with_history(client_a, alice)
    versions = history_services.credential_history_view(actor=alice, credential=credential)
    assert [v.version for v in versions] == [2, 1]
    assert all("secret" in v.get_deferred_fields() for v in versions)
    assert events("credential.history_viewed").count() == 1


# --- Revealing one old value --------------------------------------------------------------


@pytest.mark.django_db
def test_manager_reveals_an_old_value_with_one_event_and_no_store(client, alice, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, alice)
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": " T-77 "})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<span class="secret-value mono" data-secret-value>{SECRET}</span>' in html
    assert "data-countdown" in html
    assert 'data-seconds="30"' in html
    assert SECOND not in html
    assert CURRENT not in html
    assert "no-store" in response["Cache-Control"]
    event = events("credential.version_revealed").get()
    assert (event.outcome, event.actor_user_id, event.ticket) == ("success", alice.pk, "T-77")
    assert event.target_id == str(credential.pk)
    assert event.details == {"field": "secret", "version": 1, "tier": "standard"}
    assert SECRET not in str(event.details) + event.reason
    assert not events("credential.revealed").exists()


@pytest.mark.django_db
def test_the_service_returns_exactly_the_kept_value(alice, client_a):
    credential = with_history(client_a, alice)
    assert (
        history_services.credential_version_reveal(
            actor=alice, credential=credential, version=version(credential, 2)
        )
        == SECOND
    )
    assert events("credential.version_revealed").get().details["version"] == 2


@pytest.mark.django_db
def test_use_level_cannot_reveal_an_old_value(client, alice, bob, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, bob)
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": ""})
    assert response.status_code == 403
    html = response.content.decode()
    assert SECRET not in html
    assert "data-reveal-error" in html
    assert "no-store" in response["Cache-Control"]
    event = events("credential.version_revealed").get()
    assert (event.outcome, event.actor_user_id) == ("denied", bob.pk)


@pytest.mark.django_db
def test_another_clients_technician_gets_404_on_reveal(client, alice, charlie, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, charlie)
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": ""})
    assert response.status_code == 404
    assert SECRET not in response.content.decode()
    assert client_a.name not in response.content.decode()
    assert not events("credential.version_revealed").exists()


@pytest.mark.django_db
def test_a_version_of_another_credential_is_404(client, alice, client_a):
    credential = with_history(client_a, alice)
    other = with_history(client_a, alice, name="Reception PC")
    sign_in(client, alice)
    response = client.post(reveal_url(credential, version(other, 1)), {"ticket": ""})
    assert response.status_code == 404
    assert SECRET not in response.content.decode()
    assert not events("credential.version_revealed").exists()


@pytest.mark.django_db
def test_a_moved_ciphertext_is_reported_and_not_revealed(client, alice, client_a):
    credential = with_history(client_a, alice)
    # v2's ciphertext copied onto v1's row, as someone with database access could do.
    CredentialSecretVersion.objects.filter(pk=version(credential, 1).pk).update(
        secret=version(credential, 2).secret
    )
    sign_in(client, alice)
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": ""})
    assert response.status_code == 503
    html = response.content.decode()
    assert SECRET not in html
    assert SECOND not in html
    assert "cannot be decrypted" in html
    failure = events("vault.decryption_failed").get()
    assert (failure.outcome, failure.actor_user_id) == ("error", alice.pk)
    assert failure.target_id == str(credential.pk)
    assert not events("credential.version_revealed").exists()


@pytest.mark.django_db
def test_a_failing_audit_insert_reveals_nothing(client, alice, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, alice)
    break_audit_inserts()
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": ""})
    assert response.status_code == 503
    assert SECRET not in response.content.decode()
    assert "audit log" in response.content.decode()


@pytest.mark.django_db
def test_the_clients_ticket_policy_applies(client, alice, client_a):
    ClientVaultPolicy.objects.create(client=client_a, reveal_ticket_required=True)
    credential = with_history(client_a, alice)
    sign_in(client, alice)
    assert b"data-ticket-input required" in client.get(page(credential)).content
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": " "})
    assert response.status_code == 400
    assert SECRET not in response.content.decode()
    response = client.post(reveal_url(credential, version(credential, 1)), {"ticket": "INC-5"})
    assert SECRET in response.content.decode()
    assert events("credential.version_revealed").get(outcome="success").ticket == "INC-5"


@pytest.mark.django_db
def test_old_values_of_a_high_privilege_credential_need_an_active_checkout(alice, client_a):
    credential = with_history(client_a, alice, credential_type=CredentialType.DOMAIN_ADMIN)
    kept = version(credential, 1)
    with pytest.raises(AccessDenied, match="active checkout"):
        history_services.credential_version_reveal(actor=alice, credential=credential, version=kept)
    assert events("credential.version_revealed").get().outcome == "denied"

    lease = active_lease(credential, alice)
    assert (
        history_services.credential_version_reveal(actor=alice, credential=credential, version=kept)
        == SECRET
    )
    event = events("credential.version_revealed").get(outcome="success")
    assert event.details["checkout"] == str(lease.pk)
    assert event.ticket == "T-LEASE"


@pytest.mark.django_db
def test_archived_and_emergency_credentials_do_not_reveal_old_values(alice, client_a):
    archived = with_history(client_a, alice)
    services.credential_archive(actor=alice, credential=archived, reason="retired")
    with pytest.raises(InvalidRequest, match="archived"):
        history_services.credential_version_reveal(
            actor=alice, credential=archived, version=version(archived, 1)
        )
    sealed = with_history(client_a, alice, name="Break-glass")
    Credential.objects.filter(pk=sealed.pk).update(is_emergency=True)
    with pytest.raises(AccessDenied, match="emergency"):
        history_services.credential_version_reveal(
            actor=alice, credential=sealed, version=version(sealed, 1)
        )
    assert not events("credential.version_revealed").filter(outcome="success").exists()


@pytest.mark.django_db
def test_reveal_is_post_only(client, alice, client_a):
    credential = with_history(client_a, alice)
    sign_in(client, alice)
    assert client.get(reveal_url(credential, version(credential, 1))).status_code == 405
    assert not events("credential.version_revealed").exists()


@pytest.mark.django_db
def test_the_version_selector_is_scoped_to_the_actor(alice, charlie, client_a):
    from config.errors import NotFound

    credential = with_history(client_a, alice)
    kept = version(credential, 1)
    assert (
        history_selectors.credential_version_get(
            actor=alice, credential=credential, version_id=kept.pk
        ).pk
        == kept.pk
    )
    with pytest.raises(NotFound):
        history_selectors.credential_version_get(
            actor=charlie, credential=credential, version_id=kept.pk
        )
