"""The beat jobs: the due scan (idempotent, also under two concurrent runs), reminders and
escalation at the right times, and a real Celery worker running the scan through Redis.

Actions covered here with exactly one event per operation: rotation.reminder_sent,
rotation.task_escalated (and rotation.task_created by the scan).
"""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification, OutboxMessage, Role
from audit.models import AuditEvent
from config.celery import app
from rotation.models import RotationTask
from rotation.services.tasks import (
    rotation_due_scan,
    rotation_escalate_overdue,
    rotation_reminders_send,
    rotation_task_cancel,
    rotation_task_request,
)
from rotation.tasks import rotation_due_scan as rotation_due_scan_task
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.config.test_celery_worker import worker_queue  # noqa: F401 (the fixture)
from tests.factories import UserFactory
from tests.vault.test_credentials import make_credential
from vault.models import Credential, RotationRequiredReason
from vault.services import credential_archive
from vault.services.checkouts import checkout_check_in, checkout_request


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


def set_due(credential, when):
    Credential.objects.filter(pk=credential.pk).update(next_rotation_due=when)


def test_due_scan_opens_tasks_within_the_lead_time_once(
    alice, high_credential, service_credential, standard_credential
):
    now = timezone.now()
    set_due(high_credential, now + timedelta(days=6))  # within the 7-day lead
    set_due(service_credential, now + timedelta(days=30))
    assert rotation_due_scan() == 1
    task = RotationTask.objects.get()
    assert task.credential_id == high_credential.pk
    assert task.due_at == now + timedelta(days=6)
    assert list(task.reasons.values_list("reason", flat=True)) == ["schedule"]
    assert rotation_due_scan() == 0
    assert RotationTask.objects.count() == 1
    assert events("rotation.task_created").count() == 1
    event = events("rotation.task_created").get()
    assert event.actor_user_id is None
    assert event.actor_label == "rotation scheduler"


def test_due_scan_skips_archived_credentials_and_fills_missing_due_dates(
    alice, high_credential, service_credential
):
    credential_archive(actor=alice, credential=service_credential, reason="retired")
    set_due(service_credential, timezone.now() - timedelta(days=1))
    Credential.objects.filter(pk=high_credential.pk).update(
        next_rotation_due=None, last_rotated_at=timezone.now() - timedelta(days=100)
    )
    assert rotation_due_scan() == 1
    task = RotationTask.objects.get()
    assert task.credential_id == high_credential.pk
    assert Credential.objects.get(pk=high_credential.pk).next_rotation_due is not None


def test_filling_a_missing_due_date_keeps_a_cancelled_rotation_postponed(
    alice, high_credential, service_credential
):
    Credential.objects.filter(pk=high_credential.pk).update(
        next_rotation_due=None, last_rotated_at=timezone.now() - timedelta(days=100)
    )
    assert rotation_due_scan() == 1
    task = RotationTask.objects.get()
    rotation_task_cancel(actor=alice, task=task, reason="Rotated by the client's own IT")
    postponed = Credential.objects.get(pk=high_credential.pk).next_rotation_due
    assert postponed > timezone.now() + timedelta(days=80)
    # Another credential of the same client loses its due date (a secret changed).
    Credential.objects.filter(pk=service_credential.pk).update(next_rotation_due=None)
    assert rotation_due_scan() == 0
    assert Credential.objects.get(pk=high_credential.pk).next_rotation_due == postponed
    assert Credential.objects.get(pk=service_credential.pk).next_rotation_due is not None
    assert RotationTask.objects.filter(status=RotationTask.Status.OPEN).count() == 0


def test_vault_marks_become_tasks_due_at_once_and_join_a_scheduled_one(
    client_a, alice, pat, high_credential
):
    set_due(high_credential, timezone.now() + timedelta(days=5))
    rotation_due_scan()
    checkout = checkout_request(
        actor=pat, credential=high_credential, ticket="T-9", reason="fix", duration_minutes=30
    )
    checkout_check_in(actor=pat, checkout=checkout)
    mark = Credential.objects.get(pk=high_credential.pk).rotation_required_at
    assert rotation_due_scan() == 1
    task = RotationTask.objects.get()
    assert task.due_at == mark
    assert sorted(task.reasons.values_list("reason", flat=True)) == ["checkout_ended", "schedule"]
    assert rotation_due_scan() == 0
    assert events("rotation.task_reason_added").count() == 1


