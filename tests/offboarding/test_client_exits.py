"""Client offboarding: open, decide (hand over or rotate), the handover KeePass file, confirm
(every staff access ended), and the retention job that crypto-shreds the client's keys."""

import io
import logging
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client as Browser
from django.utils import timezone
from pykeepass import PyKeePass
from pykeepass.exceptions import CredentialsError

from accounts.models import Role
from audit.models import AuditEvent
from audit.verification import audit_chain_check
from config.errors import AccessDenied, InvalidRequest, NotFound
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from offboarding.services import client_exits as services
from offboarding.tasks import client_exits_shred_due
from offboarding.views.client_exits import HANDOVER_CACHE_PREFIX
from rotation.models import RotationReason, RotationTask
from rotation.services.tasks import rotation_task_complete
from tenants.models import AccessLevel, Assignment, Client
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import SystemFactory, UserFactory
from tests.security.test_no_plain_mfa_secrets import database_dump
from vault import selectors as vault_selectors
from vault import services as vault_services
from vault.envelope import SecretUnavailable, field_decrypt
from vault.models import CREDENTIAL_RECORD_TYPE, ClientDataKey, Credential, CredentialType

Step = CaseEvidence.Step
SEED = "JBSWY3DPEHPK3PXPCANARY"


@pytest.fixture
def dave(client_a):
    """Technician with privileged access to client A (may check out high privilege)."""
    user = UserFactory(email="dave@msp.example", full_name="Dave Senior", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.fixture
def world(client_a, client_b, alice, bob, charlie, dave, admin_user):
    """Client A with four credentials (one archived) on two systems, client B with one."""
    dc = SystemFactory(client=client_a, name="DC01")
    fw = SystemFactory(client=client_a, name="FW01")
    make = vault_services.credential_create
    credentials = [
        make(
            actor=alice,
            client=client_a,
            system=dc,
            name="DC01 domain admin",
            credential_type=CredentialType.DOMAIN_ADMIN,
            username="CONTOSO\\administrator",
            secret="Canary-Domain-Admin-1a",
            notes="Break-glass notes 1b",
            totp_seed=SEED,
            host="https://dc01.contoso.example",
        ),
        make(
            actor=alice,
            client=client_a,
            system=fw,
            name="Firewall admin",
            credential_type=CredentialType.FIREWALL_ADMIN,
            username="admin",
            secret="Canary-Firewall-2a",
            is_shared=True,
        ),
        make(
            actor=alice,
            client=client_a,
            name="Reception PC",
            credential_type=CredentialType.STANDARD_USER,
            username="reception",
            secret="Canary-Reception-3a",
            is_shared=True,
        ),
    ]
    archived = make(
        actor=alice,
        client=client_a,
        name="Old NAS",
        credential_type=CredentialType.OTHER,
        secret="Canary-Archived-4a",
    )
    vault_services.credential_archive(actor=alice, credential=archived, reason="Decommissioned")
    other = make(
        actor=admin_user,
        client=client_b,
        name="Fabrikam router",
        credential_type=CredentialType.OTHER,
        secret="Canary-Fabrikam-5a",
    )
    return {"credentials": credentials, "archived": archived, "other": other}


def events(action):
    return AuditEvent.objects.filter(action=action)


def steps(case):
    return list(CaseEvidence.objects.filter(case=case).values_list("step", flat=True))


def opened_case(alice, client_a):
    return services.client_exit_open(actor=alice, client=client_a, reason="Contract ends")


def ready_case(alice, client_a):
    """A case with every credential handed over: ready to confirm."""
    case = opened_case(alice, client_a)
    services.client_exit_hand_over_all(actor=alice, case=case)
    return case


def secret_of(credential) -> str:
    row = Credential.objects.get(pk=credential.pk)
    return field_decrypt(
        client=row.client,
        record_type=CREDENTIAL_RECORD_TYPE,
        record_id=str(row.pk),
        field="secret",
        sealed=row.secret,
    ).decode()


# --- Open ----------------------------------------------------------------------------------


def test_open_by_manager_lists_every_live_credential_and_marks_the_client_offboarding(
    world, alice, client_a
):
    case = opened_case(alice, client_a)

    assert case.kind == OffboardingCase.Kind.CLIENT
    assert case.status == OffboardingCase.Status.DRAFT
    listed = set(CaseCredential.objects.filter(case=case).values_list("credential_id", flat=True))
    assert listed == {c.pk for c in world["credentials"]}
    client_a.refresh_from_db()
    assert client_a.status == Client.Status.OFFBOARDING
    event = events("offboarding.client_exit_opened").get()
    assert event.actor_user_id == alice.pk
    assert event.client_id == client_a.pk
    assert event.details["listed"] == 3
    evidence = CaseEvidence.objects.get(case=case)
    assert (evidence.step, evidence.audit_event_id) == (Step.OPENED, event.pk)
    assert events("client.status_changed").count() == 1


def test_open_is_refused_to_a_technician_and_to_a_manager_of_another_client(
    world, client_a, client_b, bob
):
    other_manager = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=other_manager, level=AccessLevel.MANAGE)

    with pytest.raises(AccessDenied):
        services.client_exit_open(actor=bob, client=client_a, reason="Leaving")
    with pytest.raises(NotFound):
        services.client_exit_open(actor=other_manager, client=client_a, reason="Leaving")

    assert not OffboardingCase.objects.exists()
    assert events("offboarding.client_exit_opened").filter(outcome="denied").count() == 2


