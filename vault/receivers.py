"""The vault's answers to other apps' signals."""

from django.dispatch import receiver

from accounts.models import User
from tenants.models import AccessLevel, Client
from tenants.signals import client_access_lowered
from vault.services.checkouts import checkouts_end_for_lost_access


@receiver(client_access_lowered)
def _end_checkouts_of_lost_access(
    sender, *, actor: User | None, client: Client, user: User, level: AccessLevel | None, **kwargs
) -> None:
    """A lease outlives no one's privileged access (check C57): end it, due for rotation."""
    if level is None or level < AccessLevel.PRIVILEGED:
        checkouts_end_for_lost_access(actor=actor, client=client, user=user)
