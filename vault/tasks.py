from celery import shared_task

from vault import services
from vault.services import checkouts as checkout_services
from vault.services import share_links as share_link_services

ROTATION_BATCH_SIZE = 200


@shared_task
def client_key_rotation_continue(client_id: str, batch_size: int = ROTATION_BATCH_SIZE) -> int:
    """Re-encrypt the client's values batch by batch until none is left on a retiring key.

    Idempotent: a rerun (or a duplicate delivery) finds only what is still left. Stops
    without finishing when a batch makes no progress (values that cannot be decrypted are
    in the audit log); returns how many values remain.
    """
    remaining = services.client_key_rotation_remaining(client_id=client_id)
    while True:
        left = services.client_key_rotation_step(client_id=client_id, batch_size=batch_size)
        if left == 0 or left >= remaining:
            return left
        remaining = left


@shared_task
def share_links_purge() -> int:
    """Wipe the payloads of expired share links (beat job); idempotent, returns how many."""
    return share_link_services.share_links_purge(actor=None)


@shared_task
def checkouts_expire() -> int:
    """End the checkouts past their end time (beat job); idempotent, returns how many."""
    return checkout_services.checkouts_expire()
