"""Every catalogued action: one flow that performs it, and exactly one event it leaves."""

import ast
import base64
import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction
from django.test import Client as Browser

from accounts import services as account_services
from accounts.models import Invitation, Role, TotpDevice
from audit.catalogue import ACTIONS
from audit.management.commands.audit_catalogue import render_catalogue
from audit.models import AuditEvent
from audit.verification import audit_checkpoint_write
from tenants import services as tenant_services
from tenants.models import AccessLevel, Assignment
from tests.accounts.test_mfa import code_for
from tests.conftest import sign_in
from tests.factories import PASSWORD, ClientFactory, UserFactory
from vault import services as vault_services

ROOT = Path(__file__).resolve().parents[2]

# Emitted by services of later issues; each issue moves its actions into FLOWS.
EMITTED_LATER: dict[str, str] = {}


def login(browser, email, password=PASSWORD):
    return browser.post("/login/", {"username": email, "password": password})


def flow_signed_in(w):
    login(Browser(), w.bob.email)
    return w.bob, None, "success"


def flow_signed_out(w):
    browser = Browser()
    sign_in(browser, w.bob)
    browser.post("/logout/")
    return w.bob, None, "success"


def flow_sign_in_failed(w):
    login(Browser(), w.bob.email, "wrong-password-123")
    return None, None, "denied"


def flow_locked_out(w):
    browser = Browser()
    for _ in range(10):
        login(browser, w.bob.email, "wrong-password-123")
    return None, None, "denied"


def flow_mfa_verified(w):
    browser = Browser()
    login(browser, w.bob.email)
    browser.post("/mfa/", {"method": "totp", "code": code_for(w.bob_device)})
    return w.bob, None, "success"


def flow_mfa_failed(w):
    browser = Browser()
    login(browser, w.bob.email)
    wrong = f"{(int(code_for(w.bob_device)) + 1) % 1_000_000:06d}"
    browser.post("/mfa/", {"method": "totp", "code": wrong})
    return w.bob, None, "denied"


def flow_mfa_enrolled(w):
    user = UserFactory(mfa=False)
    device = account_services.totp_enrolment_start(actor=user)
    account_services.totp_enrolment_confirm(actor=user, code=code_for(device))
    return user, None, "success"


def flow_backup_codes(w):
    account_services.backup_codes_regenerate(actor=w.bob)
    return w.bob, None, "success"


def flow_mfa_reset(w):
    account_services.mfa_reset(actor=w.admin, user=w.bob)
    return w.admin, None, "success"


def flow_invitation_created(w):
    account_services.invitation_create(
        actor=w.admin, email="created@msp.example", full_name="New", roles=[Role.TECHNICIAN]
    )
    return w.admin, None, "success"


def flow_invitation_revoked(w):
    invitation, _ = account_services.invitation_create(
        actor=w.admin, email="revoked@msp.example", full_name="New", roles=[Role.TECHNICIAN]
    )
    account_services.invitation_revoke(actor=w.admin, invitation=invitation)
    return w.admin, None, "success"


def flow_invitation_accepted(w):
    _, token = account_services.invitation_create(
        actor=w.admin, email="new@msp.example", full_name="New", roles=[Role.TECHNICIAN]
    )
    user = account_services.invitation_accept(
        token=token, full_name="New", password="a-long-unusual-passphrase"
    )
    assert Invitation.objects.get(email="new@msp.example").accepted_at
    return user, None, "success"


def flow_staff_created(w):
    user = account_services.demo_staff_member_create(
        actor=None,
        email="demo@msp.example",
        full_name="Demo",
        roles=[Role.TECHNICIAN],
        password=PASSWORD,
    )
    assert user.is_demo
    return None, None, "success"


def flow_roles_changed(w):
    account_services.user_roles_set(actor=w.admin, user=w.bob, roles=[Role.MANAGER])
    return w.admin, None, "success"


def flow_deactivated(w):
    account_services.user_deactivate(actor=w.admin, user=w.bob)
    return w.admin, None, "success"


def flow_client_created(w):
    client = tenant_services.client_create(actor=w.admin, name="Tailspin Toys")
    return w.admin, client, "success"


