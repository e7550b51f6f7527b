"""Outbound webhook jobs: ids only, one service call each, idempotent."""

from celery import shared_task

from integrations.services import webhooks


@shared_task
def webhook_events_collect() -> int:
    """Turn new audit events into webhook deliveries (every minute)."""
    return webhooks.webhook_events_collect()


@shared_task
def webhook_deliveries_retry() -> int:
    """Queue the deliveries whose next attempt is due (every minute)."""
    return webhooks.webhook_deliveries_retry()


@shared_task
def webhook_delivery_send(delivery_id: str) -> str:
    """Make one attempt at one delivery; a delivery not due or taken elsewhere is left alone."""
    delivery = webhooks.webhook_delivery_send(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"
