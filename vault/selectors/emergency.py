"""Reads of sealed emergency credentials: a client's section and one credential in it."""

import uuid

from django.db.models import QuerySet

from accounts.models import Role, User
from config.errors import NotFound
from tenants.models import AccessLevel, Client
from vault.models import Credential
from vault.selectors.credentials import credential_get_for_user

OPEN_PERMISSION = "vault.open_emergency"


def emergency_list_for_user(*, actor: User, client: Client) -> QuerySet[Credential]:
    """The client's sealed emergency credentials (not archived), metadata and seal state only.

    `client` comes from tenants.selectors.client_get_for_user; the query is scoped again to the
    actor's clients, so a client object from anywhere else yields nothing.
    """
    return (
        Credential.objects.filter(
            client__in=Client.objects.for_user(actor, AccessLevel.VIEW),
            client=client,
            is_emergency=True,
        )
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("system", "seal_broken_by")
        .defer("secret", "notes", "totp_seed")
        .order_by("name", "pk")
    )


def emergency_get_for_user(
    *, actor: User, client: Client, credential_id: uuid.UUID | str
) -> Credential:
    """One sealed emergency credential of the client; NotFound for any other credential."""
    credential = credential_get_for_user(
        actor=actor, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    if not credential.is_emergency:
        raise NotFound()
    return credential


def emergency_abilities_for_user(*, actor: User) -> dict[str, bool]:
    """What the actor may do in an Emergency section: open (the permission), re-seal (managers)."""
    return {
        "can_open_emergency": actor.has_perm(OPEN_PERMISSION),
        "can_reseal_emergency": actor.has_role(Role.MANAGER),
    }