def flow_system_created(w):
    tenant_services.system_create(actor=w.admin, client=w.client_a, name="NAS", kind="server")
    return w.admin, w.client_a, "success"


def flow_assignment_granted(w):
    tenant_services.assignment_grant(
        actor=w.admin, client=w.client_a, user=UserFactory(), level=AccessLevel.USE
    )
    return w.admin, w.client_a, "success"


def flow_assignment_revoked(w):
    assignment = Assignment.objects.get(user=w.bob, client=w.client_a, revoked_at=None)
    tenant_services.assignment_revoke(actor=w.admin, assignment=assignment)
    return w.admin, w.client_a, "success"


def flow_audit_verified(w):
    call_command("audit_verify")
    return None, None, "success"


def flow_checkpoint_written(w):
    audit_checkpoint_write()
    return None, None, "success"


def _sealed_client():
    """A client with one sealed value, so it has a data key (vault flows)."""
    from vault.envelope import field_encrypt

    client = ClientFactory()
    with transaction.atomic():
        sealed = field_encrypt(
            client=client, record_type="flow", record_id="1", field="secret", plaintext=b"x"
        )
    return client, sealed


def flow_kek_rotated(w):
    _sealed_client()
    call_command("rotate_kek", stdout=io.StringIO())
    return None, None, "success"


def flow_client_key_rotation_started(w):
    client, _ = _sealed_client()
    vault_services.client_key_rotation_start(actor=w.admin, client=client)
    return w.admin, client, "success"


def flow_client_key_rotated(w):
    client, _ = _sealed_client()
    vault_services.client_key_rotation_start(actor=w.admin, client=client)
    vault_services.client_key_rotation_step(client_id=client.pk, batch_size=10)
    return None, client, "success"


def flow_client_shredded(w):
    client, _ = _sealed_client()
    vault_services.client_keys_shred(actor=w.admin, client=client, reason="offboarded")
    return w.admin, client, "success"


def flow_decryption_failed(w):
    from audit.services import Target
    from vault.envelope import SecretUnavailable, field_decrypt, recording_decryption_failures

    client, sealed = _sealed_client()
    target = Target(type="flow", id="2", label="secret")
    with (
        pytest.raises(SecretUnavailable),
        recording_decryption_failures(actor=w.bob, client=client, target=target),
    ):
        # Sealed for record 1, presented as record 2: the binding refuses it.
        field_decrypt(
            client=client, record_type="flow", record_id="2", field="secret", sealed=sealed
        )
    return w.bob, client, "error"


def _credential(w):
    from tests.vault.test_credentials import make_credential

    return make_credential(client=w.client_a, actor=w.admin)


def flow_credential_created(w):
    _credential(w)
    return w.admin, w.client_a, "success"


def flow_credential_updated(w):
    vault_services.credential_update(actor=w.admin, credential=_credential(w), secret="New-1")
    return w.admin, w.client_a, "success"


def flow_credential_revealed(w):
    from tests.vault.test_credentials import make_credential

    technician = UserFactory(roles=[Role.TECHNICIAN])
    tenant_services.assignment_grant(
        actor=None, client=w.client_a, user=technician, level=AccessLevel.USE
    )
    credential = make_credential(
        client=w.client_a, actor=w.admin, credential_type="standard_user", name="Front desk"
    )
    vault_services.credential_reveal(actor=technician, credential=credential, ticket="T-1")
    return technician, w.client_a, "success"


def flow_credential_archived(w):
    vault_services.credential_archive(actor=w.admin, credential=_credential(w), reason="retired")
    return w.admin, w.client_a, "success"


