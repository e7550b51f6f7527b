"""Reads of the vault: key state (never key material) and credentials (metadata only)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config.errors import AccessDenied, NotFound
from tenants.models import AccessLevel, Client
from tenants.reach import client_reach_q
from vault.models import ClientDataKey, Credential
from vault.services import client_key_rotation_remaining


@dataclass(frozen=True)
class KeyState:
    version: int
    state: str


@dataclass(frozen=True)
class ClientKeyStatus:
    keys: list[KeyState]
    remaining: int


def client_key_status(*, actor: User | None, client: Client) -> ClientKeyStatus:
    """The client's key versions and how many values still wait for re-encryption.

    For the operator at the command line (actor None); no web view uses it yet.
    """
    keys = [
        KeyState(version=version, state=state)
        for version, state in ClientDataKey.objects.filter(client_id=client.pk)
        .order_by("version")
        .values_list("version", "state")
    ]
    return ClientKeyStatus(keys=keys, remaining=client_key_rotation_remaining(client_id=client.pk))


# --- Credentials -------------------------------------------------------------------------


def _visible_credentials(actor: User) -> QuerySet[Credential]:
    return Credential.objects.filter(client__in=Client.objects.for_user(actor, AccessLevel.VIEW))


def credential_list_for_user(
    *,
    actor: User,
    client: Client | None = None,
    search: str = "",
    tag: str = "",
    include_archived: bool = False,
) -> QuerySet[Credential]:
    """Credentials of the clients the actor may see, by client then name, metadata only.

    `search` matches name, username, host, system name or tag; `tag` keeps one tag's.
    Sealed emergency credentials are left out: they are listed only in their own section.
    """
    credentials = _visible_credentials(actor).filter(is_emergency=False)
    if client is not None:
        credentials = credentials.filter(client=client)
    if not include_archived:
        credentials = credentials.exclude(status=Credential.Status.ARCHIVED)
    search = search.strip()[:200]
    if search:
        tagged = Credential.tags.through.objects.filter(tag__name__icontains=search).values(
            "credential_id"
        )
        credentials = credentials.filter(
            Q(name__icontains=search)
            | Q(username__icontains=search)
            | Q(host__icontains=search)
            | Q(system__name__icontains=search)
            | Q(pk__in=tagged)
        )
    tag = tag.strip().lower()[:50]
    if tag:
        credentials = credentials.filter(
            pk__in=Credential.tags.through.objects.filter(tag__name=tag).values("credential_id")
        )
    return (
        credentials.select_related("client", "system")
        .prefetch_related("tags")
        .defer("secret", "notes", "totp_seed")
        .order_by("client__name", "name", "pk")
    )


def credential_get_for_user(
    *,
    actor: User,
    credential_id: uuid.UUID | str,
    level: AccessLevel,
    client: Client | None = None,
) -> Credential:
    """One credential; NotFound when missing or not the actor's, AccessDenied when short.

    The actor's level on its client is set as `my_level`.
    """
    if not actor.is_authenticated or not actor.is_active:
        raise NotFound()
    credentials = Credential.objects.filter(
        client_reach_q("client"),
        pk=credential_id,
        client__assignments__user=actor,
        client__assignments__revoked_at__isnull=True,
    )
    if client is not None:
        credentials = credentials.filter(client=client)
    credential = (
        credentials.annotate(
            my_level=F("client__assignments__level"),
            has_totp_seed=ExpressionWrapper(
                Q(totp_seed__isnull=False), output_field=BooleanField()
            ),
        )
        # The automated rotation target is shown on the credential's page (rotation app).
        .select_related("client", "system", "rotation_target")
        .prefetch_related("tags")
        .defer("secret", "notes", "totp_seed")
        .first()
    )
    if credential is None:
        raise NotFound()
    if credential.my_level < level:
        raise AccessDenied(
            f"You have {AccessLevel(credential.my_level).short_label.lower()} access to "
            f"{credential.client.name}; this needs {AccessLevel(level).short_label.lower()} "
            "access. Ask a manager to change your assignment."
        )
    return credential


def credential_list_filtered(
    *,
    actor: User,
    client_id: uuid.UUID | None = None,
    credential_type: str = "",
    tier: str = "",
    status: str = "",
    rotation_due: bool | None = None,
    updated_since: datetime | None = None,
    search: str = "",
) -> QuerySet[Credential]:
    """credential_list_for_user with the API's filters, and `has_totp_seed` on each row.

    Sealed emergency credentials stay out, as in every list; archived ones are listed only
    when `status` asks for them. `rotation_due` True keeps those due now or earlier, False
    those not due (no date, or a later one).
    """
    credentials = credential_list_for_user(
        actor=actor, search=search, include_archived=status == Credential.Status.ARCHIVED
    )
    if client_id is not None:
        credentials = credentials.filter(client_id=client_id)
    if credential_type:
        credentials = credentials.filter(credential_type=credential_type)
    if tier:
        credentials = credentials.filter(privilege_tier=tier)
    if status:
        credentials = credentials.filter(status=status)
    if rotation_due is not None:
        due = Q(next_rotation_due__lte=timezone.now())
        credentials = credentials.filter(due if rotation_due else ~due)
    if updated_since is not None:
        credentials = credentials.filter(updated_at__gte=updated_since)
    return credentials.annotate(
        has_totp_seed=ExpressionWrapper(Q(totp_seed__isnull=False), output_field=BooleanField())
    )