def test_reminder_fires_once_inside_the_window(client_a, bob, standard_credential):
    client_a.primary_technician = bob
    client_a.save(update_fields=["primary_technician"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        rotation_task_request(
            actor=None,
            credential=standard_credential,
            reason="manual",
            due_at=start + timedelta(days=5),
        )
        assert rotation_reminders_send() == 0
    with time_machine.travel(start + timedelta(days=1, hours=23), tick=False):
        assert rotation_reminders_send() == 0  # due in 3 days 1 hour: not yet
    with time_machine.travel(start + timedelta(days=2, hours=1), tick=False):
        assert rotation_reminders_send() == 1
        assert rotation_reminders_send() == 0
    assert events("rotation.reminder_sent").count() == 1
    notice = Notification.objects.get(user=bob)
    assert "Front desk" in notice.message
    assert OutboxMessage.objects.filter(topic="rotation.reminder_sent").count() == 1


def test_escalation_fires_once_after_the_due_time_to_the_clients_managers(
    client_a, client_b, alice, bob, standard_credential
):
    other_manager = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=other_manager, level=AccessLevel.MANAGE)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        rotation_task_request(
            actor=None,
            credential=standard_credential,
            reason="manual",
            due_at=start + timedelta(hours=2),
        )
        assert rotation_escalate_overdue() == 0
    with time_machine.travel(start + timedelta(hours=1, minutes=59), tick=False):
        assert rotation_escalate_overdue() == 0
    with time_machine.travel(start + timedelta(hours=2, minutes=1), tick=False):
        assert rotation_escalate_overdue() == 1
        assert rotation_escalate_overdue() == 0
    with time_machine.travel(start + timedelta(days=3), tick=False):
        assert rotation_escalate_overdue() == 0
    assert events("rotation.task_escalated").count() == 1
    assert Notification.objects.filter(user=alice, message__contains="overdue").count() == 1
    assert not Notification.objects.filter(user=other_manager).exists()
    assert not Notification.objects.filter(user=bob, message__contains="overdue").exists()


def test_completed_tasks_are_neither_reminded_nor_escalated(bob, standard_credential):
    from rotation.services.tasks import rotation_task_complete

    task = rotation_task_request(
        actor=None,
        credential=standard_credential,
        reason="manual",
        due_at=timezone.now() - timedelta(days=1),
    )
    rotation_task_complete(actor=bob, task=task, new_secret="Brand-New-Secret-3")
    assert rotation_reminders_send() == 0
    assert rotation_escalate_overdue() == 0


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_due_scans_open_each_task_once(client_a, alice):
    credentials = [
        make_credential(client=client_a, actor=alice, name=f"Admin {n:02d}") for n in range(12)
    ]
    Credential.objects.filter(pk__in=[c.pk for c in credentials]).update(
        next_rotation_due=timezone.now() - timedelta(hours=1)
    )
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scan():
        try:
            barrier.wait(timeout=10)
            results.append(rotation_due_scan())
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(results) == 12
    assert RotationTask.objects.count() == 12
    assert set(RotationTask.objects.values_list("credential_id", flat=True)) == {
        c.pk for c in credentials
    }
    assert events("rotation.task_created").count() == 12
    assert not AuditEvent.objects.filter(action="rotation.task_created", outcome="error").exists()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_the_due_scan_through_redis(worker_queue, client_a, alice):  # noqa: F811
    assert app.conf.broker_url.startswith("redis://")
    credential = make_credential(client=client_a, actor=alice, name="Firewall admin")
    set_due(credential, timezone.now() + timedelta(days=2))
    assert connection.vendor in ("sqlite", "postgresql")
    result = rotation_due_scan_task.apply_async(queue=worker_queue)
    assert result.get(timeout=90) == 1
    task = RotationTask.objects.get(credential=credential)
    assert task.status == RotationTask.Status.OPEN
    assert events("rotation.task_created").count() == 1


def _marked_with_open_tasks(alice, client_a, count):
    credentials = [
        make_credential(client=client_a, actor=alice, name=f"Marked {number}")
        for number in range(count)
    ]
    Credential.objects.filter(pk__in=[c.pk for c in credentials]).update(
        rotation_required_at=timezone.now(),
        rotation_required_reason=RotationRequiredReason.CHECKOUT_ENDED,
    )
    assert rotation_due_scan() == count  # one task each, opened by this first scan


def test_a_due_scan_over_marked_credentials_with_open_tasks_is_a_constant_number_of_queries(
    alice, client_a, django_assert_num_queries
):
    _marked_with_open_tasks(alice, client_a, 1)
    with CaptureQueriesContext(connection) as one:
        assert rotation_due_scan() == 0
    _marked_with_open_tasks(alice, client_a, 6)
    with django_assert_num_queries(len(one)):
        assert rotation_due_scan() == 0