FLOWS = {
    "staff.signed_in": flow_signed_in,
    "staff.signed_out": flow_signed_out,
    "staff.sign_in_failed": flow_sign_in_failed,
    "staff.locked_out": flow_locked_out,
    "mfa.verified": flow_mfa_verified,
    "mfa.verification_failed": flow_mfa_failed,
    "mfa.enrolled": flow_mfa_enrolled,
    "mfa.backup_codes_regenerated": flow_backup_codes,
    "mfa.reset": flow_mfa_reset,
    "invitation.created": flow_invitation_created,
    "invitation.revoked": flow_invitation_revoked,
    "invitation.accepted": flow_invitation_accepted,
    "staff.created": flow_staff_created,
    "staff.roles_changed": flow_roles_changed,
    "staff.deactivated": flow_deactivated,
    "client.created": flow_client_created,
    "system.created": flow_system_created,
    "assignment.granted": flow_assignment_granted,
    "assignment.revoked": flow_assignment_revoked,
    "credential.created": flow_credential_created,
    "credential.updated": flow_credential_updated,
    "credential.archived": flow_credential_archived,
    "credential.revealed": flow_credential_revealed,
    "audit.verified": flow_audit_verified,
    "audit.checkpoint_written": flow_checkpoint_written,
    "vault.kek_rotated": flow_kek_rotated,
    "vault.client_key_rotation_started": flow_client_key_rotation_started,
    "vault.client_key_rotated": flow_client_key_rotated,
    "vault.client_shredded": flow_client_shredded,
    "vault.decryption_failed": flow_decryption_failed,
}


class World:
    def __init__(self, admin, bob, client_a):
        self.admin = admin
        self.bob = bob
        self.client_a = client_a
        self.bob_device = TotpDevice.objects.get(user=bob, confirmed=True)


@pytest.fixture
def world(admin_user, bob, client_a):
    return World(admin_user, bob, client_a)