def test_one_live_case_per_client(world, alice, client_a):
    opened_case(alice, client_a)

    with pytest.raises(InvalidRequest, match="already has an offboarding case"):
        opened_case(alice, client_a)
    assert OffboardingCase.objects.filter(client=client_a).count() == 1


# --- Decisions -----------------------------------------------------------------------------


def test_hand_over_and_rotate_decisions_each_leave_one_event_and_their_evidence(
    world, alice, client_a
):
    dc_admin, firewall, _ = world["credentials"]
    case = opened_case(alice, client_a)

    handed = services.client_exit_credential_decide(
        actor=alice, case=case, credential=firewall, handed_over=True
    )
    rotated = services.client_exit_credential_decide(
        actor=alice, case=case, credential=dc_admin, handed_over=False
    )

    assert handed.handed_over
    assert handed.task_id is None
    assert not rotated.handed_over
    assert rotated.task.status == RotationTask.Status.OPEN
    assert list(rotated.task.reasons.values_list("reason", flat=True)) == [
        RotationReason.STAFF_CHANGE
    ]
    decided = list(events("offboarding.credential_decided").order_by("sequence"))
    assert [e.details["decision"] for e in decided] == ["hand_over", "rotate"]
    assert decided[1].details["task"] == str(rotated.task_id)
    rows = CaseEvidence.objects.filter(case=case).exclude(step=Step.OPENED).order_by("at")
    assert [(r.step, r.credential_id, r.audit_event_id) for r in rows] == [
        (Step.CREDENTIAL_HANDED_OVER, firewall.pk, decided[0].pk),
        (Step.ROTATION_REQUESTED, dc_admin.pk, decided[1].pk),
    ]
    with pytest.raises(InvalidRequest, match="already decided"):
        services.client_exit_credential_decide(
            actor=alice, case=case, credential=firewall, handed_over=False
        )


def test_hand_over_all_decides_the_rest_in_one_event(world, alice, bob, client_a):
    dc_admin = world["credentials"][0]
    case = opened_case(alice, client_a)
    services.client_exit_credential_decide(
        actor=alice, case=case, credential=dc_admin, handed_over=False
    )

    with pytest.raises(AccessDenied):
        services.client_exit_hand_over_all(actor=bob, case=case)
    count = services.client_exit_hand_over_all(actor=alice, case=case)

    assert count == 2
    event = events("offboarding.credential_decided").filter(outcome="success").latest("sequence")
    assert sorted(event.details["vault_item_ids"]) == sorted(
        str(c.pk) for c in world["credentials"][1:]
    )
    assert steps(case).count(Step.CREDENTIAL_HANDED_OVER) == 2
    with pytest.raises(InvalidRequest, match="already decided"):
        services.client_exit_hand_over_all(actor=alice, case=case)


