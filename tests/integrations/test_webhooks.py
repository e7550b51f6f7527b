"""Outbound webhooks: audit events become signed deliveries that a receiver verifies with
only the README's recipe; failures are retried with backoff, then logged and audited.

The receiver is a real HTTP server on 127.0.0.1 that checks every request the way the README
tells an MSP to (HMAC-SHA256 over timestamp + "." + body, five minutes of tolerance), written
here independently of Keyhold's code.
"""

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import time_machine
from django.conf import settings as django_settings
from django.db import connection

from accounts.models import Role
from accounts.services import user_deactivate
from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from integrations import tasks
from integrations.models import WebhookCursor, WebhookDelivery, WebhookSubscription
from integrations.services import webhooks
from offboarding.services.departures import departure_open
from rotation.models import RotationTask
from rotation.services.tasks import rotation_escalate_overdue, rotation_task_request
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import UserFactory
from tests.vault.test_credentials import NOTES, SECRET, make_credential
from vault.models import CredentialType
from vault.services.credentials import credential_reveal

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE_SECONDS = 300
TICKET = "T-20931"


def verify(secret: str, headers, body: bytes) -> bool:
    """The README's recipe, as a receiver would write it (nothing of Keyhold's imported)."""
    timestamp = headers["X-Keyhold-Timestamp"]
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= TOLERANCE_SECONDS
    return fresh and hmac.compare_digest(expected, headers["X-Keyhold-Signature"])


