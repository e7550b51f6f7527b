"""Reads of a client's vault policy (ticket on reveal, checkout approval and durations)."""

from django.conf import settings

from accounts.models import User
from tenants.models import Client
from vault.models import ClientVaultPolicy


def vault_policy_for(*, actor: User | None, client: Client) -> ClientVaultPolicy:
    """The client's policy; the defaults (unsaved) when the client has none of its own.

    The caller has already reached `client` through Client.objects.for_user.
    """
    policy = ClientVaultPolicy.objects.filter(client_id=client.pk).first()
    if policy is not None:
        return policy
    return ClientVaultPolicy(
        client=client, reveal_ticket_required=settings.KEYHOLD_REVEAL_TICKET_REQUIRED
    )