# Actions whose one-event tests live beside their own feature's tests.
TESTED_ELSEWHERE = {
    "staff.break_glass_changed": "tests/accounts/test_break_glass.py",
    "credential.checkout_requested": "tests/vault/test_checkouts.py",
    "credential.checked_out": "tests/vault/test_checkouts.py",
    "credential.checkout_approved": "tests/vault/test_checkouts.py",
    "credential.checkout_denied": "tests/vault/test_checkouts.py",
    "credential.checkout_cancelled": "tests/vault/test_checkouts.py",
    "credential.checked_in": "tests/vault/test_checkouts.py",
    "credential.checkout_expired": "tests/vault/test_checkouts.py",
    "credential.checkout_revoked": "tests/vault/test_checkouts.py",
    "client.vault_policy_updated": "tests/vault/test_vault_policy.py",
    "share_link.created": "tests/vault/test_share_links.py",
    "share_link.revoked": "tests/vault/test_share_links.py",
    "share_link.opened": "tests/vault/test_share_links.py",
    "share_link.revealed": "tests/vault/test_share_links.py",
    "share_link.expired": "tests/vault/test_share_links.py",
    "intake.started": "tests/intake/test_intakes.py",
    "intake.entry_saved": "tests/intake/test_intakes.py",
    "intake.entry_removed": "tests/intake/test_intakes.py",
    "intake.submitted": "tests/intake/test_intakes.py",
    "intake.access_granted": "tests/intake/test_intakes.py",
    "intake.takeover_started": "tests/intake/test_takeover.py",
    "intake.takeover_finding_saved": "tests/intake/test_takeover.py",
    "intake.takeover_step_completed": "tests/intake/test_takeover.py",
    "intake.takeover_step_reopened": "tests/intake/test_takeover.py",
    "intake.import_previewed": "tests/intake/test_imports.py",
    "intake.import_rows_excluded": "tests/intake/test_imports.py",
    "intake.import_confirmed": "tests/intake/test_imports.py",
    "intake.import_cancelled": "tests/intake/test_imports.py",
    "credential.imported": "tests/intake/test_imports.py",
    "rotation.tasks_created": "tests/intake/test_imports.py",
    "offboarding.departure_opened": "tests/offboarding/test_departures.py",
    "offboarding.departure_confirmed": "tests/offboarding/test_departures.py",
    "offboarding.departure_closed": "tests/offboarding/test_departures.py",
    "client.status_changed": "tests/offboarding/test_client_exits.py",
    "offboarding.client_exit_opened": "tests/offboarding/test_client_exits.py",
    "offboarding.credential_decided": "tests/offboarding/test_client_exits.py",
    "offboarding.handover_exported": "tests/offboarding/test_client_exits.py",
    "offboarding.client_exit_confirmed": "tests/offboarding/test_client_exits.py",
    "offboarding.evidence_exported": "tests/offboarding/test_evidence.py",
    "intake_link.created": "tests/intake/test_links.py",
    "intake_link.revoked": "tests/intake/test_links.py",
    "intake_link.opened": "tests/intake/test_links.py",
    "intake_link.submitted": "tests/intake/test_links.py",
    "intake_link.rate_limited": "tests/intake/test_links.py",
    "staged_credential.accepted": "tests/intake/test_links.py",
    "staged_credential.rejected": "tests/intake/test_links.py",
    "audit.exported": "tests/audit/test_export.py",
    "review.signed_off": "tests/audit/test_reviews.py",
    "hygiene_audit.signed_off": "tests/audit/test_reviews.py",
    "credential.emergency_opened": "tests/vault/test_emergency.py",
    "credential.emergency_resealed": "tests/vault/test_emergency.py",
    "credential.history_viewed": "tests/vault/test_history.py",
    "credential.version_revealed": "tests/vault/test_history.py",
    "credential.totp_code_shown": "tests/vault/test_totp_code.py",
    "rotation.policy_updated": "tests/rotation/test_policies.py",
    "rotation.task_created": "tests/rotation/test_tasks.py",
    "rotation.task_reason_added": "tests/rotation/test_tasks.py",
    "rotation.task_completed": "tests/rotation/test_tasks.py",
    "rotation.task_cancelled": "tests/rotation/test_tasks.py",
    "rotation.reminder_sent": "tests/rotation/test_scans.py",
    "rotation.task_escalated": "tests/rotation/test_scans.py",
    "rotation.automated_attempted": "tests/rotation/test_automation.py",
    "rotation.target_saved": "tests/rotation/test_targets.py",
    "rotation.target_removed": "tests/rotation/test_targets.py",
    "rotation.target_checked": "tests/rotation/test_targets.py",
    "client.primary_technician_set": "tests/tenants/test_primary_technician.py",
    "psa.connection_saved": "tests/rotation/test_psa_services.py",
    "psa.ticket_opened": "tests/rotation/test_psa_services.py",
    "psa.ticket_updated": "tests/rotation/test_psa_services.py",
    "psa.ticket_closed": "tests/rotation/test_psa_services.py",
    "psa.call_failed": "tests/rotation/test_psa_services.py",
    "psa.ticket_closed_by_psa": "tests/rotation/test_psa_services.py",
    "api_token.created": "tests/integrations/test_tokens.py",
    "api_token.revoked": "tests/integrations/test_tokens.py",
    "api_token.refused": "tests/integrations/test_tokens.py",
    "api_token.scope_refused": "tests/integrations/test_rest.py",
    "api.rate_limited": "tests/integrations/test_rest.py",
    "webhook.subscription_created": "tests/integrations/test_webhooks.py",
    "webhook.subscription_updated": "tests/integrations/test_webhooks.py",
    "webhook.subscription_deleted": "tests/integrations/test_webhooks.py",
    "webhook.secret_rotated": "tests/integrations/test_webhooks.py",
    "webhook.test_sent": "tests/integrations/test_webhooks.py",
    "webhook.delivery_retried": "tests/integrations/test_webhooks.py",
    "webhook.delivery_failed": "tests/integrations/test_webhooks.py",
}


def test_every_catalogued_action_has_a_flow_or_a_named_later_emitter():
    assert set(ACTIONS) == set(FLOWS) | set(EMITTED_LATER) | set(TESTED_ELSEWHERE)
    for action, path in TESTED_ELSEWHERE.items():
        assert action in (ROOT / path).read_text(), f"{path} does not test {action}"


@pytest.mark.parametrize("action", sorted(FLOWS))
def test_action_leaves_exactly_one_event_with_actor_client_and_outcome(world, action):
    before = AuditEvent.objects.filter(action=action).count()
    actor, client, outcome = FLOWS[action](world)
    events = AuditEvent.objects.filter(action=action)
    assert events.count() == before + 1
    event = events.order_by("-sequence").first()
    assert event.outcome == outcome
    assert event.actor_user_id == (actor.pk if actor else None)
    assert event.client_id == (client.pk if client else None)
    if actor is None:
        assert event.actor_label


