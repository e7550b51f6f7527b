"""Crypto-shredding at the end of a client's retention: every data key of the client destroyed.

Destroying a key is the same step key rotation takes for a retired version (state destroyed,
wrapped key wiped, destroyed_at set): whatever was sealed under it is unreadable for good,
on every process, because vault.envelope checks the row before any cached key. The client,
its records and its audit trail stay; events hold no ciphertext, so they still display.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from audit.models import AuditEvent
from audit.services import Attempt, Target, record, recording_failures
from config.errors import InvalidRequest
from tenants.models import Client
from vault.envelope import data_key_cache_clear
from vault.models import ClientDataKey

RETENTION_ACTOR_LABEL = "offboarding retention job"


@dataclass(frozen=True)
class ShredResult:
    """The key versions destroyed now, and the event that records it (for evidence logs)."""

    destroyed_versions: list[int]
    event: AuditEvent


def client_keys_shred(*, actor: User | None, client: Client, reason: str) -> ShredResult:
    """Destroy every data key of the client and forget its unwrapped keys in this process.

    `actor` None is the offboarding retention job; a person must be an administrator. Runs
    in the caller's transaction when there is one (the job writes its evidence beside it).
    Destroying again finds nothing left to destroy.
    """
    from accounts.services import require_role

    system = {} if actor is not None else {"actor_label": RETENTION_ACTOR_LABEL}
    attempt = Attempt(actor=actor, action="vault.client_shredded", client=client, **system)
    with recording_failures(attempt):
        if actor is not None:
            require_role(actor, Role.ADMINISTRATOR, action="crypto-shred a client")
        if not reason.strip():
            raise InvalidRequest("Say why this client's keys are being destroyed.")
        with transaction.atomic():
            live = list(
                ClientDataKey.objects.select_for_update()
                .filter(client_id=client.pk)
                .exclude(state=ClientDataKey.State.DESTROYED)
                .order_by("version")
            )
            ClientDataKey.objects.filter(pk__in=[row.pk for row in live]).update(
                state=ClientDataKey.State.DESTROYED, wrapped_key=b"", destroyed_at=timezone.now()
            )
            destroyed = [row.version for row in live]
            event = record(
                actor=actor,
                action="vault.client_shredded",
                client=client,
                target=Target.of(client),
                reason=reason,
                details={"destroyed_versions": destroyed},
                **system,
            )
    # Early when nested in a caller's transaction that then rolls back: only a cache miss.
    data_key_cache_clear(client_id=client.pk)
    return ShredResult(destroyed_versions=destroyed, event=event)
