"""Structured intake: drafts sealed on arrival, one all-or-nothing submit, the onboarding
checklist, the pages and the client notice.

Actions covered here, each with exactly one event per operation: intake.started,
intake.entry_saved, intake.entry_removed, intake.submitted, intake.access_granted.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils.html import escape

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from intake.models import INTAKE_ENTRY_RECORD_TYPE, Intake, IntakeEntry
from intake.selectors.intakes import onboarding_checklist_for_client
from intake.services.intakes import (
    EntryInvalid,
    intake_access_grant,
    intake_draft_get_or_start,
    intake_entry_remove,
    intake_entry_save,
    intake_submit,
)
from rotation.models import RotationTask
from rotation.services.tasks import rotation_task_complete
from tenants.models import AccessLevel, Assignment, System
from tenants.services import assignment_grant, client_create
from tests.conftest import sign_in
from tests.factories import SystemFactory, UserFactory
from tests.security.test_no_plain_mfa_secrets import database_dump
from vault.envelope import SecretUnavailable, field_decrypt
from vault.models import CREDENTIAL_RECORD_TYPE, Credential

SECRET = "Intake-Canary-Secret-4d9e1b"
NOTES = "Intake-Canary-Notes-8c2f: the alarm code is 4711"
SEED = "JBSWY3DPEHPKINTAKECANARY"
NOW = datetime(2026, 4, 14, 9, 30, tzinfo=UTC)


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


@pytest.fixture
def olivia(client_a):
    """Onboarding staff with manage access to client A."""
    user = UserFactory(
        email="olivia@msp.example", full_name="Olivia Onboarding", roles=[Role.ONBOARDING]
    )
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.MANAGE)
    return user


def complete(**overrides) -> dict:
    """Every field an entry needs to be submitted."""
    return {
        "system_name": "DC01",
        "system_kind": "server",
        "credential_type": "domain_admin",
        "username": "CONTOSO\\administrator",
        "access_method": "rdp",
        "host": "dc01.contoso.local",
        "last_rotated_on": date(2025, 11, 3),
        "received_via": "entered",
        "mfa_on_path": "no",
        "secret": SECRET,
        **overrides,
    }


def add_entry(actor, client, **overrides) -> IntakeEntry:
    draft = intake_draft_get_or_start(actor=actor, client=client)
    return intake_entry_save(actor=actor, intake=draft, **complete(**overrides))


def opened(entry: IntakeEntry, field: str) -> str:
    row = IntakeEntry.objects.get(pk=entry.pk)
    return field_decrypt(
        client=row.client,
        record_type=INTAKE_ENTRY_RECORD_TYPE,
        record_id=str(row.pk),
        field=field,
        sealed=getattr(row, field),
    ).decode()


def vault_secret(credential: Credential) -> str:
    return field_decrypt(
        client=credential.client,
        record_type=CREDENTIAL_RECORD_TYPE,
        record_id=str(credential.pk),
        field="secret",
        sealed=Credential.objects.get(pk=credential.pk).secret,
    ).decode()


# --- Drafts --------------------------------------------------------------------------------


def test_a_draft_is_started_once_per_client_with_one_event(olivia, client_a):
    first = intake_draft_get_or_start(actor=olivia, client=client_a)
    again = intake_draft_get_or_start(actor=olivia, client=client_a)
    assert first.pk == again.pk
    assert first.status == Intake.Status.DRAFT
    assert events("intake.started").count() == 1
    event = events("intake.started").get()
    assert event.actor_user_id == olivia.pk
    assert event.client_id == client_a.pk


def test_a_draft_entry_is_sealed_on_arrival_and_the_database_holds_no_plaintext(olivia, client_a):
    entry = add_entry(olivia, client_a, notes=NOTES, totp_seed=SEED)
    assert opened(entry, "secret") == SECRET
    assert opened(entry, "notes") == NOTES
    assert opened(entry, "totp_seed") == SEED
    dump = database_dump()
    for canary in (SECRET, NOTES, SEED):
        assert canary.encode() not in dump
    event = events("intake.entry_saved").get()
    assert event.target_id == str(entry.pk)
    assert event.details["created"] is True
    assert "secret" in event.details["changed"]
    assert SECRET not in str(event.details)
    assert NOTES not in str(event.details)


def test_a_ciphertext_copied_to_another_entry_does_not_open(olivia, client_a):
    first = add_entry(olivia, client_a)
    second = add_entry(olivia, client_a, system_name="FW01", secret="Other-Secret-1")
    IntakeEntry.objects.filter(pk=second.pk).update(secret=first.secret)
    with pytest.raises(SecretUnavailable):
        opened(second, "secret")


def test_a_blank_secret_on_update_keeps_the_sealed_one_and_empty_notes_remove_them(
    olivia, client_a
):
    entry = add_entry(olivia, client_a, notes=NOTES)
    draft = entry.intake
    entry = intake_entry_save(
        actor=olivia, intake=draft, entry=entry, **complete(secret="", username="admin2")
    )
    assert opened(entry, "secret") == SECRET
    assert opened(entry, "notes") == NOTES
    assert entry.username == "admin2"
    entry = intake_entry_save(actor=olivia, intake=draft, entry=entry, **complete(notes=""))
    assert IntakeEntry.objects.get(pk=entry.pk).notes is None
    saved = events("intake.entry_saved").order_by("sequence")
    assert saved.count() == 3
    assert "secret" not in saved[1].details["changed"]
    assert saved[1].details["changed"] == ["username"]


def test_a_draft_may_be_incomplete(olivia, client_a):
    draft = intake_draft_get_or_start(actor=olivia, client=client_a)
    entry = intake_entry_save(actor=olivia, intake=draft, system_name="Printer portal")
    assert entry.secret is None
    assert entry.credential_type == ""
    assert IntakeEntry.objects.filter(intake=draft).count() == 1


FUTURE = datetime.now(tz=UTC).date() + timedelta(days=3)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"system_name": "  "}, "system_name", "Name the system this credential opens"),
        ({"system_name": "S" * 201}, "system_name", "at most 200 characters"),
        ({"system_kind": "castle"}, "system_kind", "Choose a kind of system"),
        ({"credential_type": "root"}, "credential_type", "Choose a credential type"),
        ({"access_method": "telnet"}, "access_method", "Choose an access method"),
        ({"host": "javascript:alert(1)"}, "host", "other kinds of links are refused"),
        ({"host": "h" * 501}, "host", "at most 500 characters"),
        ({"username": "u" * 255}, "username", "at most 254 characters"),
        ({"received_via": "fax"}, "received_via", "how the credential reached you"),
        ({"mfa_on_path": "maybe"}, "mfa_on_path", "Say yes, no or unknown"),
        ({"last_rotated_on": FUTURE}, "last_rotated_on", "cannot be in the future"),
        ({"rotation_unknown": True}, "rotation_unknown", "Give the date or tick Unknown"),
        ({"secret": "s" * 4097}, "secret", "at most 4096 characters"),
        ({"notes": "n" * 10_001}, "notes", "at most 10000 characters"),
        ({"totp_seed": "t" * 257}, "totp_seed", "at most 256 characters"),
        ({"access": [{"role": "Wizard", "level": 20}]}, "access_use", "not a role"),
        ({"access": [{"role": "Technician", "level": 99}]}, "access_use", "Choose view, use"),
        (
            {"access": [{"user_id": "00000000-0000-0000-0000-000000000001", "level": 30}]},
            "access_privileged",
            "not an active staff member",
        ),
    ],
)
def test_each_bad_value_is_refused_beside_its_field_and_nothing_is_saved(
    olivia, client_a, overrides, field, message
):
    draft = intake_draft_get_or_start(actor=olivia, client=client_a)
    with pytest.raises(FieldInvalid, match=message) as refused:
        intake_entry_save(actor=olivia, intake=draft, **complete(**overrides))
    assert refused.value.field == field
    assert not IntakeEntry.objects.exists()
    assert not AuditEvent.objects.filter(action="intake.entry_saved").exists()


def test_a_person_named_at_two_levels_is_refused(olivia, bob, client_a):
    draft = intake_draft_get_or_start(actor=olivia, client=client_a)
    access = [{"user_id": str(bob.pk), "level": 20}, {"user_id": str(bob.pk), "level": 40}]
    with pytest.raises(FieldInvalid, match="Bob Tech is listed at two levels") as refused:
        intake_entry_save(actor=olivia, intake=draft, **complete(access=access))
    assert refused.value.field == "access_manage"


def test_a_deactivated_staff_member_cannot_be_named(olivia, client_a):
    gone = UserFactory(full_name="Gone Person", is_active=False)
    draft = intake_draft_get_or_start(actor=olivia, client=client_a)
    with pytest.raises(FieldInvalid, match="not an active staff member"):
        intake_entry_save(
            actor=olivia,
            intake=draft,
            **complete(access=[{"user_id": str(gone.pk), "level": 20}]),
        )
    assert not IntakeEntry.objects.exists()


def test_removing_an_entry_records_one_event(olivia, client_a):
    entry = add_entry(olivia, client_a)
    intake_entry_remove(actor=olivia, entry=entry)
    assert not IntakeEntry.objects.filter(pk=entry.pk).exists()
    assert events("intake.entry_removed").count() == 1
    assert events("intake.entry_removed").get().target_id == str(entry.pk)


# --- Who may run an intake -----------------------------------------------------------------


def test_staff_of_another_client_get_not_found_and_the_attempt_is_recorded(
    olivia, charlie, client_a, client_b
):
    with pytest.raises(NotFound):
        intake_draft_get_or_start(actor=olivia, client=client_b)
    entry = add_entry(olivia, client_a)
    for attempt in (
        lambda: intake_entry_save(actor=charlie, intake=entry.intake, entry=entry, **complete()),
        lambda: intake_entry_remove(actor=charlie, entry=entry),
        lambda: intake_submit(actor=charlie, intake=entry.intake),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert events("intake.started", "denied").count() == 1
    assert events("intake.entry_saved", "denied").count() == 1
    assert events("intake.entry_removed", "denied").count() == 1
    assert events("intake.submitted", "denied").count() == 1
    assert IntakeEntry.objects.get(pk=entry.pk).credential is None


def test_use_level_and_technicians_without_the_onboarding_role_are_refused(olivia, bob, client_a):
    with pytest.raises(AccessDenied, match="needs manage access"):
        intake_draft_get_or_start(actor=bob, client=client_a)
    technician = UserFactory(roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=technician, level=AccessLevel.MANAGE)
    with pytest.raises(AccessDenied, match="Only onboarding staff, managers or administrators"):
        intake_draft_get_or_start(actor=technician, client=client_a)
    assert not Intake.objects.exists()


def test_managers_and_administrators_may_run_an_intake(alice, admin_user, client_a):
    assert intake_draft_get_or_start(actor=alice, client=client_a).client == client_a
    assert intake_draft_get_or_start(actor=admin_user, client=client_a).created_by == alice


# --- Submit --------------------------------------------------------------------------------


def test_submit_creates_systems_credentials_access_and_tasks_in_one_go(
    alice, bob, client_a, system_a
):
    add_entry(
        alice,
        client_a,
        system_name="dc01",  # the existing DC01, whatever the case
        notes=NOTES,
        totp_seed=SEED,
        access=[{"user_id": str(bob.pk), "level": AccessLevel.PRIVILEGED}],
    )
    add_entry(
        alice,
        client_a,
        system_name="Microsoft 365",
        system_kind="cloud_tenant",
        credential_type="cloud_tenant_admin",
        username="admin@contoso.onmicrosoft.com",
        access_method="web_portal",
        host="https://admin.microsoft.com",
        last_rotated_on=None,
        rotation_unknown=True,
        received_via="intake_link",
        mfa_on_path="yes",
        secret="M365-Secret-1",
    )
    draft = Intake.objects.get(client=client_a, status="draft")
    intake = intake_submit(actor=alice, intake=draft)

    assert intake.status == Intake.Status.SUBMITTED
    assert intake.submitted_by == alice
    entries = list(IntakeEntry.objects.filter(intake=intake))
    dc01, m365 = (entry.credential for entry in entries)
    assert dc01.system == system_a
    assert System.objects.filter(client=client_a).count() == 2
    assert (m365.system.name, m365.system.kind) == ("Microsoft 365", "cloud_tenant")
    assert vault_secret(dc01) == SECRET
    assert (dc01.source, dc01.status, dc01.access_method) == ("intake", "active", "rdp")
    assert dc01.last_rotated_at == datetime(2025, 11, 3, tzinfo=UTC)
    assert dc01.mfa_on_path == "no"
    assert dc01.name == "DC01 · CONTOSO\\administrator"
    assert (m365.source, m365.status, m365.mfa_on_path) == ("client_link", "active", "yes")
    assert m365.last_rotated_at is None
    assert all(entry.system_id == entry.credential.system_id for entry in entries)
    grant = Assignment.objects.get(user=bob, client=client_a, revoked_at=None)
    assert grant.level == AccessLevel.PRIVILEGED
    assert not RotationTask.objects.exists()
    event = events("intake.submitted").get()
    assert event.details == {
        "entries": 2,
        "systems_created": 1,
        "vault_items": 2,
        "exposed": 0,
        "inherited": 0,
        "rotation_tasks": 0,
        "access_granted": 1,
        "access_waiting": 0,
    }
    assert events("credential.created").count() == 2
    assert events("system.created").count() == 1


def test_a_role_grants_every_active_member_and_never_lowers_anyone(alice, bob, client_a):
    auditor = UserFactory(full_name="Audrey Auditor", roles=[Role.AUDITOR])
    UserFactory(full_name="Former Auditor", roles=[Role.AUDITOR], is_active=False)
    lead = UserFactory(full_name="Lead Auditor", roles=[Role.AUDITOR])
    assignment_grant(actor=None, client=client_a, user=lead, level=AccessLevel.MANAGE)
    add_entry(alice, client_a, access=[{"role": Role.AUDITOR, "level": AccessLevel.VIEW}])
    intake_submit(actor=alice, intake=Intake.objects.get(client=client_a))
    active = Assignment.objects.filter(client=client_a, revoked_at=None)
    assert active.get(user=auditor).level == AccessLevel.VIEW
    assert active.get(user=lead).level == AccessLevel.MANAGE
    assert not active.filter(user__full_name="Former Auditor").exists()
    assert events("intake.submitted").get().details["access_granted"] == 1


def test_onboarding_staff_submit_and_a_manager_grants_the_access_asked_for(
    olivia, alice, bob, client_a
):
    pat = UserFactory(full_name="Pat Newhire", roles=[Role.TECHNICIAN])
    add_entry(
        olivia,
        client_a,
        access=[
            {"user_id": str(pat.pk), "level": AccessLevel.USE},
            {"user_id": str(bob.pk), "level": AccessLevel.USE},  # bob already has use
        ],
    )
    intake_submit(actor=olivia, intake=Intake.objects.get(client=client_a))
    assert not Assignment.objects.filter(user=pat).exists()
    assert events("intake.submitted").get().details["access_waiting"] == 2
    access = onboarding_checklist_for_client(actor=olivia, client=client_a).items[2]
    assert (access.key, access.count, access.total, access.done) == ("access", 1, 2, False)

    with pytest.raises(AccessDenied, match="Only managers or administrators"):
        intake_access_grant(actor=olivia, client=client_a)
    assert intake_access_grant(actor=alice, client=client_a) == 1
    assert Assignment.objects.get(user=pat, revoked_at=None).level == AccessLevel.USE
    assert events("intake.access_granted").count() == 1
    assert events("intake.access_granted").get().details == {"granted": 1}
    assert onboarding_checklist_for_client(actor=alice, client=client_a).items[2].done
    with pytest.raises(InvalidRequest, match="already in place"):
        intake_access_grant(actor=alice, client=client_a)


@pytest.mark.parametrize("channel", ["email", "chat"])
def test_a_credential_received_by_email_or_chat_is_exposed_with_a_task_due_now(
    olivia, client_a, channel
):
    with time_machine.travel(NOW, tick=False):
        add_entry(olivia, client_a, received_via=channel)
        intake_submit(actor=olivia, intake=Intake.objects.get(client=client_a))
    credential = Credential.objects.get(client=client_a)
    assert credential.status == Credential.Status.EXPOSED
    assert credential.source == Credential.Source.INTAKE
    task = RotationTask.objects.get(credential=credential)
    assert task.status == RotationTask.Status.OPEN
    assert task.due_at == NOW
    assert list(task.reasons.values_list("reason", flat=True)) == ["exposed"]
    created = events("credential.created").get()
    assert created.details["status"] == "exposed"
    assert events("intake.submitted").get().details["exposed"] == 1


@pytest.mark.parametrize(
    ("credential_type", "due_in"),
    [
        ("domain_admin", timedelta(hours=48)),
        ("firewall_admin", timedelta(hours=48)),
        ("service_account", timedelta(days=365)),  # the client's service interval
        ("standard_user", timedelta(days=90)),  # no schedule: the high-privilege interval
    ],
)
def test_an_inherited_credential_is_compromised_and_due_per_its_privilege(
    olivia, client_a, credential_type, due_in
):
    with time_machine.travel(NOW, tick=False):
        add_entry(olivia, client_a, received_via="inherited", credential_type=credential_type)
        intake_submit(actor=olivia, intake=Intake.objects.get(client=client_a))
    credential = Credential.objects.get(client=client_a)
    assert (credential.source, credential.status) == ("inherited", "compromised")
    task = RotationTask.objects.get(credential=credential)
    assert task.due_at == NOW + due_in
    assert list(task.reasons.values_list("reason", flat=True)) == ["inherited"]


def _three_entries(actor, client, **last):
    add_entry(actor, client, system_name="FS01", received_via="email")
    add_entry(
        actor, client, system_name="FW01", system_kind="firewall", credential_type="firewall_admin"
    )
    return add_entry(actor, client, system_name="NAS01", **last)


def _nothing_created(client, draft, bob, *, systems=0):
    assert System.objects.filter(client=client).count() == systems
    assert not Credential.objects.filter(client=client).exists()
    assert not RotationTask.objects.exists()
    assert not Assignment.objects.filter(
        client=client, user=bob, level__gt=AccessLevel.USE
    ).exists()
    assert Intake.objects.get(pk=draft.pk).status == Intake.Status.DRAFT
    assert not IntakeEntry.objects.filter(intake=draft, credential__isnull=False).exists()
    assert not AuditEvent.objects.filter(
        action__in=[
            "intake.submitted",
            "system.created",
            "credential.created",
            "rotation.task_created",
        ]
    ).exists()


def test_submit_is_all_or_nothing_when_the_last_entry_is_refused(alice, bob, client_a):
    last = _three_entries(
        alice, client_a, secret="", access=[{"user_id": str(bob.pk), "level": 40}]
    )
    IntakeEntry.objects.filter(pk=last.pk).update(secret=None)
    draft = last.intake
    with pytest.raises(EntryInvalid, match=r"Entry 3 \(NAS01\): Enter the secret") as refused:
        intake_submit(actor=alice, intake=draft)
    assert refused.value.field == "secret"
    assert refused.value.entry_id == last.pk
    _nothing_created(client_a, draft, bob)


def test_submit_is_all_or_nothing_when_the_last_entry_names_a_decommissioned_system(
    alice, bob, client_a
):
    SystemFactory(client=client_a, name="NAS01", status=System.Status.DECOMMISSIONED)
    last = _three_entries(alice, client_a, access=[{"user_id": str(bob.pk), "level": 40}])
    with pytest.raises(EntryInvalid, match=r"Entry 3 \(NAS01\): NAS01 is decommissioned"):
        intake_submit(actor=alice, intake=last.intake)
    _nothing_created(client_a, last.intake, bob, systems=1)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"system_name": "New box", "system_kind": ""}, "system_kind", "is a new system"),
        ({"credential_type": ""}, "credential_type", "Choose the credential type"),
        ({"username": ""}, "username", "Enter the username or account"),
        ({"access_method": ""}, "access_method", "Choose how this credential is used"),
        ({"last_rotated_on": None}, "last_rotated_on", "or tick Unknown"),
        ({"received_via": ""}, "received_via", "Say how this credential reached you"),
        ({"mfa_on_path": ""}, "mfa_on_path", "Unknown is an answer"),
        ({"secret": ""}, "secret", "this entry has none saved"),
    ],
)
def test_submit_names_the_entry_and_the_field_that_is_missing(
    olivia, client_a, overrides, field, message
):
    entry = add_entry(olivia, client_a, **overrides)
    with pytest.raises(EntryInvalid, match=message) as refused:
        intake_submit(actor=olivia, intake=entry.intake)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"Entry 1 ({entry.system_name}): ")
    assert not Credential.objects.exists()


def test_an_api_key_needs_no_username(olivia, client_a):
    entry = add_entry(olivia, client_a, credential_type="api_key", username="")
    intake_submit(actor=olivia, intake=entry.intake)
    assert Credential.objects.get(client=client_a).name == "DC01 · API key"


def test_an_empty_or_submitted_intake_cannot_be_submitted_or_changed(olivia, client_a):
    draft = intake_draft_get_or_start(actor=olivia, client=client_a)
    with pytest.raises(InvalidRequest, match="Add at least one entry"):
        intake_submit(actor=olivia, intake=draft)
    entry = add_entry(olivia, client_a)
    intake_submit(actor=olivia, intake=draft)
    with pytest.raises(InvalidRequest, match="already submitted"):
        intake_submit(actor=olivia, intake=draft)
    with pytest.raises(InvalidRequest, match="already submitted"):
        intake_entry_save(actor=olivia, intake=draft, entry=entry, **complete())
    with pytest.raises(InvalidRequest, match="already submitted"):
        intake_entry_remove(actor=olivia, entry=entry)
    assert events("intake.submitted").count() == 1
    assert intake_draft_get_or_start(actor=olivia, client=client_a).pk != draft.pk


def test_after_submit_the_database_still_holds_no_plaintext(olivia, client_a):
    entry = add_entry(olivia, client_a, notes=NOTES)
    intake_submit(actor=olivia, intake=entry.intake)
    assert SECRET.encode() not in database_dump()
    assert opened(entry, "secret") == SECRET


# --- The onboarding checklist --------------------------------------------------------------


def _onboarded_world(actor, client, bob, *, systems: int):
    """`systems` entries: email, inherited and entered in turn, each naming bob."""
    vias = ["email", "inherited", "entered"]
    for index in range(systems):
        add_entry(
            actor,
            client,
            system_name=f"SRV{index:02d}",
            received_via=vias[index % 3],
            mfa_on_path="unknown" if index % 2 else "yes",
            access=[{"user_id": str(bob.pk), "level": AccessLevel.PRIVILEGED}],
        )
    intake_submit(actor=actor, intake=Intake.objects.get(client=client, status="draft"))


def test_the_checklist_counts_each_item_from_vault_tenants_and_rotation(alice, bob, client_a):
    empty = onboarding_checklist_for_client(actor=alice, client=client_a)
    assert [item.done for item in empty.items] == [False, False, False, True, False]
    SystemFactory(client=client_a, name="Printer")
    _onboarded_world(alice, client_a, bob, systems=3)
    checklist = onboarding_checklist_for_client(actor=alice, client=client_a)
    by_key = {item.key: item for item in checklist.items}
    assert (by_key["systems"].count, by_key["systems"].done) == (4, True)
    assert (by_key["credentials"].count, by_key["credentials"].total) == (3, 4)
    assert not by_key["credentials"].done
    assert (by_key["access"].count, by_key["access"].total, by_key["access"].done) == (1, 1, True)
    assert (by_key["rotated"].count, by_key["rotated"].total) == (0, 2)
    assert (by_key["mfa"].count, by_key["mfa"].total, by_key["mfa"].done) == (2, 3, False)
    assert checklist.done_count == 2
    assert [intake.insecure_count for intake in checklist.submitted] == [1]

    for task in RotationTask.objects.all():
        rotation_task_complete(actor=alice, task=task, new_secret=f"Rotated-{task.pk}")
    rotated = onboarding_checklist_for_client(actor=alice, client=client_a).items[3]
    assert (rotated.count, rotated.total, rotated.done) == (2, 2, True)


def test_the_checklist_reads_a_constant_number_of_queries(
    alice, bob, client_a, client_b, django_assert_num_queries
):
    _onboarded_world(alice, client_a, bob, systems=2)
    with django_assert_num_queries(9):
        onboarding_checklist_for_client(actor=alice, client=client_a)
    assignment_grant(actor=None, client=client_b, user=alice, level=AccessLevel.MANAGE)
    assignment_grant(actor=None, client=client_b, user=bob, level=AccessLevel.USE)
    _onboarded_world(alice, client_b, bob, systems=9)
    with django_assert_num_queries(9):
        onboarding_checklist_for_client(actor=alice, client=client_b)


def test_the_checklist_of_another_client_is_not_found(charlie, client_a):
    with pytest.raises(NotFound):
        onboarding_checklist_for_client(actor=charlie, client=client_a)


# --- Pages ---------------------------------------------------------------------------------


def browser_for(client, user):
    sign_in(client, user)
    return client


FORM = {
    "system_name": "DC01",
    "system_kind": "server",
    "credential_type": "domain_admin",
    "username": "administrator",
    "access_method": "rdp",
    "host": "dc01.contoso.local",
    "last_rotated_on": "2025-11-03",
    "received_via": "email",
    "mfa_on_path": "no",
    "secret": SECRET,
}


def test_the_onboarding_page_shows_the_checklist_to_anyone_assigned_and_404_to_others(
    client, olivia, bob, charlie, client_a
):
    page = browser_for(client, olivia).get(f"/clients/{client_a.slug}/onboarding/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("Systems documented", "Credentials collected", "Access assigned"):
        assert label in html
    assert "Exposed and inherited credentials rotated" in html
    assert "MFA status known" in html
    assert "1 of 5 done" in html  # nothing exposed or inherited yet: nothing to rotate
    assert f"/clients/{client_a.slug}/intake/" in html
    assert f"/clients/{client_a.slug}/takeover/" in html
    assert f"/clients/{client_a.slug}/intake-links/" in html
    assert f"/clients/{client_a.slug}/imports/" in html
    read_only = browser_for(client, bob).get(f"/clients/{client_a.slug}/onboarding/")
    assert read_only.status_code == 200
    assert "Start an intake" not in read_only.content.decode()
    assert (
        browser_for(client, charlie).get(f"/clients/{client_a.slug}/onboarding/").status_code == 404
    )


def test_the_client_page_links_to_onboarding(client, bob, client_a):
    html = browser_for(client, bob).get(f"/clients/{client_a.slug}/").content.decode()
    assert f'href="/clients/{client_a.slug}/onboarding/"' in html


def test_the_intake_page_is_for_onboarding_staff_with_manage_access(
    client, olivia, bob, charlie, client_a
):
    assert browser_for(client, bob).get(f"/clients/{client_a.slug}/intake/").status_code == 403
    assert browser_for(client, charlie).get(f"/clients/{client_a.slug}/intake/").status_code == 404
    page = browser_for(client, olivia).get(f"/clients/{client_a.slug}/intake/")
    assert page.status_code == 200
    html = page.content.decode()
    for field, label in [
        ("system_name", "System name"),
        ("system_kind", "Kind of system"),
        ("credential_type", "Credential type"),
        ("username", "Username or account"),
        ("access_method", "Access method"),
        ("host", "Host or URL"),
        ("access_view", "Needs view access"),
        ("access_use", "Needs use access"),
        ("access_privileged", "Needs privileged access"),
        ("access_manage", "Needs manage access"),
        ("last_rotated_on", "Last rotated on"),
        ("rotation_unknown", "Last rotation date unknown"),
        ("received_via", "Received via"),
        ("mfa_on_path", "MFA on this access path"),
        ("notes", "Notes"),
        ("totp_seed", "TOTP seed"),
        ("secret", "Secret"),
    ]:
        assert f'<label for="id_{field}">{label}</label>' in html, field
    assert "Save to draft" in html
    assert "Olivia Onboarding (olivia@msp.example)" in html
    assert "Everyone with the Technician role" in html


def test_adding_an_entry_through_the_page_saves_it_sealed(client, olivia, bob, client_a):
    browser = browser_for(client, olivia)
    response = browser.post(
        f"/clients/{client_a.slug}/intake/", {**FORM, "access_use": [f"user:{bob.pk}"]}
    )
    assert response.status_code == 302
    entry = IntakeEntry.objects.get()
    assert entry.access == [{"user_id": str(bob.pk), "level": AccessLevel.USE}]
    assert opened(entry, "secret") == SECRET
    page = browser.get(f"/clients/{client_a.slug}/intake/").content.decode()
    for shown in ("Exposed: Email", "Secret sealed", "Bob Tech"):
        assert shown in page
    assert SECRET not in page
    assert events("intake.entry_saved").count() == 1


def test_a_refused_value_shows_beside_its_field_and_keeps_what_was_typed(client, olivia, client_a):
    response = browser_for(client, olivia).post(
        f"/clients/{client_a.slug}/intake/",
        {**FORM, "host": "javascript:alert(1)", "username": "kept-username"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "other kinds of links are refused" in html
    assert 'class="field field-invalid"' in html
    assert 'value="kept-username"' in html
    assert SECRET not in html
    assert not IntakeEntry.objects.exists()


def test_editing_an_entry_never_shows_its_secret_and_a_blank_secret_keeps_it(
    client, olivia, client_a
):
    entry = add_entry(olivia, client_a, notes=NOTES)
    browser = browser_for(client, olivia)
    path = f"/clients/{client_a.slug}/intake/entries/{entry.pk}/"
    page = browser.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert "A secret is saved. Leave this blank to keep it." in html
    assert SECRET not in html
    assert NOTES not in html
    assert 'value="CONTOSO\\administrator"' in html
    response = browser.post(path, {**FORM, "secret": "", "username": "renamed"})
    assert response.status_code == 302
    assert opened(entry, "secret") == SECRET
    assert opened(entry, "notes") == NOTES
    assert IntakeEntry.objects.get(pk=entry.pk).username == "renamed"


def test_removing_an_entry_through_the_page(client, olivia, client_a):
    entry = add_entry(olivia, client_a)
    browser = browser_for(client, olivia)
    path = f"/clients/{client_a.slug}/intake/entries/{entry.pk}/remove/"
    assert browser.get(path).status_code == 405
    assert browser.post(path).status_code == 302
    assert not IntakeEntry.objects.exists()


def test_an_entry_of_another_client_is_not_found_on_the_pages(client, olivia, client_b, admin_user):
    other = client_create(actor=admin_user, name="Other Client")
    assignment_grant(actor=admin_user, client=other, user=olivia, level=AccessLevel.MANAGE)
    entry = add_entry(admin_user, client_b)
    browser = browser_for(client, olivia)
    assert browser.get(f"/clients/{other.slug}/intake/entries/{entry.pk}/").status_code == 404
    assert (
        browser.post(f"/clients/{other.slug}/intake/entries/{entry.pk}/remove/").status_code == 404
    )
    notice = f"/clients/{other.slug}/intake/{entry.intake_id}/notice/"
    assert browser.get(notice).status_code == 404
    assert IntakeEntry.objects.filter(pk=entry.pk).exists()


def test_a_refused_submit_opens_the_entry_with_the_message_beside_its_field(
    client, olivia, client_a
):
    entry = add_entry(olivia, client_a, mfa_on_path="")
    response = browser_for(client, olivia).post(f"/clients/{client_a.slug}/intake/submit/")
    assert response.status_code == 400
    html = response.content.decode()
    assert "The intake was not submitted. Entry 1 (DC01): Say whether MFA protects" in html
    assert f"Edit entry 1: {entry.system_name}" in html
    assert 'class="field field-invalid"' in html
    assert not Credential.objects.exists()


def test_submit_with_emailed_credentials_leads_to_the_client_notice(client, olivia, client_a):
    add_entry(olivia, client_a, received_via="email", system_name="Mail server")
    add_entry(olivia, client_a, received_via="phone", system_name="Alarm panel")
    browser = browser_for(client, olivia)
    response = browser.post(f"/clients/{client_a.slug}/intake/submit/")
    intake = Intake.objects.get(client=client_a)
    assert response.status_code == 302
    assert response["Location"] == f"/clients/{client_a.slug}/intake/{intake.pk}/notice/"
    notice = browser.get(response["Location"])
    assert notice.status_code == 200
    html = notice.content.decode()
    assert '<label for="client-notice">' in html
    assert "Mail server" in html
    assert "Alarm panel" not in html
    for point in ("archives", "forwarded", "Anyone with access to the mailbox", "intake link"):
        assert point in html
    assert "Olivia Onboarding" in html


def test_submit_without_insecure_channels_returns_to_the_onboarding_page(client, olivia, client_a):
    add_entry(olivia, client_a, received_via="entered")
    response = browser_for(client, olivia).post(f"/clients/{client_a.slug}/intake/submit/")
    assert response.status_code == 302
    assert response["Location"] == f"/clients/{client_a.slug}/onboarding/"


def test_a_manager_grants_waiting_access_from_the_onboarding_page(
    client, olivia, alice, bob, client_a
):
    newcomer = UserFactory(full_name="Nina Newcomer")
    add_entry(olivia, client_a, access=[{"user_id": str(newcomer.pk), "level": 20}])
    intake_submit(actor=olivia, intake=Intake.objects.get(client=client_a))
    staff_page = browser_for(client, olivia).get(f"/clients/{client_a.slug}/onboarding/")
    assert "Grant requested access" not in staff_page.content.decode()
    browser = browser_for(client, alice)
    page = browser.get(f"/clients/{client_a.slug}/onboarding/").content.decode()
    assert "Grant requested access (1)" in page
    response = browser.post(f"/clients/{client_a.slug}/onboarding/grant-access/", follow=True)
    assert "1 staff member now has the access the intake asked for." in response.content.decode()
    assert Assignment.objects.filter(user=newcomer, client=client_a, revoked_at=None).exists()


# --- Markup typed into every field stays text ----------------------------------------------

PAYLOADS = [
    '<script>alert("kh-xss")</script>',
    '"><img src=x onerror=alert("kh-xss")>',
    "' autofocus onfocus='alert(1)",
]


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_every_intake_field_renders_as_text(client, payload):
    actor = UserFactory(full_name=f"Ona {payload}", roles=[Role.ONBOARDING, Role.MANAGER])
    acme = client_create(actor=actor, name=f"Acme {payload}")
    named = UserFactory(full_name=f"Nat {payload}")
    add_entry(
        actor,
        acme,
        system_name=f"SRV {payload}"[:200],
        username=f"user{payload}",
        received_via="email",
        access=[{"user_id": str(named.pk), "level": AccessLevel.USE}],
    )
    draft = Intake.objects.get(client=acme)
    entry = IntakeEntry.objects.get(intake=draft)
    browser = browser_for(client, actor)

    def inert(path, *shown):
        response = browser.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert payload not in html, path
        for value in (f"Acme {payload}", *shown):
            assert escape(value) in html, (path, value)

    inert(f"/clients/{acme.slug}/intake/", f"SRV {payload}", f"user{payload}", f"Nat {payload}")
    inert(f"/clients/{acme.slug}/intake/entries/{entry.pk}/", f"SRV {payload}", f"user{payload}")
    refused = browser.post(
        f"/clients/{acme.slug}/intake/", {**FORM, "system_name": f"X {payload}", "host": payload}
    )
    assert refused.status_code == 200
    assert payload not in refused.content.decode()
    assert escape(f"X {payload}") in refused.content.decode()
    intake_submit(actor=actor, intake=draft)
    inert(f"/clients/{acme.slug}/onboarding/")
    inert(
        f"/clients/{acme.slug}/intake/{draft.pk}/notice/",
        f"SRV {payload}",
        f"user{payload}",
        f"Ona {payload}",
    )
