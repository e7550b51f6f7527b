from celery import shared_task
from django.core.management import call_command

from accounts import services


@shared_task
def invitations_purge_expired() -> int:
    return services.invitations_purge_expired()


@shared_task
def sessions_clear_expired() -> None:
    call_command("clearsessions")


@shared_task
def outbox_drain() -> int:
    """Send the alert emails that are due (beat runs it every minute)."""
    return services.outbox_drain()
