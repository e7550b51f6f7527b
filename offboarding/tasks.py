"""Offboarding beat jobs: one service call each, idempotent."""

from celery import shared_task

from offboarding.services import client_exits as client_exit_services
from offboarding.services import departures as departure_services


@shared_task
def cases_sync() -> int:
    """Log newly finished rotations in open departure cases' evidence (every ten minutes)."""
    return departure_services.departure_cases_sync(actor=None)


@shared_task
def client_exits_shred_due() -> int:
    """Crypto-shred the keys of offboarded clients whose retention ended (daily); a rerun
    finds the shredded cases done and skips them."""
    return client_exit_services.client_exits_shred_due(actor=None)