def test_denied_attempt_leaves_a_denied_event_and_no_change(world):
    technician = UserFactory(roles=[Role.TECHNICIAN])
    tenant_services.assignment_grant(
        actor=None, client=world.client_a, user=technician, level=AccessLevel.MANAGE
    )
    target = UserFactory()
    with pytest.raises(Exception, match="Only managers or administrators"):
        tenant_services.assignment_grant(
            actor=technician, client=world.client_a, user=target, level=AccessLevel.USE
        )
    assert not Assignment.objects.filter(user=target).exists()
    event = AuditEvent.objects.get(action="assignment.granted", outcome="denied")
    assert event.actor_user_id == technician.pk
    assert event.client_id == world.client_a.pk
    assert "Only managers or administrators" in event.reason


def test_unexpected_error_inside_the_transaction_rolls_back_and_leaves_an_error_event(world):
    from audit.services import Attempt, recording_failures

    class StorageFailure(Exception):
        pass

    def half_done_then_failing() -> None:
        attempt = Attempt(actor=world.admin, action="system.created", client=world.client_a)
        with recording_failures(attempt), transaction.atomic():
            tenant_services.system_create(
                actor=world.admin, client=world.client_a, name="Half", kind="server"
            )
            raise StorageFailure

    with pytest.raises(StorageFailure):
        half_done_then_failing()
    assert not world.client_a.systems.filter(name="Half").exists()
    event = AuditEvent.objects.filter(action="system.created").order_by("-sequence").first()
    assert event.outcome == "error"
    assert event.reason == "StorageFailure"


def test_a_failing_audit_insert_makes_the_action_fail(world):
    from audit.services import AuditWriteError
    from tests.audit.helpers import break_audit_inserts

    break_audit_inserts()
    with pytest.raises(AuditWriteError):
        tenant_services.client_create(actor=world.admin, name="Never Created")
    from tenants.models import Client

    assert not Client.objects.filter(name="Never Created").exists()


def test_sign_in_fails_when_its_event_cannot_be_written(world):
    from tests.audit.helpers import break_audit_inserts

    break_audit_inserts()
    browser = Browser(raise_request_exception=False)
    response = login(browser, world.bob.email)
    assert response.status_code == 500
    assert "_auth_user_id" not in browser.session


def test_the_catalogue_document_is_current():
    assert (ROOT / "docs" / "audit-catalogue.md").read_text() == render_catalogue()


def _service_functions(app):
    """The top-level functions of an app's services module or package."""
    package = ROOT / app / "services"
    paths = sorted(package.glob("*.py")) if package.is_dir() else [ROOT / app / "services.py"]
    return [node for path in paths for node in ast.parse(path.read_text()).body]