# --- The handover file ---------------------------------------------------------------------


def test_handover_kdbx_opens_with_the_passphrase_and_holds_every_live_credential(
    world, alice, client_a
):
    case = opened_case(alice, client_a)

    export = services.client_exit_handover_export(actor=alice, case=case)

    assert len(export.passphrase.split(" ")) == services.HANDOVER_PASSPHRASE_WORDS
    assert export.passphrase not in repr(export)
    database = PyKeePass(io.BytesIO(export.content), password=export.passphrase)
    assert database.version == (4, 0)
    entries = {entry.title: entry for entry in database.entries}
    assert set(entries) == {c.name for c in world["credentials"]}
    for credential in world["credentials"]:
        entry = entries[credential.name]
        assert entry.username == credential.username
        assert entry.password == secret_of(credential)
    dc = entries["DC01 domain admin"]
    assert dc.group.name == "DC01"
    assert dc.notes == "Break-glass notes 1b"
    assert dc.url == "https://dc01.contoso.example"
    assert f"secret={SEED}" in dc.otp
    assert entries["Reception PC"].group.name == "No system"
    with pytest.raises(CredentialsError):
        PyKeePass(io.BytesIO(export.content), password="not the passphrase")
    event = events("offboarding.handover_exported").get()
    assert event.details == {"count": 3, "format": "kdbx4"}
    assert export.passphrase not in str(event.details)
    assert CaseEvidence.objects.get(case=case, step=Step.HANDOVER_EXPORTED).audit_event == event


def test_each_export_gets_a_new_passphrase_and_its_own_event(world, alice, client_a):
    case = opened_case(alice, client_a)

    first = services.client_exit_handover_export(actor=alice, case=case)
    second = services.client_exit_handover_export(actor=alice, case=case)

    assert first.passphrase != second.passphrase
    assert events("offboarding.handover_exported").count() == 2


def test_export_is_refused_to_a_technician(world, alice, bob, dave, client_a):
    case = opened_case(alice, client_a)

    for person in (bob, dave):
        with pytest.raises(AccessDenied):
            services.client_exit_handover_export(actor=person, case=case)

    assert events("offboarding.handover_exported").filter(outcome="denied").count() == 2
    assert not CaseEvidence.objects.filter(case=case, step=Step.HANDOVER_EXPORTED).exists()


# --- Confirm -------------------------------------------------------------------------------


def test_confirm_waits_for_every_decision_and_every_rotation(world, alice, client_a):
    dc_admin = world["credentials"][0]
    case = opened_case(alice, client_a)
    row = services.client_exit_credential_decide(
        actor=alice, case=case, credential=dc_admin, handed_over=False
    )

    with pytest.raises(InvalidRequest, match="Decide every credential first: 2"):
        services.client_exit_confirm(actor=alice, case=case)
    services.client_exit_hand_over_all(actor=alice, case=case)
    with pytest.raises(InvalidRequest, match="1 rotation tasks are still open"):
        services.client_exit_confirm(actor=alice, case=case)
    rotation_task_complete(actor=alice, task=row.task, new_secret="Rotated-Domain-Admin-9z")
    confirmed = services.client_exit_confirm(actor=alice, case=case)

    assert confirmed.status == OffboardingCase.Status.OPEN
    assert events("offboarding.client_exit_confirmed").get().details["rotated"] == 1


