"""Outbound webhooks: subscriptions, the collector that reads the audit log, and delivery.

The audit log is the outbox. `webhook_events_collect` (beat, every minute) reads the events
recorded since a stored cursor, under a row lock so that two runs never take the same
events, and writes one WebhookDelivery per matching subscription in the same transaction;
each is sent after commit by a Celery task with its id only. Events are numbered in commit
order (audit.record holds the chain head's lock until commit), so none is skipped.

A delivery is a POST of JSON signed as the PSA webhook adapter signs its calls
(rotation.psa.webhook.webhook_signature, one recipe, in the README): ``X-Keyhold-Signature``
is ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + raw body`` under the subscription's
secret. 2xx is delivered; anything else is retried after 1, 5 and 30 minutes, 2 and 12
hours, then the delivery fails and `webhook.delivery_failed` is recorded. Redirects are not
followed. Payloads hold metadata only: never a secret, ticket text or reason.
"""

import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import require_role
from audit.models import AuditEvent, Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest, NotFound
from integrations.models import (
    WebhookCursor,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)
from rotation.psa.webhook import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_signature,
)
from tenants.models import AccessLevel, Client
from vault.system_keys import system_open, system_seal

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "X-Keyhold-Delivery"
SECRET_PREFIX = "whsec_"  # noqa: S105  (marks a leaked secret as Keyhold's, not a secret)
SEAL_PURPOSE = "keyhold/webhook-secret"
TIMEOUT_SECONDS = 10
# Waits after the 1st, 2nd, ... failed attempt; after the last one the delivery fails.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
ATTEMPT_LOG_KEEP = 10
ERROR_MAX = 300
NAME_MAX = 100
URL_MAX = 500
COLLECT_BATCH = 500
RETRY_BATCH = 200
SENDER_LABEL = "Webhook sender"

# The audit actions each event type reports (successful ones only: refusals are not events).
ACTION_EVENT_TYPES: dict[str, str] = {
    "credential.revealed": WebhookEventType.CREDENTIAL_REVEALED,
    "credential.checkout_requested": WebhookEventType.CHECKOUT_REQUESTED,
    "credential.emergency_opened": WebhookEventType.EMERGENCY_OPENED,
    "rotation.task_created": WebhookEventType.ROTATION_TASK_CREATED,
    # An import opens its tasks in bulk: one event (its target is the client).
    "rotation.tasks_created": WebhookEventType.ROTATION_TASK_CREATED,
    "rotation.task_escalated": WebhookEventType.ROTATION_TASK_OVERDUE,
    "offboarding.departure_opened": WebhookEventType.OFFBOARDING_CASE_OPENED,
    "offboarding.client_exit_opened": WebhookEventType.OFFBOARDING_CASE_OPENED,
}
SUBSCRIBABLE = tuple(value for value in WebhookEventType.values if value != WebhookEventType.TEST)


def _associated_data(subscription_id) -> bytes:
    return f"integrations.webhooksubscription|{subscription_id}".encode()


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@sensitive_variables("secret")
def _seal(subscription_id, secret: str) -> bytes:
    return system_seal(
        secret.encode(), purpose=SEAL_PURPOSE, associated_data=_associated_data(subscription_id)
    )


def _open(subscription: WebhookSubscription) -> str:
    return system_open(
        bytes(subscription.sealed_secret),
        purpose=SEAL_PURPOSE,
        associated_data=_associated_data(subscription.pk),
    ).decode()


def _audit_head() -> int:
    return AuditEvent.objects.aggregate(top=Max("sequence"))["top"] or 0