def test_every_public_service_records_an_audit_event_or_says_why_not():
    exempt = {
        "accounts.require_role": "a role check, not an action",
        "accounts.totp_uri": "formats the enrolment QR code",
        "accounts.base32_secret": "formats the enrolment key",
        "accounts.totp_enrolment_start": "a pending device; mfa.enrolled records the enrolment",
        "accounts.invitations_purge_expired": "housekeeping of never-used invitations",
        "accounts.notifications_mark_read": "a person marking their own notices read",
        "vault.kek_rotation_remaining": "a progress count for rotate_kek, no action",
        "vault.client_key_rotation_remaining": "a progress count for the rotation, no action",
        "vault.client_key_rotation_step": "records through _client_key_rotation_finish",
        "vault.reveal_ticket_required": "reads the reveal policy, no action",
        "vault.share_token_hash": "hashes a share-link token, no action",
        "intake.intake_token_hash": "hashes an intake-link token, no action",
        "vault.inherited_credential_problems": "a pure check of values, no action",
        "intake.inherited_rotation_due": "computes a due date, no action",
        "offboarding.evidence_add": "writes the evidence row of an event its caller recorded",
        "offboarding.departure_progress_sync": "writes evidence rows citing the "
        "rotation.task_completed events that record each rotation",
        "offboarding.departure_cases_sync": "runs departure_progress_sync for each open case",
        "offboarding.client_exits_shred_due": "shreds each due case in its own transaction; "
        "client_keys_shred records vault.client_shredded",
        "audit.record": "the writer itself",
        "accounts.alert_send": "writes inside the caller's transaction; the caller's action "
        "records the event (e.g. credential.emergency_opened)",
        "accounts.alert_managers": "alert_send for every manager; the caller records the event",
        "accounts.outbox_drain": "housekeeping: delivers alerts whose actions were recorded "
        "when they were written; runs every minute and would flood the chain",
        "audit.recording_failures": "the failure writer itself",
        "rotation.rotation_automated_run_by_id": "loads ids for the Celery job; "
        "rotation_automated_run records rotation.automated_attempted",
        "rotation.rotation_automated_enqueue": "queues the Celery job after commit; "
        "rotation_automated_run records rotation.automated_attempted",
        "rotation.rotation_target_host_key_fetch": "reads an SSH server's public host key for a "
        "manager to compare, storing nothing; rotation.target_saved records pinning it",
        "rotation.rotation_password_generate": "generates a password in memory; the caller "
        "seals it and records its event (rotation.task_completed, rotation.automated_attempted)",
        "rotation.rotation_task_request": "records rotation.task_created or "
        "rotation.task_reason_added through _task_request",
        "rotation.rotation_next_due_recompute": "derived due dates; the policy change or the "
        "task action that runs it records the event",
        "rotation.rotation_next_due_fill_missing": "derived due dates (due scan housekeeping)",
        "rotation.credential_rotation_interval_set": "the vault's credential_update records "
        "credential.updated",
        "rotation.rotation_due_scan": "opens tasks through _task_request, which records "
        "rotation.task_created / rotation.task_reason_added per task",
        "rotation.rotation_staff_change": "opens tasks through rotation_task_request, which "
        "records rotation.task_created per task",
        "rotation.psa_call_enqueue": "queues a PSA call inside the caller's transaction; the "
        "caller's task action records the event (psa.ticket_* record the sending)",
        "integrations.webhook_events_collect": "housekeeping: writes deliveries for events "
        "already recorded; runs every minute and would flood the chain",
        "integrations.webhook_deliveries_retry": "queues due deliveries; webhook_delivery_send "
        "records webhook.delivery_failed when one fails for good",
    }
    missing = []
    for app in (
        "accounts",
        "tenants",
        "audit",
        "vault",
        "rotation",
        "intake",
        "offboarding",
        "integrations",
    ):
        for node in _service_functions(app):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            body = ast.unparse(node)
            records = "record(" in body or "recording_failures(" in body or "_record" in body
            if not records and f"{app}.{node.name}" not in exempt:
                missing.append(f"{app}.services.{node.name}")
    assert missing == []


def test_no_event_holds_a_secret(world):
    """Run every flow, then scan every stored event for the secrets those flows used."""
    from tests.vault.test_credentials import SECRET

    canaries = {PASSWORD, "a-long-unusual-passphrase", "wrong-password-123", SECRET}
    # Flows that take something away from bob run last, lockout at the very end.
    destructive = ["mfa.reset", "staff.roles_changed", "staff.deactivated", "staff.locked_out"]
    for action in [a for a in FLOWS if a not in destructive] + destructive:
        FLOWS[action](world)
    for device in TotpDevice.objects.all():
        secret = device.secret()
        canaries |= {secret.hex(), base64.b32encode(secret).decode().rstrip("=")}
    for event in AuditEvent.objects.filter(action="invitation.created"):
        assert "token" not in str(event.details)
    columns = [field.attname for field in AuditEvent._meta.fields]
    dump = "\n".join(str(row) for row in AuditEvent.objects.values_list(*columns))
    assert AuditEvent.objects.count() > len(FLOWS)
    leaked = sorted(canary for canary in canaries if canary in dump)
    assert leaked == []
    assert django_settings.SECRET_KEY not in dump


def test_record_refuses_secret_looking_details_and_unknown_actions(world):
    from audit import services as audit

    with transaction.atomic(), pytest.raises(ValueError, match="looks like a secret"):
        audit.record(actor=world.admin, action="staff.signed_in", details={"password": "x"})
    with transaction.atomic(), pytest.raises(ValueError, match="not in the audit catalogue"):
        audit.record(actor=world.admin, action="staff.teleported")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_record_outside_a_transaction_is_a_programming_error():
    from audit import services as audit

    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        audit.record(actor=UserFactory(), action="staff.signed_in")
    assert not AuditEvent.objects.filter(action="staff.signed_in").exists()
