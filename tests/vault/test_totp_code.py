"""Live TOTP codes: use level (a lease for high privilege), each showing audited, no seed out.

Expected codes are RFC 6238's own SHA-1 test vectors (key "12345678901234567890"), last
six digits, so the check does not lean on the library that computes them.
"""

from datetime import UTC, datetime

import pytest
import time_machine

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SEED, make_credential
from tests.vault.test_history import active_lease
from vault import services
from vault.models import Credential, CredentialType
from vault.services import history as history_services

RFC_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of b"12345678901234567890"
# (unix time, 6-digit code, seconds left in its window) from RFC 6238 appendix B.
AT_1111111109 = (1111111109, "081804", 1)
AT_1111111111 = (1111111111, "050471", 29)
AT_1234567890 = (1234567890, "005924", 30)


def at(moment: int):
    return time_machine.travel(datetime.fromtimestamp(moment, tz=UTC), tick=False)


def url(credential) -> str:
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/totp/"


def detail(credential) -> str:
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/"


def standard(client, seed=RFC_SEED, **overrides):
    fields = {"name": "M365 reception", "credential_type": CredentialType.STANDARD_USER}
    return make_credential(client=client, totp_seed=seed, **{**fields, **overrides})


def shown():
    return AuditEvent.objects.filter(action="credential.totp_code_shown")


@pytest.fixture
def vic(client_a):
    user = UserFactory(email="vic@msp.example")
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.VIEW)
    return user