def test_after_confirm_no_staff_member_can_see_the_clients_credentials(
    world, alice, bob, dave, admin_user, charlie, client_a, client_b
):
    case = ready_case(alice, client_a)
    grants_before = Assignment.objects.filter(client=client_a).count()
    now = timezone.now()

    with time_machine.travel(now, tick=False):
        confirmed = services.client_exit_confirm(actor=alice, case=case)

    assert Assignment.objects.filter(client=client_a).count() == grants_before
    assert not Assignment.objects.filter(client=client_a, revoked_at__isnull=True).exists()
    assert events("assignment.revoked").filter(client_id=client_a.pk).count() == 4
    client_a.refresh_from_db()
    assert client_a.status == Client.Status.OFFBOARDED
    assert confirmed.confirmed_at == now
    assert confirmed.shred_after == now + timedelta(days=90)
    for person in (alice, bob, dave, admin_user):
        assert (
            not vault_selectors.credential_list_for_user(actor=person)
            .filter(client=client_a)
            .exists()
        )
        for credential in world["credentials"]:
            with pytest.raises(NotFound):
                vault_selectors.credential_get_for_user(
                    actor=person, credential_id=credential.pk, level=AccessLevel.VIEW
                )
            with pytest.raises(NotFound):
                vault_services.credential_reveal(actor=person, credential=credential, ticket="T1")
        browser = Browser()
        sign_in(browser, person)
        assert browser.get(f"/clients/{client_a.slug}/credentials/").status_code == 404
    assert vault_selectors.credential_list_for_user(actor=charlie, client=client_b).exists()
    event = events("offboarding.client_exit_confirmed").get()
    assert event.details["revoked_assignments"] == 4
    assert event.details["handed_over"] == 3
    evidence = CaseEvidence.objects.filter(
        case=case, step__in=[Step.ACCESS_REVOKED, Step.CLIENT_OFFBOARDED]
    )
    assert {(row.step, row.audit_event_id, row.at) for row in evidence} == {
        (Step.ACCESS_REVOKED, event.pk, event.occurred_at),
        (Step.CLIENT_OFFBOARDED, event.pk, event.occurred_at),
    }
    with pytest.raises(NotFound):
        services.client_exit_confirm(actor=alice, case=confirmed)


def test_confirm_opens_no_rotation_of_credentials_handed_over(world, alice, dave, client_a):
    # Dave held privileged access: revoking it would open staff-change rotations of the
    # client's high-privilege credentials, which the client has just been handed.
    case = ready_case(alice, client_a)
    services.client_exit_confirm(actor=alice, case=case)
    assert not RotationTask.objects.filter(
        client=client_a, status=RotationTask.Status.OPEN
    ).exists()


def test_retention_setting_sets_the_shredding_date(world, alice, client_a, settings):
    settings.OFFBOARDING_RETENTION_DAYS = 30
    case = ready_case(alice, client_a)

    confirmed = services.client_exit_confirm(actor=alice, case=case)

    assert confirmed.shred_after - confirmed.confirmed_at == timedelta(days=30)


# --- Retention: crypto-shredding -----------------------------------------------------------