def readme_recipe():
    """The recipe the README gives receivers, run as it is written."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- webhook-recipe -->\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(block, namespace)  # noqa: S102  (the README's own code, tested as documented)
    return block, namespace["verify"]


class Receiver:
    """An MSP's endpoint: answers 204 to a verified request, 401 to anything else, or the
    statuses queued with `answer_next` (a failing or redirecting receiver)."""

    def __init__(self):
        self.secret = ""
        self.received: list[dict] = []
        self._answers: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key: value for key, value in self.headers.items()}
                try:
                    verified = verify(receiver.secret, headers, body)
                except (KeyError, ValueError):
                    verified = False
                with receiver._lock:
                    receiver.received.append(
                        {"headers": headers, "body": body, "verified": verified}
                    )
                    status = receiver._answers.pop(0) if receiver._answers else None
                if status is None:
                    status = 204 if verified else 401
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "https://elsewhere.example/")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/keyhold"

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend(statuses)

    def payloads(self) -> list[dict]:
        return [json.loads(each["body"]) for each in self.received]

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    server = Receiver().start()
    yield server
    server.stop()


def subscribe(admin, receiver, **extra) -> WebhookSubscription:
    subscription, secret = webhooks.webhook_subscription_create(
        actor=admin,
        name=extra.pop("name", "SIEM"),
        url=extra.pop("url", receiver.url),
        event_types=extra.pop("event_types", ["credential.revealed"]),
        **extra,
    )
    receiver.secret = secret
    return subscription


def standard_credential(client, **extra):
    return make_credential(
        client=client,
        name=extra.pop("name", "Front desk PC"),
        credential_type=CredentialType.STANDARD_USER,
        **extra,
    )


def collect(capture) -> int:
    """One collector run, its deliveries sent as the after-commit tasks would send them."""
    with capture(execute=True):
        return webhooks.webhook_events_collect()


def test_a_revealed_credential_is_delivered_once_and_verifies_with_the_documented_recipe(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(admin_user, receiver)
    credential = standard_credential(client_a)
    credential_reveal(actor=bob, credential=credential, ticket=TICKET)

    assert collect(django_capture_on_commit_callbacks) == 1
    assert collect(django_capture_on_commit_callbacks) == 0

    [request] = receiver.received
    assert request["verified"] is True
    delivery = WebhookDelivery.objects.get()
    event = AuditEvent.objects.get(action="credential.revealed")
    assert request["headers"]["X-Keyhold-Event"] == "credential.revealed"
    assert request["headers"]["X-Keyhold-Delivery"] == str(delivery.pk)
    assert request["headers"]["Content-Type"] == "application/json"
    assert receiver.payloads() == [
        {
            "id": str(delivery.pk),
            "event": "credential.revealed",
            "occurred_at": event.occurred_at.isoformat(),
            "client": {"id": str(client_a.pk), "name": "Contoso Dental"},
            "target": {
                "type": "vault.credential",
                "id": str(credential.pk),
                "label": "Front desk PC",
            },
            "actor": bob.email,
            "ticket": TICKET,
            "audit_sequence": event.sequence,
        }
    ]
    assert (delivery.subscription_id, delivery.audit_sequence) == (subscription.pk, event.sequence)
    assert delivery.status == "delivered"
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 204, "")
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    assert WebhookCursor.objects.get().sequence >= event.sequence


def test_payloads_and_stored_rows_hold_no_secret(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    signing_secret = receiver.secret
    credential = standard_credential(client_a)
    credential_reveal(actor=bob, credential=credential, ticket=TICKET)
    collect(django_capture_on_commit_callbacks)

    sent = b"".join(each["body"] + repr(each["headers"]).encode() for each in receiver.received)
    assert sent
    for canary in (SECRET, NOTES, signing_secret, signing_secret[len("whsec_") :]):
        assert canary.encode() not in sent
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_webhooksubscription")
        subscriptions = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM integrations_webhookdelivery")
        deliveries = repr(cursor.fetchall())
    assert signing_secret[len("whsec_") :] not in subscriptions
    assert SECRET not in deliveries
    assert signing_secret[len("whsec_") :] not in deliveries
    events = repr(list(AuditEvent.objects.values_list("details", "reason")))
    assert signing_secret[len("whsec_") :] not in events


def test_the_readme_recipe_verifies_a_delivery_and_refuses_a_wrong_secret_or_a_replay(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    _, readme_verify = readme_recipe()
    subscribe(admin_user, receiver)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    [request] = receiver.received
    assert readme_verify(receiver.secret, request["headers"], request["body"]) is True
    assert readme_verify("whsec_wrong", request["headers"], request["body"]) is False
    with time_machine.travel(time.time() + TOLERANCE_SECONDS + 60, tick=False):
        assert readme_verify(receiver.secret, request["headers"], request["body"]) is False


def test_the_receiver_refuses_a_replay_with_a_stale_timestamp_or_a_changed_body(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    [original] = receiver.received
    assert original["verified"] is True
    headers = {
        name: original["headers"][name]
        for name in ("X-Keyhold-Timestamp", "X-Keyhold-Signature", "Content-Type")
    }

    tampered = original["body"].replace(b"Front desk PC", b"Front desk PX")
    assert requests.post(receiver.url, data=tampered, headers=headers, timeout=5).status_code == 401
    with time_machine.travel(time.time() + TOLERANCE_SECONDS + 60, tick=False):
        replay = requests.post(receiver.url, data=original["body"], headers=headers, timeout=5)
    assert replay.status_code == 401
    assert [each["verified"] for each in receiver.received] == [True, False, False]


def test_a_failing_receiver_is_retried_with_backoff_then_the_failure_is_logged_and_audited(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    credential = standard_credential(client_a)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    receiver.answer_next(*[500] * webhooks.MAX_ATTEMPTS)
    with time_machine.travel(start, tick=False) as traveller:
        credential_reveal(actor=bob, credential=credential, ticket=TICKET)
        collect(django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get()
        waits = []
        while delivery.status == "pending":
            assert delivery.last_status_code == 500
            assert "answered 500" in delivery.last_error
            wait = delivery.next_attempt_at - datetime.now(tz=UTC)
            waits.append(wait)
            # Not due a second early: the retry scan leaves it alone.
            traveller.shift(wait - timedelta(seconds=1))
            with django_capture_on_commit_callbacks(execute=True):
                assert webhooks.webhook_deliveries_retry() == 0
            traveller.shift(timedelta(seconds=1))
            with django_capture_on_commit_callbacks(execute=True):
                assert webhooks.webhook_deliveries_retry() == 1
            delivery.refresh_from_db()

    assert waits == list(webhooks.RETRY_DELAYS)
    assert delivery.status == "failed"
    assert delivery.attempts == webhooks.MAX_ATTEMPTS == len(receiver.received)
    assert delivery.next_attempt_at is None
    assert [entry["status_code"] for entry in delivery.attempt_log] == [500] * 6
    assert all(each["verified"] for each in receiver.received)
    [failure] = AuditEvent.objects.filter(action="webhook.delivery_failed")
    assert failure.outcome == "error"
    assert failure.actor_user_id is None
    assert failure.actor_label == "Webhook sender"
    assert failure.client_id == client_a.pk
    assert failure.details["attempts"] == 6
    assert failure.details["status_code"] == 500
    assert failure.details["delivery"] == str(delivery.pk)
    assert "answered 500" in failure.reason


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    receiver.answer_next(302)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.received) == 1
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 302)
    assert "does not follow redirects" in delivery.last_error


def test_an_unreachable_receiver_is_an_attempt_with_a_plain_error(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    receiver.stop()
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == "Could not connect to 127.0.0.1."
    assert delivery.attempt_log[0]["error"] == delivery.last_error


def test_the_celery_task_takes_only_the_delivery_id(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    receiver.answer_next(503)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"

    assert tasks.webhook_delivery_send.delay(str(delivery.pk)).get() == "skipped"  # not due yet
    with time_machine.travel(delivery.next_attempt_at, tick=False):
        assert tasks.webhook_delivery_send.delay(str(delivery.pk)).get() == "delivered"
    assert len(receiver.received) == 2


def test_only_successful_events_of_the_chosen_types_become_deliveries(
    admin_user, bob, charlie, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver, event_types=["rotation.task_created"])
    credential = standard_credential(client_a)
    credential_reveal(actor=bob, credential=credential, ticket=TICKET)
    with pytest.raises(NotFound):
        credential_reveal(actor=charlie, credential=credential, ticket=TICKET)
    rotation_task_request(actor=bob, credential=credential, reason="manual")

    assert collect(django_capture_on_commit_callbacks) == 1
    [payload] = receiver.payloads()
    assert payload["event"] == "rotation.task_created"
    assert payload["target"]["type"] == "rotation.task"
    assert payload["client"]["name"] == "Contoso Dental"


def test_an_offboarding_case_without_a_client_goes_to_unlimited_subscriptions_only(
    admin_user, alice, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    everything = subscribe(admin_user, receiver, event_types=["offboarding.case_opened"])
    limited, _ = webhooks.webhook_subscription_create(
        actor=admin_user,
        name="Contoso only",
        url=receiver.url,
        event_types=["offboarding.case_opened"],
        clients=[client_a],
    )
    departure_open(actor=alice, subject=bob, reason="Moving abroad")

    assert collect(django_capture_on_commit_callbacks) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription_id == everything.pk != limited.pk
    [payload] = receiver.payloads()
    assert payload["event"] == "offboarding.case_opened"
    assert payload["client"] is None
    assert payload["target"]["type"] == "offboarding.case"
    assert "Moving abroad" not in json.dumps(payload)


def test_a_subscription_sends_only_events_of_its_owners_clients_and_its_limit(
    bob, charlie, client_a, client_b, receiver, django_capture_on_commit_callbacks
):
    owner = UserFactory(roles=[Role.ADMINISTRATOR])
    assignment_grant(actor=None, client=client_a, user=owner, level=AccessLevel.VIEW)
    subscribe(owner, receiver)
    standard_b = standard_credential(client_b, name="Warehouse PC")
    credential_reveal(actor=charlie, credential=standard_b, ticket=TICKET)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)

    assert collect(django_capture_on_commit_callbacks) == 1
    assert [p["client"]["name"] for p in receiver.payloads()] == ["Contoso Dental"]

    with pytest.raises(NotFound):
        webhooks.webhook_subscription_create(
            actor=owner, name="B", url=receiver.url, event_types=["credential.revealed"],
            clients=[client_b],
        )  # fmt: skip


def test_events_before_the_subscription_and_while_its_owner_is_deactivated_are_not_sent(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    credential = standard_credential(client_a)
    credential_reveal(actor=bob, credential=credential, ticket="before")
    subscribe(admin_user, receiver)
    credential_reveal(actor=bob, credential=credential, ticket="during")
    assert collect(django_capture_on_commit_callbacks) == 1

    other_admin = UserFactory(roles=[Role.ADMINISTRATOR])
    user_deactivate(actor=other_admin, user=admin_user)
    credential_reveal(actor=bob, credential=credential, ticket="deactivated")
    assert collect(django_capture_on_commit_callbacks) == 0
    assert [p["ticket"] for p in receiver.payloads()] == ["during"]


def test_addresses_must_be_https_unless_settings_allow_http(admin_user, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    for url, message in [
        ("http://hooks.example.com/x", "must use https://"),
        ("ftp://hooks.example.com/x", "starting with https://"),
        ("https://user:pw@hooks.example.com/x", "Leave names and passwords out"),
    ]:
        with pytest.raises(FieldInvalid, match=message) as raised:
            webhooks.webhook_subscription_create(
                actor=admin_user, name="X", url=url, event_types=["credential.revealed"]
            )
        assert raised.value.field == "url"
    with pytest.raises(FieldInvalid) as raised:
        webhooks.webhook_subscription_create(
            actor=admin_user, name="X", url="https://h.example/", event_types=["webhook.test"]
        )
    assert raised.value.field == "event_types"
    assert not WebhookSubscription.objects.exists()


def test_only_administrators_subscribe_and_the_refusal_is_audited(alice, bob, admin_user):
    for person in (alice, bob):
        with pytest.raises(AccessDenied, match="Only administrators"):
            webhooks.webhook_subscription_create(
                actor=person,
                name="X",
                url="https://h.example/",
                event_types=["credential.revealed"],
            )
    assert not WebhookSubscription.objects.exists()
    refused = AuditEvent.objects.filter(action="webhook.subscription_created", outcome="denied")
    assert {event.actor_user_id for event in refused} == {alice.pk, bob.pk}
    webhooks.webhook_subscription_create(
        actor=admin_user, name="X", url="https://h.example/", event_types=["credential.revealed"]
    )
    created = AuditEvent.objects.get(action="webhook.subscription_created", outcome="success")
    assert created.actor_user_id == admin_user.pk
    assert created.details["event_types"] == ["credential.revealed"]
    assert "whsec_" not in repr(created.details)


def test_rotating_the_secret_makes_the_old_one_fail_verification(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(admin_user, receiver)
    old = receiver.secret
    subscription, new = webhooks.webhook_subscription_secret_rotate(
        actor=admin_user, subscription=subscription
    )
    assert new != old
    assert new.startswith("whsec_")
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1

    receiver.secret = old
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    assert [each["verified"] for each in receiver.received] == [False]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 401)


def test_saving_a_subscription_makes_the_editor_its_owner_and_records_what_changed(
    admin_user, receiver
):
    subscription = subscribe(admin_user, receiver)
    other = UserFactory(roles=[Role.ADMINISTRATOR])
    updated = webhooks.webhook_subscription_update(
        actor=other,
        subscription=subscription,
        name="SIEM",
        url=receiver.url,
        event_types=["credential.revealed", "credential.emergency_opened"],
        is_active=False,
    )
    assert (updated.owner_id, updated.created_by_id, updated.is_active) == (
        other.pk,
        admin_user.pk,
        False,
    )
    event = AuditEvent.objects.get(action="webhook.subscription_updated")
    assert event.actor_user_id == other.pk
    assert event.details["changed_fields"] == ["event_types", "is_active", "owner"]


def test_a_paused_subscription_gets_no_deliveries_and_no_test_events(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(admin_user, receiver)
    webhooks.webhook_subscription_update(
        actor=admin_user,
        subscription=subscription,
        name="SIEM",
        url=receiver.url,
        event_types=["credential.revealed"],
        is_active=False,
    )
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    assert collect(django_capture_on_commit_callbacks) == 0
    with pytest.raises(InvalidRequest, match="paused"):
        webhooks.webhook_subscription_test(actor=admin_user, subscription=subscription)
    assert receiver.received == []


def test_a_test_event_is_delivered_signed_and_audited(
    admin_user, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(admin_user, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhooks.webhook_subscription_test(actor=admin_user, subscription=subscription)

    event = AuditEvent.objects.get(action="webhook.test_sent")
    assert event.actor_user_id == admin_user.pk
    delivery.refresh_from_db()
    assert (delivery.status, delivery.audit_sequence) == ("delivered", event.sequence)
    [request] = receiver.received
    assert request["verified"] is True
    assert request["headers"]["X-Keyhold-Event"] == "webhook.test"
    [payload] = receiver.payloads()
    assert payload["target"] == {
        "type": "integrations.webhooksubscription",
        "id": str(subscription.pk),
        "label": "SIEM",
    }
    # The collector does not send the test event's audit event a second time.
    assert collect(django_capture_on_commit_callbacks) == 0


def test_retry_now_sends_a_failed_delivery_once_more_and_is_audited(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(InvalidRequest, match="Only a failed delivery"):
        webhooks.webhook_delivery_retry(actor=admin_user, delivery=delivery)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)

    with pytest.raises(AccessDenied):
        webhooks.webhook_delivery_retry(actor=bob, delivery=delivery)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_delivery_retry(actor=admin_user, delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.received) == 2
    retried = AuditEvent.objects.filter(action="webhook.delivery_retried")
    assert retried.get(outcome="success").client_id == client_a.pk
    assert retried.get(outcome="denied").actor_user_id == bob.pk


def test_deleting_a_subscription_drops_its_log_and_is_audited(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(admin_user, receiver)
    credential_reveal(actor=bob, credential=standard_credential(client_a), ticket=TICKET)
    collect(django_capture_on_commit_callbacks)
    webhooks.webhook_subscription_delete(actor=admin_user, subscription=subscription)

    assert not WebhookSubscription.objects.exists()
    assert not WebhookDelivery.objects.exists()
    event = AuditEvent.objects.get(action="webhook.subscription_deleted")
    assert (event.actor_user_id, event.details["deliveries"]) == (admin_user.pk, 1)
    with pytest.raises(NotFound):
        webhooks.webhook_subscription_delete(actor=admin_user, subscription=subscription)


def test_the_beat_schedule_collects_and_retries_every_minute():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    collect_entry = schedule["integrations-webhook-events-collect"]
    retry_entry = schedule["integrations-webhook-deliveries-retry"]
    assert collect_entry["task"] == "integrations.tasks.webhook_events_collect"
    assert retry_entry["task"] == "integrations.tasks.webhook_deliveries_retry"
    assert collect_entry["schedule"] == retry_entry["schedule"] == timedelta(minutes=1)
    assert callable(tasks.webhook_events_collect)
    assert callable(tasks.webhook_deliveries_retry)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_collectors_running_at_once_create_each_delivery_once(
    admin_user, bob, client_a, receiver
):
    subscribe(admin_user, receiver)
    second = UserFactory(roles=[Role.ADMINISTRATOR])
    assignment_grant(actor=None, client=client_a, user=second, level=AccessLevel.VIEW)
    subscribe(second, receiver, name="Second")
    credential = standard_credential(client_a)
    for number in range(5):
        credential_reveal(actor=bob, credential=credential, ticket=f"T-{number}")
    receiver.secret = ""  # two secrets: the receiver answers 401, which changes nothing here

    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            counts.append(webhooks.webhook_events_collect())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(counts) == [0, 10]
    assert WebhookDelivery.objects.count() == 10
    pairs = set(WebhookDelivery.objects.values_list("subscription_id", "audit_sequence"))
    assert len(pairs) == 10


def test_an_overdue_rotation_task_is_reported_when_it_is_escalated(
    admin_user, bob, client_a, receiver, django_capture_on_commit_callbacks
):
    subscribe(admin_user, receiver, event_types=["rotation.task_overdue"])
    credential = standard_credential(client_a)
    start = datetime.now(tz=UTC)
    rotation_task_request(
        actor=bob, credential=credential, reason="manual", due_at=start + timedelta(hours=1)
    )
    assert collect(django_capture_on_commit_callbacks) == 0
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        assert rotation_escalate_overdue(actor=None) == 1
        assert collect(django_capture_on_commit_callbacks) == 1
    [payload] = receiver.payloads()
    assert payload["event"] == "rotation.task_overdue"
    assert payload["target"] == {
        "type": "rotation.task",
        "id": str(RotationTask.objects.get().pk),
        "label": "Front desk PC",
    }
