"""Reveal of standard and service credentials: levels, tiers, tickets, audit, failures."""

import pytest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from audit.models import AuditEvent
from audit.services import AuditWriteError
from config.errors import AccessDenied, NotFound
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_grant, assignment_revoke
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import services
from vault.envelope import SecretUnavailable
from vault.models import Credential, CredentialType

OTHER_SECRET = "Other-Canary-2c9e41"


def url(credential) -> str:
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/reveal/"


def standard(client, **overrides):
    fields = {"name": "Front desk PC", "credential_type": CredentialType.STANDARD_USER}
    return make_credential(client=client, **{**fields, **overrides})


def revealed_events():
    return AuditEvent.objects.filter(action="credential.revealed")


@pytest.fixture
def vic(client_a):
    """View-level staff member of client A."""
    user = UserFactory(email="vic@msp.example")
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.VIEW)
    return user


@pytest.mark.django_db
def test_use_level_reveals_a_standard_credential_with_one_event(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": " T-1042 ", "purpose": "reveal"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<span class="secret-value mono" data-secret-value>{SECRET}</span>' in html
    assert "data-countdown" in html
    assert "no-store" in response["Cache-Control"]
    event = revealed_events().get()
    assert event.outcome == "success"
    assert event.actor_user_id == bob.pk
    assert event.client_id == client_a.pk
    assert event.ticket == "T-1042"
    assert event.target_id == str(credential.pk)
    assert event.details == {"field": "secret", "tier": "standard", "purpose": "reveal"}
    assert SECRET not in str(event.details) + event.reason


@pytest.mark.django_db
def test_service_returns_exactly_the_plaintext_for_a_service_tier_credential(bob, client_a):
    credential = make_credential(client=client_a, credential_type=CredentialType.API_KEY)
    assert services.credential_reveal(actor=bob, credential=credential, ticket="") == SECRET
    assert revealed_events().get().details["tier"] == "service"


@pytest.mark.django_db
def test_copy_carries_the_value_in_a_template_only(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    html = client.post(url(credential), {"ticket": "", "purpose": "copy"}).content.decode()
    assert f"<template data-copy-value>{SECRET}</template>" in html
    assert "data-secret-value" not in html
    assert revealed_events().get().details["purpose"] == "copy"


@pytest.mark.django_db
def test_secret_is_escaped_as_text(client, bob, client_a):
    credential = standard(client_a, secret="<b>&'\"")
    sign_in(client, bob)
    html = client.post(url(credential), {"ticket": ""}).content.decode()
    assert "&lt;b&gt;&amp;&#x27;&quot;" in html
    assert "<b>&" not in html


@pytest.mark.django_db
def test_view_level_gets_a_403_fragment_and_a_denied_event(client, vic, client_a):
    credential = standard(client_a)
    sign_in(client, vic)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 403
    html = response.content.decode()
    assert SECRET not in html
    assert "data-reveal-error" in html
    assert "Ask a manager" in html
    assert "no-store" in response["Cache-Control"]
    event = revealed_events().get()
    assert event.outcome == "denied"
    assert event.actor_user_id == vic.pk


@pytest.mark.django_db
def test_the_service_checks_the_assignment_afresh_whatever_the_caller_read(alice, bob, client_a):
    """The reveal reads its access and the sealed value together; a credential object read
    before bob's assignment was lowered, then ended, opens nothing."""
    credential = standard(client_a)
    assignment_grant(actor=None, client=client_a, user=bob, level=AccessLevel.VIEW)
    with pytest.raises(AccessDenied, match=r"You have view access to .*; this needs use access"):
        services.credential_reveal(actor=bob, credential=credential, ticket="T-1")
    assignment = Assignment.objects.get(user=bob, client=client_a, revoked_at__isnull=True)
    assignment_revoke(actor=alice, assignment=assignment)
    with pytest.raises(NotFound):
        services.credential_reveal(actor=bob, credential=credential, ticket="T-2")
    assert list(revealed_events().values_list("outcome", "ticket")) == [
        ("denied", "T-1"),
        ("denied", "T-2"),
    ]


@pytest.mark.django_db
def test_another_clients_technician_gets_404(client, charlie, client_a):
    credential = standard(client_a)
    sign_in(client, charlie)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 404
    assert SECRET not in response.content.decode()
    assert client_a.name not in response.content.decode()
    assert not revealed_events().filter(outcome="success").exists()


@pytest.mark.django_db
def test_high_tier_is_refused_with_a_denied_event(client, bob, client_a):
    credential = make_credential(client=client_a)  # domain admin: high privilege
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": "T-1"})
    assert response.status_code == 403
    html = response.content.decode()
    assert SECRET not in html
    assert "checkout" in html
    event = revealed_events().get()
    assert event.outcome == "denied"
    assert "checkout" in event.reason
    assert event.details["tier"] == "high"


@pytest.mark.django_db
def test_archived_credential_is_refused(client, alice, bob, client_a):
    credential = standard(client_a)
    services.credential_archive(actor=alice, credential=credential, reason="retired")
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 400
    assert "archived" in response.content.decode()
    assert SECRET not in response.content.decode()
    assert not revealed_events().exists()


@pytest.mark.django_db
def test_ticket_is_required_when_the_setting_says_so(client, bob, client_a, settings):
    settings.KEYHOLD_REVEAL_TICKET_REQUIRED = True
    credential = standard(client_a)
    sign_in(client, bob)
    detail = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content
    assert b"data-ticket-input required" in detail
    response = client.post(url(credential), {"ticket": "   "})
    assert response.status_code == 400
    assert "Enter the ticket number this reveal is for." in response.content.decode()
    assert SECRET not in response.content.decode()
    assert not revealed_events().filter(outcome="success").exists()
    response = client.post(url(credential), {"ticket": "INC-77"})
    assert SECRET in response.content.decode()
    assert revealed_events().get(outcome="success").ticket == "INC-77"


@pytest.mark.django_db
def test_a_failing_audit_insert_returns_no_secret(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    break_audit_inserts()
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 503
    assert SECRET not in response.content.decode()
    assert "audit log" in response.content.decode()


@pytest.mark.django_db
def test_the_service_raises_when_the_event_cannot_be_written(bob, client_a):
    from audit.services import AuditWriteError

    credential = standard(client_a)
    break_audit_inserts()
    with pytest.raises(AuditWriteError):
        services.credential_reveal(actor=bob, credential=credential, ticket="")


@pytest.mark.django_db
def test_an_error_report_of_a_failed_reveal_masks_the_decrypted_value(bob, client_a):
    """The audit insert fails after the value was decrypted: the error report (as mailed to
    admins, or shown with DEBUG) lists the service's locals with the plaintext masked."""
    credential = standard(client_a)
    break_audit_inserts()
    with pytest.raises(AuditWriteError) as caught:
        services.credential_reveal(actor=bob, credential=credential, ticket="T-1")
    frames = ExceptionReporter(None, caught.type, caught.value, caught.tb).get_traceback_frames()
    reveal = next(
        frame
        for frame in frames
        if frame["function"] == "credential_reveal" and "plaintext" in dict(frame["vars"])
    )
    assert dict(reveal["vars"])["plaintext"] == SafeExceptionReporterFilter.cleansed_substitute
    reported = ExceptionReporter(None, caught.type, caught.value, caught.tb).get_traceback_text()
    assert SECRET not in reported


@pytest.mark.django_db
def test_a_value_that_does_not_decrypt_is_reported_and_not_revealed(client, bob, client_a):
    credential = standard(client_a)
    other = standard(client_a, name="Other", secret=OTHER_SECRET)
    # A ciphertext copied from another row, as someone with database access could do.
    Credential.objects.filter(pk=credential.pk).update(
        secret=Credential.objects.get(pk=other.pk).secret
    )
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 503
    html = response.content.decode()
    assert SECRET not in html
    assert OTHER_SECRET not in html
    assert "cannot be decrypted" in html
    error = AuditEvent.objects.get(action="vault.decryption_failed")
    assert error.outcome == "error"
    assert error.actor_user_id == bob.pk
    assert error.target_id == str(credential.pk)
    assert not revealed_events().exists()
    with pytest.raises(SecretUnavailable):
        services.credential_reveal(actor=bob, credential=credential, ticket="")


@pytest.mark.django_db
def test_detail_page_never_holds_the_secret_and_offers_reveal(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    html = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content.decode()
    assert SECRET not in html
    assert f'hx-post="{url(credential)}"' in html
    assert 'hx-target="#secret-slot"' in html
    assert ">Reveal</button>" in html
    assert ">Copy</button>" in html
    assert not revealed_events().exists()


@pytest.mark.django_db
def test_detail_page_of_a_high_tier_credential_points_to_checkout(client, bob, client_a):
    credential = make_credential(client=client_a)
    sign_in(client, bob)
    html = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content.decode()
    assert "Opened through a checkout" in html
    assert "hx-post" not in html
    assert SECRET not in html


@pytest.mark.django_db
def test_view_level_sees_no_reveal_form(client, vic, client_a):
    credential = standard(client_a)
    sign_in(client, vic)
    html = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content.decode()
    assert "hx-post" not in html
    assert "does not include revealing secrets" in html


@pytest.mark.django_db
def test_get_is_not_allowed(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    response = client.get(url(credential))
    assert response.status_code == 405
    assert not revealed_events().exists()
