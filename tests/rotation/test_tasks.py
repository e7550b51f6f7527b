"""Rotation tasks: request and join, complete with a new secret, cancel with a reason.

Actions covered here, each with exactly one event per operation: rotation.task_created,
rotation.task_reason_added, rotation.task_completed, rotation.task_cancelled.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from audit.services import AuditWriteError
from config.errors import AccessDenied, InvalidRequest, NotFound
from rotation.models import RotationReason, RotationTask
from rotation.services.tasks import (
    GenerateOptions,
    rotation_staff_change,
    rotation_task_cancel,
    rotation_task_complete,
    rotation_task_request,
)
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_grant, assignment_revoke
from tests.audit.helpers import break_audit_inserts
from tests.factories import UserFactory
from tests.rotation.test_views import browser_for
from tests.vault.test_credentials import SECRET, opened
from vault import generator
from vault.models import Credential, CredentialSecretVersion
from vault.services.checkouts import checkout_check_in, checkout_request


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


def set_primary(client, user):
    client.primary_technician = user
    client.save(update_fields=["primary_technician"])


# --- Request and join --------------------------------------------------------------------------


def test_request_opens_one_task_owned_by_the_primary_technician(client_a, bob, standard_credential):
    set_primary(client_a, bob)
    task = rotation_task_request(
        actor=bob, credential=standard_credential, reason=RotationReason.MANUAL, detail="shared"
    )
    assert task.status == RotationTask.Status.OPEN
    assert task.owner == bob
    assert task.client == client_a
    assert list(task.reasons.values_list("reason", "detail")) == [("manual", "shared")]
    assert events("rotation.task_created").count() == 1
    event = events("rotation.task_created").get()
    assert event.actor_user_id == bob.pk
    assert event.details["vault_item_id"] == str(standard_credential.pk)
    assert SECRET not in str(event.details)


def test_high_privilege_task_goes_to_managers_queue_when_primary_lacks_privileged_level(
    client_a, bob, high_credential
):
    set_primary(client_a, bob)  # use level only: cannot rotate a domain admin
    task = rotation_task_request(actor=None, credential=high_credential, reason="manual")
    assert task.owner is None


def test_primary_technician_no_longer_assigned_leaves_the_task_to_managers(
    client_a, alice, bob, standard_credential
):
    set_primary(client_a, bob)
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=bob, client=client_a, revoked_at=None)
    )
    task = rotation_task_request(actor=alice, credential=standard_credential, reason="manual")
    assert task.owner is None


def test_a_new_reason_joins_the_open_task_and_only_moves_the_due_time_earlier(
    alice, standard_credential
):
    now = timezone.now()
    task = rotation_task_request(
        actor=None, credential=standard_credential, reason="schedule", due_at=now + timedelta(5)
    )
    later = rotation_task_request(
        actor=alice, credential=standard_credential, reason="exposed", due_at=now + timedelta(9)
    )
    assert later.pk == task.pk
    assert RotationTask.objects.get(pk=task.pk).due_at == now + timedelta(5)
    sooner = rotation_task_request(
        actor=alice,
        credential=standard_credential,
        reason="suspected_compromise",
        due_at=now + timedelta(1),
    )
    assert sooner.pk == task.pk
    assert RotationTask.objects.get(pk=task.pk).due_at == now + timedelta(1)
    assert RotationTask.objects.filter(credential=standard_credential).count() == 1
    assert sorted(task.reasons.values_list("reason", flat=True)) == [
        "exposed",
        "schedule",
        "suspected_compromise",
    ]
    assert events("rotation.task_created").count() == 1
    assert events("rotation.task_reason_added").count() == 2


def test_the_same_reason_again_changes_nothing_and_records_nothing(alice, standard_credential):
    rotation_task_request(actor=alice, credential=standard_credential, reason="manual")
    before = AuditEvent.objects.count()
    rotation_task_request(
        actor=alice,
        credential=standard_credential,
        reason="manual",
        due_at=timezone.now() + timedelta(days=3),
    )
    assert AuditEvent.objects.count() == before


def test_request_by_a_technician_of_another_client_is_404_and_audited(charlie, standard_credential):
    with pytest.raises(NotFound):
        rotation_task_request(actor=charlie, credential=standard_credential, reason="manual")
    assert not RotationTask.objects.exists()
    assert events("rotation.task_created", "denied").count() == 1


def test_request_with_an_unknown_reason_or_archived_credential_is_refused(
    alice, standard_credential
):
    from vault.services import credential_archive

    with pytest.raises(InvalidRequest, match="not a known reason"):
        rotation_task_request(actor=alice, credential=standard_credential, reason="whim")
    credential_archive(actor=alice, credential=standard_credential, reason="retired")
    with pytest.raises(InvalidRequest, match="archived"):
        rotation_task_request(actor=alice, credential=standard_credential, reason="manual")
    assert not RotationTask.objects.exists()


def test_staff_change_opens_tasks_for_high_privilege_credentials_only(
    client_a, alice, high_credential, standard_credential
):
    assert rotation_staff_change(actor=alice, client=client_a, detail="Dana left") == 1
    task = RotationTask.objects.get()
    assert task.credential_id == high_credential.pk
    assert list(task.reasons.values_list("reason", flat=True)) == ["staff_change"]


# --- Complete ----------------------------------------------------------------------------------


def test_technician_completes_with_a_typed_secret_and_it_becomes_the_current_version(
    client_a, bob, standard_credential
):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    done = rotation_task_complete(actor=bob, task=task, new_secret="Fresh-Secret-4411")
    assert done.status == RotationTask.Status.DONE
    assert done.completed_by == bob
    assert opened(standard_credential, "secret") == "Fresh-Secret-4411"
    replaced = CredentialSecretVersion.objects.get(credential=standard_credential)
    assert done.replaced_version == replaced
    assert replaced.reason == "rotation: manual"
    row = Credential.objects.get(pk=standard_credential.pk)
    assert row.last_rotated_at == done.completed_at
    assert events("rotation.task_completed").count() == 1
    assert events("credential.updated").count() == 1
    event = events("rotation.task_completed").get()
    assert event.details["old_version_id"] == str(replaced.pk)
    assert (event.details["old_version"], event.details["new_version"]) == (1, 2)
    dump = str(event.details) + event.reason
    assert "Fresh-Secret-4411" not in dump
    assert SECRET not in dump


def test_completion_recomputes_next_due_from_the_policy(bob, service_credential):
    task = rotation_task_request(actor=None, credential=service_credential, reason="manual")
    done = rotation_task_complete(actor=bob, task=task, new_secret="Svc-Secret-9981")
    row = Credential.objects.get(pk=service_credential.pk)
    assert row.next_rotation_due == done.completed_at + timedelta(days=365)


def test_generated_secret_completes_the_task(bob, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    rotation_task_complete(actor=bob, task=task, generate=GenerateOptions(length=30))
    new = opened(standard_credential, "secret")
    assert len(new) == 30
    assert new != SECRET
    passphrase_task = rotation_task_request(
        actor=None, credential=standard_credential, reason="manual"
    )
    rotation_task_complete(
        actor=bob, task=passphrase_task, generate=GenerateOptions(passphrase=True, words=4)
    )
    assert opened(standard_credential, "secret").count("-") == 3


def _policy(client, manager, **rules):
    from rotation.services.policies import rotation_policy_update

    return rotation_policy_update(
        actor=manager,
        client=client,
        high_privilege_days=90,
        service_days=365,
        standard_days=None,
        rotate_high_privilege_on_staff_change=True,
        **{
            "password_length": 32,
            "password_symbols": True,
            "password_exclude": "",
            **rules,
        },
    )


def test_a_generated_password_follows_the_clients_rules(client_a, alice, bob, standard_credential):
    _policy(client_a, alice, password_length=40, password_symbols=False, password_exclude="abcXYZ")
    for options in (GenerateOptions(), GenerateOptions(length=20, symbols=True)):
        task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
        rotation_task_complete(actor=bob, task=task, generate=options)
        new = opened(standard_credential, "secret")
        assert not set(new) & set("abcXYZ")
        if options.length is None:
            assert len(new) == 40
            assert not set(new) & set(generator.SYMBOLS)
        else:
            assert len(new) == 20
            assert set(new) & set(generator.SYMBOLS)
    assert events("rotation.task_completed").count() == 2
    assert all(e.details["generated"] for e in events("rotation.task_completed"))


def test_completion_events_name_the_old_and_new_versions_never_their_values(
    bob, standard_credential
):
    """The current secret has no version row until it is replaced: the event names it by
    number, and the next rotation keeps it under exactly that number."""
    first = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    rotation_task_complete(actor=bob, task=first, new_secret="Second-Secret-2")
    second = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    rotation_task_complete(actor=bob, task=second, new_secret="Third-Secret-3")
    one, two = events("rotation.task_completed").order_by("pk")
    versions = {
        v.version: v for v in CredentialSecretVersion.objects.filter(credential=standard_credential)
    }
    assert one.details["old_version_id"] == str(versions[1].pk)
    assert (one.details["old_version"], one.details["new_version"]) == (1, 2)
    assert two.details["old_version_id"] == str(versions[one.details["new_version"]].pk)
    assert (two.details["old_version"], two.details["new_version"]) == (2, 3)
    for event in (one, two):
        dump = str(event.details) + event.reason
        for value in (SECRET, "Second-Secret-2", "Third-Secret-3"):
            assert value not in dump


def test_a_task_cannot_be_done_without_a_new_secret(bob, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    with pytest.raises(InvalidRequest, match="Enter the new secret"):
        rotation_task_complete(actor=bob, task=task, new_secret="")
    with pytest.raises(InvalidRequest, match="same as the current one"):
        rotation_task_complete(actor=bob, task=task, new_secret=SECRET)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert opened(standard_credential, "secret") == SECRET
    assert not events("rotation.task_completed").exists()


def test_high_privilege_needs_privileged_level_but_no_checkout(bob, pat, high_credential):
    task = rotation_task_request(actor=None, credential=high_credential, reason="manual")
    with pytest.raises(AccessDenied):
        rotation_task_complete(actor=bob, task=task, new_secret="New-DA-Secret-1")
    assert events("rotation.task_completed", "denied").count() == 1
    assert opened(high_credential, "secret") == SECRET
    rotation_task_complete(actor=pat, task=task, new_secret="New-DA-Secret-1")
    assert opened(high_credential, "secret") == "New-DA-Secret-1"


def test_completion_by_a_technician_of_another_client_is_404(charlie, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    with pytest.raises(NotFound):
        rotation_task_complete(actor=charlie, task=task, new_secret="Other-Secret-1")
    assert opened(standard_credential, "secret") == SECRET


def test_a_done_task_cannot_be_completed_twice(bob, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    rotation_task_complete(actor=bob, task=task, new_secret="Fresh-Secret-1")
    with pytest.raises(InvalidRequest, match="already done"):
        rotation_task_complete(actor=bob, task=task, new_secret="Fresh-Secret-2")
    assert opened(standard_credential, "secret") == "Fresh-Secret-1"


def test_completion_clears_the_vaults_rotation_mark(client_a, alice, pat, high_credential):
    checkout = checkout_request(
        actor=pat, credential=high_credential, ticket="T-1", reason="fix", duration_minutes=30
    )
    checkout_check_in(actor=pat, checkout=checkout)
    assert Credential.objects.get(pk=high_credential.pk).rotation_required_at is not None
    task = rotation_task_request(actor=None, credential=high_credential, reason="checkout_ended")
    rotation_task_complete(actor=pat, task=task, new_secret="After-Lease-77")
    row = Credential.objects.get(pk=high_credential.pk)
    assert row.rotation_required_at is None
    assert row.rotation_required_reason == ""


def test_completion_fails_whole_when_its_event_cannot_be_written(bob, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    break_audit_inserts()
    with pytest.raises(AuditWriteError):
        rotation_task_complete(actor=bob, task=task, new_secret="Never-Stored-1")
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN


# --- Cancel ------------------------------------------------------------------------------------


def test_manager_cancels_with_a_reason_once(alice, standard_credential):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    with pytest.raises(InvalidRequest, match="Say why"):
        rotation_task_cancel(actor=alice, task=task, reason="  ")
    done = rotation_task_cancel(actor=alice, task=task, reason="Account disabled at the client")
    assert done.status == RotationTask.Status.CANCELLED
    assert done.cancelled_by == alice
    assert events("rotation.task_cancelled").count() == 1
    assert events("rotation.task_cancelled").get().reason == "Account disabled at the client"
    with pytest.raises(InvalidRequest, match="already cancelled"):
        rotation_task_cancel(actor=alice, task=task, reason="again")
    # A new request opens a new task: the cancelled one no longer counts as open.
    again = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    assert again.pk != task.pk


def test_technician_cannot_cancel_and_a_manager_of_another_client_gets_404(
    client_b, bob, standard_credential
):
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    with pytest.raises(AccessDenied):
        rotation_task_cancel(actor=bob, task=task, reason="not needed")
    other_manager = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=other_manager, level=AccessLevel.MANAGE)
    with pytest.raises(NotFound):
        rotation_task_cancel(actor=other_manager, task=task, reason="not needed")
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert events("rotation.task_cancelled", "denied").count() == 2


def test_the_vaults_rotating_mode_changes_only_the_secret(bob, standard_credential):
    from vault.services import credential_update

    with pytest.raises(InvalidRequest, match="only the secret"):
        credential_update(
            actor=bob,
            credential=standard_credential,
            secret="New-1-Secret",
            name="Renamed",
            rotating=True,
        )
    with pytest.raises(AccessDenied):
        credential_update(actor=bob, credential=standard_credential, secret="New-1-Secret")
    assert opened(standard_credential, "secret") == SECRET
    assert Credential.objects.get(pk=standard_credential.pk).name == "Front desk"


def test_task_actions_queue_psa_calls_when_a_psa_is_connected(alice, bob, standard_credential):
    from rotation.models import PsaCall, PsaConnection

    PsaConnection.objects.create(kind="webhook", name="Hook", base_url="https://psa.example")
    task = rotation_task_request(actor=None, credential=standard_credential, reason="manual")
    rotation_task_request(actor=alice, credential=standard_credential, reason="exposed")
    rotation_task_complete(actor=bob, task=task, new_secret="With-Psa-Secret-1")
    operations = list(PsaCall.objects.filter(task=task).values_list("operation", flat=True))
    assert operations == ["open", "update", "close"]
    assert all(
        "With-Psa-Secret-1" not in note for note in PsaCall.objects.values_list("note", flat=True)
    )


def test_losing_privileged_access_opens_staff_change_tasks(
    client_a, alice, bob, pat, high_credential, standard_credential
):
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=bob, client=client_a, revoked_at=None)
    )
    assert not RotationTask.objects.exists()  # bob never had privileged access
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=pat, client=client_a, revoked_at=None)
    )
    task = RotationTask.objects.get()
    assert task.credential_id == high_credential.pk
    reason = task.reasons.get()
    assert reason.reason == "staff_change"
    assert "Pat Privileged" in reason.detail
    assert events("rotation.task_created").count() == 1
    assert events("assignment.revoked").count() == 2


@pytest.mark.parametrize("rotate", [True, False])
def test_lowering_privileged_access_follows_the_clients_staff_change_setting(
    client_a, alice, pat, high_credential, rotate
):
    from rotation.services.policies import rotation_policy_update

    rotation_policy_update(
        actor=alice,
        client=client_a,
        high_privilege_days=90,
        service_days=365,
        standard_days=None,
        rotate_high_privilege_on_staff_change=rotate,
        password_length=32,
        password_symbols=True,
        password_exclude="",
    )
    assignment_grant(actor=alice, client=client_a, user=pat, level=AccessLevel.USE)
    assert RotationTask.objects.filter(credential=high_credential).exists() == rotate


# --- The completion page -----------------------------------------------------------------------


@pytest.fixture
def open_task(standard_credential):
    return rotation_task_request(actor=None, credential=standard_credential, reason="manual")


def test_the_completion_form_starts_from_the_clients_password_rules(
    client_a, alice, bob, open_task
):
    _policy(client_a, alice, password_length=44, password_symbols=False, password_exclude="%&")
    page = browser_for(bob).get(f"/rotation/tasks/{open_task.pk}/").content.decode()
    assert 'name="length" value="44"' in page
    assert '<input type="checkbox" name="symbols" id="complete_symbols">' in page  # unticked
    assert "Leaves out the characters this client&#x27;s systems refuse: %&amp;" in page
    response = browser_for(bob).post(
        f"/rotation/tasks/{open_task.pk}/complete/", {"generate": "on", "kind": "password"}
    )
    assert response.status_code == 302
    new = opened(open_task.credential, "secret")
    assert len(new) == 44
    assert not set(new) & set(generator.SYMBOLS)


def test_after_a_rotation_the_places_that_use_the_secret_are_shown(alice, bob, open_task):
    from vault.services import credential_update

    credential_update(
        actor=alice,
        credential=open_task.credential,
        used_by="IIS app pool FrontDesk on WEB01\nBackup job on NAS02",
    )
    browser = browser_for(bob)
    open_page = browser.get(f"/rotation/tasks/{open_task.pk}/").content.decode()
    assert "Update the places that use it" not in open_page
    response = browser.post(
        f"/rotation/tasks/{open_task.pk}/complete/",
        {"new_secret": "Typed-After-Used-By-1"},
        follow=True,
    )
    page = response.content.decode()
    assert "was rotated with the new secret" in page
    assert (
        "Update the places that use it: IIS app pool FrontDesk on WEB01\nBackup job on NAS02"
        in page
    )
    assert 'data-testid="used-by"' in page  # the done task's own block
    assert "IIS app pool FrontDesk on WEB01<br>Backup job on NAS02" in page
    assert "Typed-After-Used-By-1" not in page


def test_without_used_by_the_success_message_says_nothing_more(bob, open_task):
    response = browser_for(bob).post(
        f"/rotation/tasks/{open_task.pk}/complete/", {"new_secret": "Typed-Plain-2"}, follow=True
    )
    page = response.content.decode()
    assert "was rotated with the new secret" in page
    assert "Update the places that use it" not in page