def test_retention_job_shreds_the_keys_once_and_the_audit_trail_still_displays(
    world, alice, admin_user, client_a
):
    case = services.client_exit_confirm(actor=alice, case=ready_case(alice, client_a))
    before = case.shred_after - timedelta(minutes=1)
    after = case.shred_after + timedelta(minutes=1)

    with time_machine.travel(before, tick=False):
        assert client_exits_shred_due() == 0
    assert ClientDataKey.objects.filter(client=client_a, state="active").exists()
    with time_machine.travel(after, tick=False):
        assert client_exits_shred_due() == 1
        assert client_exits_shred_due() == 0

    keys = ClientDataKey.objects.filter(client=client_a)
    assert keys.exists()
    assert all(k.state == "destroyed" and bytes(k.wrapped_key) == b"" for k in keys)
    for credential in world["credentials"] + [world["archived"]]:
        with pytest.raises(SecretUnavailable) as raised:
            secret_of(credential)
        assert raised.value.code == "data_key_destroyed"
    assert secret_of(world["other"]) == "Canary-Fabrikam-5a"
    case.refresh_from_db()
    assert case.shredded_at == after
    assert case.status == OffboardingCase.Status.CLOSED
    shredded = events("vault.client_shredded").get()
    assert shredded.actor_user_id is None
    assert shredded.client_id == client_a.pk
    assert CaseEvidence.objects.get(case=case, step=Step.KEYS_SHREDDED).audit_event == shredded
    assert audit_chain_check().ok

    browser = Browser()
    sign_in(browser, admin_user)
    page = browser.get(f"/offboarding/client-exits/{case.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "credential.created" in html
    assert "DC01 domain admin" in html
    assert "vault.client_shredded" in html
    assert "Client keys crypto-shredded" in html
    assert "Canary-" not in html


# --- Pages ---------------------------------------------------------------------------------


def test_manager_walks_through_the_pages_and_the_passphrase_is_never_kept(
    world, alice, bob, client_a, caplog
):
    caplog.set_level(logging.DEBUG)
    browser = Browser()
    sign_in(browser, alice)

    assert browser.get("/offboarding/clients/new/").status_code == 200
    response = browser.post(
        "/offboarding/clients/new/", {"client": client_a.slug, "reason": "Contract ends"}
    )
    case = OffboardingCase.objects.get(client=client_a)
    assert response.status_code == 302
    assert response["Location"] == f"/offboarding/client-exits/{case.pk}/"
    page = browser.get(response["Location"])
    assert page.status_code == 200
    assert "Firewall admin" in page.content.decode()
    firewall = world["credentials"][1]
    response = browser.post(
        f"/offboarding/client-exits/{case.pk}/credentials/{firewall.pk}/decide/",
        {"decision": "hand_over"},
    )
    assert response.status_code == 302
    assert CaseCredential.objects.get(case=case, credential=firewall).handed_over

    assert browser.get(f"/offboarding/client-exits/{case.pk}/handover/").status_code == 200
    shown = browser.post(f"/offboarding/client-exits/{case.pk}/handover/")
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    passphrase = shown.context["passphrase"]
    assert passphrase in shown.content.decode()
    token = browser.session["offboarding_handover_download"]
    assert passphrase.encode() not in cache.get(HANDOVER_CACHE_PREFIX + token)["content"]

    download = browser.post(f"/offboarding/client-exits/{case.pk}/handover/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="contoso-dental-')
    assert "no-store" in download["Cache-Control"]
    database = PyKeePass(io.BytesIO(download.content), password=passphrase)
    assert len(database.entries) == 3
    again = browser.post(f"/offboarding/client-exits/{case.pk}/handover/download/")
    assert again.status_code == 410
    assert cache.get(HANDOVER_CACHE_PREFIX + token) is None
    assert passphrase.encode() not in database_dump()
    assert passphrase not in caplog.text
    assert passphrase not in str(dict(browser.session))

    browser.post(f"/offboarding/client-exits/{case.pk}/hand-over-all/")
    response = browser.post(f"/offboarding/client-exits/{case.pk}/confirm/")
    assert response.status_code == 302
    after = browser.get(f"/offboarding/client-exits/{case.pk}/")
    assert after.status_code == 200
    assert after.context["items"] is None
    assert "Firewall admin" not in after.context["counts"]
    assert after.context["counts"] == {"listed": 3, "handed_over": 3, "rotated": 0}

    technician = Browser()
    sign_in(technician, bob)
    assert technician.get(f"/offboarding/client-exits/{case.pk}/").status_code == 404


def test_handover_page_asks_for_a_fresh_mfa_check(world, alice, client_a, settings):
    case = opened_case(alice, client_a)
    browser = Browser()
    sign_in(browser, alice)

    later = timezone.now() + timedelta(minutes=settings.MFA_STEP_UP_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        response = browser.post(f"/offboarding/client-exits/{case.pk}/handover/")

    assert response.status_code == 302
    assert response["Location"].startswith("/mfa/")
    assert not events("offboarding.handover_exported").exists()