@pytest.fixture
def pat(client_a):
    """Technician with privileged access to client A (may check out high-privilege ones)."""
    user = UserFactory(email="pat@msp.example", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.mark.django_db
def test_use_level_gets_the_current_code_and_seconds_left_with_one_event(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    moment, code, left = AT_1111111109
    with at(moment):
        response = client.post(url(credential), {"ticket": "T-31"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-totp-value aria-label="Current code">{code[:3]} {code[3:]}</span>' in html
    assert f'data-seconds-left="{left}"' in html
    assert 'data-show-seconds="120"' in html
    assert "no-store" in response["Cache-Control"]
    assert RFC_SEED not in html
    event = shown().get()
    assert (event.outcome, event.actor_user_id, event.client_id) == ("success", bob.pk, client_a.pk)
    assert event.target_id == str(credential.pk)
    assert event.ticket == "T-31"
    assert event.details == {"field": "totp_seed", "tier": "standard", "window": moment // 30}
    dump = str(event.details) + event.reason
    assert code not in dump
    assert RFC_SEED not in dump


@pytest.mark.django_db
def test_each_request_is_audited_and_a_new_window_gives_a_new_code(bob, client_a):
    credential = standard(client_a)
    codes = []
    for moment, code, left in (AT_1111111109, AT_1111111111, AT_1234567890):
        with at(moment):
            result = history_services.credential_totp_code(actor=bob, credential=credential)
        codes.append(result.code)
        assert (result.code, result.seconds_left, result.window) == (code, left, moment // 30)
        assert code not in repr(result)
    assert codes == ["081804", "050471", "005924"]
    assert shown().count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        f"otpauth://totp/Contoso:reception?secret={RFC_SEED}&issuer=Contoso",
        RFC_SEED + "====",
    ],
)
def test_seeds_are_read_as_an_authenticator_app_would(bob, client_a, typed):
    credential = standard(client_a, seed=typed)
    moment, code, _ = AT_1234567890
    with at(moment):
        assert history_services.credential_totp_code(actor=bob, credential=credential).code == code


@pytest.mark.django_db
def test_a_seed_whose_length_is_not_whole_bytes_still_gives_six_digits(bob, client_a):
    credential = standard(client_a, seed=SEED)  # 22 characters, as the credential tests store
    code = history_services.credential_totp_code(actor=bob, credential=credential).code
    assert len(code) == 6
    assert code.isdigit()


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["not base32 at all!", "GEZDGNBV", "JBSWY3DP1"])
def test_an_unusable_seed_is_refused_without_echoing_it(client, bob, client_a, typed):
    credential = standard(client_a, seed=typed)
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "not a base32 key" in html
    assert typed not in html
    assert not shown().exists()


@pytest.mark.django_db
def test_view_level_gets_403_and_a_denied_event(client, vic, client_a):
    credential = standard(client_a)
    sign_in(client, vic)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 403
    assert "data-totp-value" not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = shown().get()
    assert (event.outcome, event.actor_user_id) == ("denied", vic.pk)


@pytest.mark.django_db
def test_another_clients_technician_gets_404(client, charlie, client_a):
    credential = standard(client_a)
    sign_in(client, charlie)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 404
    assert client_a.name not in response.content.decode()
    assert "data-totp-value" not in response.content.decode()
    assert not shown().exists()


@pytest.mark.django_db
def test_high_privilege_codes_need_the_holders_active_checkout(client, pat, bob, client_a):
    credential = make_credential(client=client_a, totp_seed=RFC_SEED)  # domain admin
    sign_in(client, pat)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 403
    assert "active checkout" in response.content.decode()
    assert shown().get().outcome == "denied"

    lease = active_lease(credential, pat)
    moment, code, _ = AT_1234567890
    with at(moment):
        # The lease is checked against the travelled clock too: keep it running then.
        lease.starts_at = datetime.fromtimestamp(moment - 60, tz=UTC)
        lease.expires_at = datetime.fromtimestamp(moment + 3600, tz=UTC)
        lease.save(update_fields=["starts_at", "expires_at"])
        sign_in(client, pat)
        response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 200
    assert f"{code[:3]} {code[3:]}" in response.content.decode()
    event = shown().get(outcome="success")
    assert event.details["checkout"] == str(lease.pk)
    assert event.ticket == "T-LEASE"
    # Someone else's lease does not open it for bob.
    with pytest.raises(AccessDenied):
        history_services.credential_totp_code(actor=bob, credential=credential)


@pytest.mark.django_db
def test_no_seed_archived_and_emergency_are_refused(alice, bob, client_a):
    without = make_credential(
        client=client_a, credential_type=CredentialType.STANDARD_USER, totp_seed=""
    )
    with pytest.raises(InvalidRequest, match="no TOTP seed"):
        history_services.credential_totp_code(actor=bob, credential=without)
    archived = standard(client_a, name="Old reception")
    services.credential_archive(actor=alice, credential=archived, reason="retired")
    with pytest.raises(InvalidRequest, match="archived"):
        history_services.credential_totp_code(actor=bob, credential=archived)
    sealed = standard(client_a, name="Break-glass")
    Credential.objects.filter(pk=sealed.pk).update(is_emergency=True)
    with pytest.raises(AccessDenied, match="emergency"):
        history_services.credential_totp_code(actor=bob, credential=sealed)
    assert not shown().filter(outcome="success").exists()


@pytest.mark.django_db
def test_a_seed_that_does_not_decrypt_is_reported(client, bob, client_a):
    credential = standard(client_a)
    other = standard(client_a, name="Other")
    Credential.objects.filter(pk=credential.pk).update(
        totp_seed=Credential.objects.get(pk=other.pk).totp_seed
    )
    sign_in(client, bob)
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 503
    assert "cannot be decrypted" in response.content.decode()
    failure = AuditEvent.objects.get(action="vault.decryption_failed")
    assert (failure.actor_user_id, failure.target_id) == (bob.pk, str(credential.pk))
    assert not shown().exists()


@pytest.mark.django_db
def test_a_failing_audit_insert_shows_no_code(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    break_audit_inserts()
    response = client.post(url(credential), {"ticket": ""})
    assert response.status_code == 503
    assert "data-totp-value" not in response.content.decode()
    assert "audit log" in response.content.decode()


@pytest.mark.django_db
def test_detail_page_offers_show_code_but_never_holds_the_seed(client, bob, vic, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    html = client.get(detail(credential)).content.decode()
    assert f'hx-post="{url(credential)}"' in html
    assert 'hx-target="#totp-slot"' in html
    assert ">Show code</button>" in html
    assert RFC_SEED not in html
    sign_in(client, vic)
    html = client.get(detail(credential)).content.decode()
    assert f'hx-post="{url(credential)}"' not in html
    assert "Stored, hidden" in html
    assert not shown().exists()


@pytest.mark.django_db
def test_detail_page_of_a_high_privilege_credential_without_a_lease_offers_no_code(
    client, pat, client_a
):
    credential = make_credential(client=client_a, totp_seed=RFC_SEED)
    sign_in(client, pat)
    html = client.get(detail(credential)).content.decode()
    assert f'hx-post="{url(credential)}"' not in html
    assert "holder of an active checkout" in html
    active_lease(credential, pat)
    html = client.get(detail(credential)).content.decode()
    assert f'hx-post="{url(credential)}"' in html


@pytest.mark.django_db
def test_get_is_not_allowed(client, bob, client_a):
    credential = standard(client_a)
    sign_in(client, bob)
    assert client.get(url(credential)).status_code == 405
    assert not shown().exists()
