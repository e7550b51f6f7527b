"""The vault's answers to other apps' signals."""

import uuid

from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.models import AuditEvent, Outcome
from tenants.models import AccessLevel, Client
from tenants.signals import client_access_lowered
from vault.models import CREDENTIAL_RECORD_TYPE, Credential
from vault.services.checkouts import checkouts_end_for_lost_access


@receiver(client_access_lowered)
def _end_checkouts_of_lost_access(
    sender, *, actor: User | None, client: Client, user: User, level: AccessLevel | None, **kwargs
) -> None:
    """A lease outlives no one's privileged access (check C57): end it, due for rotation."""
    if level is None or level < AccessLevel.PRIVILEGED:
        checkouts_end_for_lost_access(actor=actor, client=client, user=user)


@receiver(post_save, sender=AuditEvent)
def _note_credential_opened(sender, *, instance: AuditEvent, created: bool, **kwargs) -> None:
    """A successful opening moves the credential's last_opened_at forward.

    audit.record() saves every event, under the chain's lock and inside the action's
    transaction, so the column cannot disagree with the log: if this update fails, the
    event and the action fail with it.
    """
    if not created or instance.outcome != Outcome.SUCCESS:
        return
    if instance.action not in CREDENTIAL_ACCESS_ACTIONS:
        return
    if instance.target_type != CREDENTIAL_RECORD_TYPE:
        return
    try:
        credential_id = uuid.UUID(instance.target_id)
    except ValueError:
        return  # Not a credential's id, so no credential to note it on.
    at = instance.occurred_at
    Credential.objects.filter(
        Q(last_opened_at__isnull=True) | Q(last_opened_at__lt=at), pk=credential_id
    ).update(last_opened_at=at)