def _queue(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Send the deliveries after commit; a broker outage leaves them to the retry scan."""
    from integrations.tasks import webhook_delivery_send as send_task

    for delivery_id in delivery_ids:
        transaction.on_commit(lambda pk=str(delivery_id): send_task.delay(pk), robust=True)


# --- Subscriptions (administrators) -----------------------------------------------------------


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise FieldInvalid("name", "Give the subscription a name, such as the receiving tool's.")
    if len(name) > NAME_MAX:
        raise FieldInvalid("name", f"Keep the name under {NAME_MAX} characters.")
    return name


def _clean_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > URL_MAX or not parts.hostname or parts.scheme not in ("https", "http"):
        raise FieldInvalid("url", "Enter the receiver's full address, starting with https://.")
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise FieldInvalid("url", "The address must use https:// so events travel encrypted.")
    if parts.username or parts.password:
        raise FieldInvalid(
            "url", "Leave names and passwords out of the address; the signature proves Keyhold."
        )
    return url


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted({value.strip() for value in event_types if value.strip()})
    if not chosen:
        raise FieldInvalid("event_types", "Choose at least one event to send.")
    unknown = [value for value in chosen if value not in SUBSCRIBABLE]
    if unknown:
        raise FieldInvalid("event_types", f"Unknown event: {', '.join(unknown)}.")
    return chosen


def _clean_clients(actor: User, clients: Iterable[Client]) -> list[Client]:
    """Only clients the administrator can see: a subscription never reaches beyond its owner."""
    wanted = {client.pk for client in clients}
    visible = list(Client.objects.for_user(actor, AccessLevel.VIEW).filter(pk__in=wanted))
    if len(visible) != len(wanted):
        raise NotFound("One of those clients does not exist or you cannot see it.")
    return visible


def _cursor_ensure() -> None:
    """The collector's cursor exists before the first subscription's events can happen."""
    if WebhookCursor.objects.filter(pk=1).exists():
        return
    try:
        with transaction.atomic():
            WebhookCursor.objects.create(pk=1, sequence=_audit_head())
    except IntegrityError:
        pass  # a concurrent first use created it


@sensitive_variables("secret")
def webhook_subscription_create(
    *,
    actor: User,
    name: str,
    url: str,
    event_types: Iterable[str],
    clients: Iterable[Client] = (),
) -> tuple[WebhookSubscription, str]:
    """Subscribe a receiver to events; returns it with its signing secret, shown once."""
    with recording_failures(Attempt(actor=actor, action="webhook.subscription_created")):
        require_role(actor, Role.ADMINISTRATOR, action="set up webhooks")
        name = _clean_name(name)
        url = _clean_url(url)
        chosen = _clean_event_types(event_types)
        limited_to = _clean_clients(actor, clients)
        secret = _new_secret()
        with transaction.atomic():
            _cursor_ensure()
            subscription = WebhookSubscription(
                name=name,
                url=url,
                event_types=chosen,
                owner=actor,
                created_by=actor,
                starts_after=_audit_head(),
            )
            subscription.sealed_secret = _seal(subscription.pk, secret)
            subscription.save(force_insert=True)
            subscription.clients.set(limited_to)
            record(
                actor=actor,
                action="webhook.subscription_created",
                target=Target.of(subscription),
                details={
                    "url": url,
                    "event_types": chosen,
                    "clients": len(limited_to),
                },
            )
    return subscription, secret


def webhook_subscription_update(
    *,
    actor: User,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    event_types: Iterable[str],
    clients: Iterable[Client] = (),
    is_active: bool = True,
) -> WebhookSubscription:
    """Change a subscription; whoever saves it becomes its owner, whose reach it then has."""
    target = Target.of(subscription)
    with recording_failures(
        Attempt(actor=actor, action="webhook.subscription_updated", target=target)
    ):
        require_role(actor, Role.ADMINISTRATOR, action="change webhooks")
        name = _clean_name(name)
        url = _clean_url(url)
        chosen = _clean_event_types(event_types)
        limited_to = _clean_clients(actor, clients)
        with transaction.atomic():
            current = WebhookSubscription.objects.select_for_update().filter(pk=subscription.pk)
            current = current.first()
            if current is None:
                raise NotFound("This webhook subscription no longer exists.")
            before_clients = set(current.clients.values_list("pk", flat=True))
            changed = [
                field
                for field, value in (
                    ("name", name),
                    ("url", url),
                    ("event_types", chosen),
                    ("is_active", is_active),
                )
                if getattr(current, field) != value
            ]
            if before_clients != {client.pk for client in limited_to}:
                changed.append("clients")
            if current.owner_id != actor.pk:
                changed.append("owner")
            current.name, current.url, current.event_types = name, url, chosen
            current.is_active = is_active
            current.owner = actor
            current.save(update_fields=["name", "url", "event_types", "is_active", "owner"])
            current.clients.set(limited_to)
            record(
                actor=actor,
                action="webhook.subscription_updated",
                target=Target.of(current),
                details={
                    "changed_fields": changed,
                    "url": url,
                    "event_types": chosen,
                    "clients": len(limited_to),
                    "is_active": is_active,
                },
            )
    return current


@sensitive_variables("secret")
def webhook_subscription_secret_rotate(
    *, actor: User, subscription: WebhookSubscription
) -> tuple[WebhookSubscription, str]:
    """Replace the signing secret at once (the old one stops working); the new one is shown once."""
    target = Target.of(subscription)
    with recording_failures(Attempt(actor=actor, action="webhook.secret_rotated", target=target)):
        require_role(actor, Role.ADMINISTRATOR, action="rotate webhook secrets")
        secret = _new_secret()
        with transaction.atomic():
            current = (
                WebhookSubscription.objects.select_for_update().filter(pk=subscription.pk).first()
            )
            if current is None:
                raise NotFound("This webhook subscription no longer exists.")
            current.sealed_secret = _seal(current.pk, secret)
            current.secret_rotated_at = timezone.now()
            current.owner = actor
            current.save(update_fields=["sealed_secret", "secret_rotated_at", "owner"])
            record(actor=actor, action="webhook.secret_rotated", target=Target.of(current))
    return current, secret


def webhook_subscription_delete(*, actor: User, subscription: WebhookSubscription) -> None:
    """Delete a subscription and its delivery log; undelivered events are dropped."""
    target = Target.of(subscription)
    with recording_failures(
        Attempt(actor=actor, action="webhook.subscription_deleted", target=target)
    ):
        require_role(actor, Role.ADMINISTRATOR, action="delete webhooks")
        with transaction.atomic():
            deleted, by_model = WebhookSubscription.objects.filter(pk=subscription.pk).delete()
            if not deleted:
                raise NotFound("This webhook subscription no longer exists.")
            record(
                actor=actor,
                action="webhook.subscription_deleted",
                target=target,
                details={
                    "url": subscription.url,
                    "deliveries": by_model.get(WebhookDelivery._meta.label, 0),
                },
            )


def webhook_subscription_test(*, actor: User, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a test event to the receiver now; its delivery shows in the log like any other."""
    target = Target.of(subscription)
    with recording_failures(Attempt(actor=actor, action="webhook.test_sent", target=target)):
        require_role(actor, Role.ADMINISTRATOR, action="send webhook test events")
        with transaction.atomic():
            current = WebhookSubscription.objects.filter(pk=subscription.pk).first()
            if current is None:
                raise NotFound("This webhook subscription no longer exists.")
            if not current.is_active:
                raise InvalidRequest(
                    "This subscription is paused; turn it on to send a test event."
                )
            event = record(
                actor=actor,
                action="webhook.test_sent",
                target=target,
                details={"url": current.url},
            )
            delivery = _delivery_for(current, event, WebhookEventType.TEST)
            delivery.save(force_insert=True)
            _queue([delivery.pk])
    return delivery


def webhook_delivery_retry(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a failed delivery once more, now; it fails again at once if that try fails."""
    subscription = delivery.subscription
    target = Target.of(subscription)
    attempt = Attempt(
        actor=actor,
        action="webhook.delivery_retried",
        target=target,
        details={"delivery": str(delivery.pk)},
    )
    with recording_failures(attempt):
        require_role(actor, Role.ADMINISTRATOR, action="retry webhook deliveries")
        with transaction.atomic():
            retried = WebhookDelivery.objects.filter(
                pk=delivery.pk, status=WebhookDelivery.Status.FAILED
            ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())
            if not retried:
                raise InvalidRequest("Only a failed delivery can be retried.")
            record(
                actor=actor,
                action="webhook.delivery_retried",
                client=delivery.client,
                target=target,
                details={
                    "delivery": str(delivery.pk),
                    "event_type": delivery.event_type,
                    "audit_sequence": delivery.audit_sequence,
                },
            )
            _queue([delivery.pk])
    delivery.refresh_from_db()
    return delivery


# --- The collector: the audit log is the outbox ------------------------------------------------


def _payload(delivery_id: uuid.UUID, event: AuditEvent, event_type: str) -> dict:
    """What the receiver gets: metadata of the event, never a secret, ticket text or reason."""
    return {
        "id": str(delivery_id),
        "event": str(event_type),
        "occurred_at": event.occurred_at.isoformat(),
        "client": {"id": str(event.client_id), "name": event.client_label}
        if event.client_id
        else None,
        "target": {"type": event.target_type, "id": event.target_id, "label": event.target_label}
        if event.target_type
        else None,
        "actor": event.actor_label,
        "ticket": event.ticket or None,
        "audit_sequence": event.sequence,
    }


def _delivery_for(
    subscription: WebhookSubscription, event: AuditEvent, event_type: str
) -> WebhookDelivery:
    delivery_id = uuid.uuid4()
    return WebhookDelivery(
        id=delivery_id,
        subscription=subscription,
        audit_sequence=event.sequence,
        event_type=event_type,
        client_id=event.client_id,
        payload=_payload(delivery_id, event, event_type),
    )


def _locked_cursor() -> WebhookCursor:
    _cursor_ensure()
    return WebhookCursor.objects.select_for_update().get(pk=1)


def _reaches(subscription: WebhookSubscription, client_id, reach: dict) -> bool:
    """Whether the event's client is within the subscription's owner's reach and its limit."""
    limit = {client.pk for client in subscription.clients.all()}
    if client_id is None:
        return not limit
    if subscription.pk not in reach:
        visible = Client.objects.for_user(subscription.owner, AccessLevel.VIEW)
        reach[subscription.pk] = set(visible.values_list("pk", flat=True))
    return client_id in reach[subscription.pk] and (not limit or client_id in limit)


def webhook_events_collect(*, limit: int = COLLECT_BATCH) -> int:
    """Turn audit events since the cursor into deliveries (beat job); returns how many."""
    with transaction.atomic():
        # Held until commit: a concurrent run waits here, then reads the moved cursor.
        cursor = _locked_cursor()
        head = _audit_head()
        subscriptions = list(
            WebhookSubscription.objects.filter(is_active=True, owner__is_active=True)
            .select_related("owner")
            .prefetch_related("clients")
            .defer("sealed_secret")
        )
        if not subscriptions:
            WebhookCursor.objects.filter(pk=1).update(sequence=max(head, cursor.sequence))
            return 0
        lower = max(cursor.sequence, min(each.starts_after for each in subscriptions))
        events = list(
            AuditEvent.objects.filter(
                sequence__gt=lower,
                sequence__lte=head,
                action__in=list(ACTION_EVENT_TYPES),
                outcome=Outcome.SUCCESS,
            ).order_by("sequence")[:limit]
        )
        upper = events[-1].sequence if len(events) == limit else max(head, cursor.sequence)
        reach: dict = {}
        deliveries = []
        for event in events:
            event_type = ACTION_EVENT_TYPES[event.action]
            for subscription in subscriptions:
                if (
                    event_type in subscription.event_types
                    and event.sequence > subscription.starts_after
                    and _reaches(subscription, event.client_id, reach)
                ):
                    deliveries.append(_delivery_for(subscription, event, event_type))
        WebhookDelivery.objects.bulk_create(deliveries)
        WebhookCursor.objects.filter(pk=1).update(sequence=upper)
        _queue(delivery.pk for delivery in deliveries)
    return len(deliveries)


# --- Sending ---------------------------------------------------------------------------------


def _signed_headers(
    *, secret: str, raw_body: bytes, event_type: str, delivery_id: str
) -> dict[str, str]:
    """The headers of one delivery, signed now with the documented recipe."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "Keyhold-Webhooks/1",
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, raw_body=raw_body),
    }


@sensitive_variables("secret", "headers")
def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One attempt: (status code or None, an error in plain words or "")."""
    subscription = delivery.subscription
    parts = urlsplit(subscription.url)
    host = parts.hostname or "the receiver"
    if parts.scheme != "https" and not settings.WEBHOOK_ALLOW_HTTP:
        return None, "The address is not https://; Keyhold sends events only over https."
    try:
        secret = _open(subscription)
    except Exception:  # tampered, or the key provider is down: a retry may succeed
        return None, "Keyhold could not open the subscription's signing secret."
    raw = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = _signed_headers(
        secret=secret, raw_body=raw, event_type=delivery.event_type, delivery_id=str(delivery.pk)
    )
    try:
        response = requests.post(
            subscription.url,
            data=raw,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        return None, f"{host} did not answer within {TIMEOUT_SECONDS} seconds."
    except requests.ConnectionError:
        return None, f"Could not connect to {host}."
    except requests.RequestException as error:
        return None, f"Sending to {host} failed ({type(error).__name__})."
    code = response.status_code
    response.close()
    if 200 <= code < 300:
        return code, ""
    if 300 <= code < 400:
        return code, f"{host} answered {code}, a redirect; Keyhold does not follow redirects."
    return code, f"{host} answered {code} {response.reason or ''}".rstrip() + "."


def webhook_delivery_send(*, delivery_id: str) -> WebhookDelivery | None:
    """Make one attempt at a due delivery (Celery task); None when it was not due or taken."""
    now = timezone.now()
    with transaction.atomic():
        # Locked while it is sent: a concurrent run skips it rather than sending it twice.
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "client")
            .filter(
                pk=delivery_id,
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at__lte=now,
                subscription__is_active=True,
            )
            .first()
        )
        if delivery is None:
            return None
        started = time.monotonic()
        code, error = _post(delivery)
        finished = timezone.now()
        delivery.attempts += 1
        delivery.last_status_code = code
        delivery.last_error = error[:ERROR_MAX]
        entry = {
            "at": finished.isoformat(),
            "status_code": code,
            "error": delivery.last_error,
            "ms": int((time.monotonic() - started) * 1000),
        }
        delivery.attempt_log = [*delivery.attempt_log, entry][-ATTEMPT_LOG_KEEP:]
        if not error:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
        elif delivery.attempts < MAX_ATTEMPTS:
            delivery.next_attempt_at = finished + RETRY_DELAYS[delivery.attempts - 1]
            logger.warning(
                "webhook.delivery_attempt_failed",
                extra={"delivery_id": str(delivery.pk), "attempts": delivery.attempts},
            )
        else:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        delivery.save(
            update_fields=[
                "attempts",
                "last_status_code",
                "last_error",
                "attempt_log",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        if delivery.status == WebhookDelivery.Status.FAILED:
            record(
                actor=None,
                actor_label=SENDER_LABEL,
                action="webhook.delivery_failed",
                outcome=Outcome.ERROR,
                client=delivery.client,
                target=Target.of(delivery.subscription),
                reason=delivery.last_error,
                details={
                    "delivery": str(delivery.pk),
                    "event_type": delivery.event_type,
                    "audit_sequence": delivery.audit_sequence,
                    "attempts": delivery.attempts,
                    "status_code": code,
                },
            )
    return delivery


def webhook_deliveries_retry(*, limit: int = RETRY_BATCH) -> int:
    """Queue the deliveries whose next attempt is due (beat job); returns how many.

    New deliveries were queued by the collector; they are taken here only once they have
    waited a minute (their task was lost, say in a broker outage).
    """
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            Q(attempts__gt=0) | Q(created_at__lte=now - RETRY_DELAYS[0]),
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            subscription__is_active=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        _queue(due)
    return len(due)
