"""The alert outbox: rows written in the caller's transaction, drained by a job with backoff."""

import smtplib
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, transaction
from django.utils import timezone

from accounts import services, tasks
from accounts.models import Notification, OutboxMessage, Role
from audit.models import AuditEvent
from tests.factories import UserFactory

SMTP_PASSWORD = "Smtp-Password-Canary-51e0"


class FailingBackend(BaseEmailBackend):
    """A mail server that is down: every send raises, as smtplib does."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected(
            f"Connection unexpectedly closed (login {SMTP_PASSWORD})"
        )


class SlowBackend(LocmemBackend):
    """Delivers like locmem but slowly, so that two drains overlap."""

    def send_messages(self, messages):
        time.sleep(0.2)
        return super().send_messages(messages)


def alert(*recipients, topic="credential.emergency_opened", subject="Keyhold: alert"):
    with transaction.atomic():
        return services.alert_send(
            actor=None,
            topic=topic,
            recipients=recipients,
            subject=subject,
            body="Someone opened something. Review the audit log.",
            link="/somewhere/",
        )


@pytest.fixture
def mona(db):
    return UserFactory(email="mona@msp.example", full_name="Mona Manager", roles=[Role.MANAGER])


@pytest.fixture
def ada(db):
    return UserFactory(email="ada@msp.example", roles=[Role.ADMINISTRATOR])


@pytest.mark.django_db
def test_alert_writes_one_notice_and_one_email_per_recipient(mona, bob):
    assert alert(mona, bob, mona) == 2
    assert set(Notification.objects.values_list("user__email", "message", "link")) == {
        ("mona@msp.example", "Keyhold: alert", "/somewhere/"),
        ("bob@msp.example", "Keyhold: alert", "/somewhere/"),
    }
    rows = OutboxMessage.objects.order_by("recipient")
    assert [row.recipient for row in rows] == ["bob@msp.example", "mona@msp.example"]
    assert {row.topic for row in rows} == {"credential.emergency_opened"}
    assert all(row.sent_at is None and row.attempts == 0 for row in rows)
    assert mail.outbox == []  # nothing leaves before the drain


@pytest.mark.django_db
def test_the_email_links_to_the_page_at_keyholds_own_address(mona, settings):
    settings.KEYHOLD_BASE_URL = "https://keyhold.msp.example"
    alert(mona)
    body = OutboxMessage.objects.get().body
    assert body.startswith("Someone opened something. Review the audit log.")
    assert body.endswith("\n\nOpen it in Keyhold: https://keyhold.msp.example/somewhere/\n")


@pytest.mark.django_db
def test_alert_rolls_back_with_the_action_it_reports(mona):
    class ActionFailed(Exception):
        pass

    def action_that_fails_after_alerting():
        with transaction.atomic():
            services.alert_send(
                actor=None, topic="t", recipients=[mona], subject="s", body="b", link=""
            )
            raise ActionFailed

    with pytest.raises(ActionFailed):
        action_that_fails_after_alerting()
    assert not OutboxMessage.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_alert_outside_a_transaction_is_a_programming_error(mona):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        services.alert_send(actor=None, topic="t", recipients=[mona], subject="s", body="b")
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_alert_managers_reaches_active_managers_only(mona, bob):
    UserFactory(email="gone@msp.example", roles=[Role.MANAGER], is_active=False)
    with transaction.atomic():
        count = services.alert_managers(actor=None, topic="t", subject="s", body="b")
    assert count == 1
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["mona@msp.example"]


@pytest.mark.django_db
def test_drain_delivers_due_emails_once_and_marks_them_sent(mona, bob, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alert(mona, bob, subject="Keyhold: emergency credential opened")
    events_before = AuditEvent.objects.count()
    assert services.outbox_drain() == 2
    assert sorted(message.to[0] for message in mail.outbox) == [
        "bob@msp.example",
        "mona@msp.example",
    ]
    assert mail.outbox[0].subject == "Keyhold: emergency credential opened"
    assert "Review the audit log." in mail.outbox[0].body
    assert all(row.sent_at and row.attempts == 1 for row in OutboxMessage.objects.all())
    assert services.outbox_drain() == 0
    assert len(mail.outbox) == 2
    # Housekeeping, exempt in test_catalogue: the alerted action has its own event.
    assert AuditEvent.objects.count() == events_before


@pytest.mark.django_db
def test_the_celery_task_drains_the_outbox(mona, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alert(mona)
    assert tasks.outbox_drain.delay().get() == 1
    assert [message.to for message in mail.outbox] == [["mona@msp.example"]]


@pytest.mark.django_db
def test_message_not_yet_due_waits(mona, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alert(mona)
    OutboxMessage.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert services.outbox_drain() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_failed_send_is_retried_with_exponential_backoff_capped_at_an_hour(mona, settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_outbox.FailingBackend"
    settings.EMAIL_HOST_PASSWORD = SMTP_PASSWORD
    alert(mona)
    delays = []
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(9):
            assert services.outbox_drain() == 0
            row = OutboxMessage.objects.get()
            delays.append(row.next_attempt_at - timezone.now())
            assert services.outbox_drain() == 0  # not due again yet
            assert OutboxMessage.objects.get().attempts == len(delays)
            traveller.shift(delays[-1])
    minutes = [int(delay.total_seconds() // 60) for delay in delays]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    row = OutboxMessage.objects.get()
    assert row.sent_at is None
    assert row.attempts == 9
    assert row.last_error.startswith("SMTPServerDisconnected: Connection unexpectedly closed")
    assert SMTP_PASSWORD not in row.last_error
    assert len(row.last_error) <= services.OUTBOX_ERROR_MAX
    assert mail.outbox == []


@pytest.mark.django_db
def test_administrators_get_one_notice_after_repeated_failures(mona, ada, settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_outbox.FailingBackend"
    alert(mona)
    notices = Notification.objects.filter(user=ada)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for attempt in range(1, 8):
            services.outbox_drain()
            expected = 1 if attempt >= services.OUTBOX_ADMIN_NOTICE_AFTER else 0
            assert notices.count() == expected
            traveller.shift(timedelta(hours=1))
    notice = notices.get()
    assert "mona@msp.example" in notice.message
    assert "failed 5 times" in notice.message
    assert not Notification.objects.filter(user=mona).exclude(message="Keyhold: alert").exists()


@pytest.mark.django_db
def test_the_email_goes_out_once_the_mail_server_is_back(mona, settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_outbox.FailingBackend"
    alert(mona)
    services.outbox_drain()
    assert OutboxMessage.objects.get().attempts == 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert services.outbox_drain() == 1
    row = OutboxMessage.objects.get()
    assert row.sent_at is not None
    assert row.attempts == 2
    assert row.last_error == ""
    assert [message.to for message in mail.outbox] == [["mona@msp.example"]]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_drains_send_each_email_once(settings):
    settings.EMAIL_BACKEND = "tests.accounts.test_outbox.SlowBackend"
    people = [UserFactory(roles=[Role.MANAGER]) for _ in range(4)]
    alert(*people)
    barrier = threading.Barrier(2)
    results = []

    def drain():
        try:
            barrier.wait()
            results.append(services.outbox_drain())
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 4
    assert sorted(message.to[0] for message in mail.outbox) == sorted(p.email for p in people)
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 0
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}
