"""Reads of the vault: key state (never key material) and credentials (metadata; a sealed
value, never decrypted here, only for the reveal service)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config.errors import NotFound
from tenants.models import AccessLevel, Client, System, client_assigned_q
from tenants.selectors import access_short
from vault.models import ClientDataKey, Credential, Tag
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
    """Credentials of the clients the actor may see, through a join on its assignment.

    The tenancy rule joined (one active assignment per user and client, so no duplicates)
    rather than `client__in=` a subquery: the planner can then start from the actor's few
    clients in name order instead of walking every client's credentials and testing each
    against the subquery (issue 9: the first page among 500,000 credentials went from about
    30 ms to under 1 ms).
    """
    if not actor.is_authenticated or not actor.is_active:
        return Credential.objects.none()
    return Credential.objects.filter(client_assigned_q(actor, level=AccessLevel.VIEW, via="client"))


def _search_q(*, actor: User, search: str) -> Q:
    """Credentials whose name, username, host, system name or tag contains `search`.

    The matching systems (the actor's) and tags are looked up first, by id: a join or a
    subquery inside an OR makes PostgreSQL guess that half the rows match and read every
    visible credential (1.9 s for a rare term at 500,000 credentials). With ids, the whole
    condition is on the credential's own columns, so a rare term is answered from the
    trigram indexes of migration 0007 and the system index, and a common one by reading the
    actor's clients in name order until the page is full.
    """
    matched = Q(name__icontains=search) | Q(username__icontains=search) | Q(host__icontains=search)
    system_ids = list(
        System.objects.for_user(actor, AccessLevel.VIEW)
        .filter(name__icontains=search)
        .order_by()
        .values_list("pk", flat=True)
    )
    if system_ids:
        matched |= Q(system_id__in=system_ids)
    tag_ids = list(
        Tag.objects.filter(name__icontains=search).order_by().values_list("pk", flat=True)
    )
    if tag_ids:
        # A probe per row, not `pk__in=` the tagged ids: a tag on 150,000 credentials makes
        # that list too big to hash, and PostgreSQL then reads it again for every row.
        tagged = Credential.tags.through.objects.filter(
            credential_id=OuterRef("pk"), tag_id__in=tag_ids
        )
        matched |= Q(Exists(tagged))
    return matched


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
        credentials = credentials.filter(_search_q(actor=actor, search=search))
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


def _has_totp_seed() -> ExpressionWrapper:
    return ExpressionWrapper(Q(totp_seed__isnull=False), output_field=BooleanField())


def _assigned_credential(
    *, actor: User, credential_id: uuid.UUID | str, client: Client | None
) -> QuerySet[Credential]:
    """The credential if the actor holds an active assignment on its client, with their
    level as `my_level`. None for anyone not signed in and active."""
    if not actor.is_authenticated or not actor.is_active:
        return Credential.objects.none()
    credentials = Credential.objects.filter(
        client_assigned_q(actor, via="client"), pk=credential_id
    )
    if client is not None:
        credentials = credentials.filter(client=client)
    return credentials.annotate(my_level=F("client__assignments__level"))


def _credential_of_actor(
    *, actor: User, credential_id: uuid.UUID | str, client: Client | None
) -> QuerySet[Credential]:
    """_assigned_credential with `has_totp_seed`, its sealed columns deferred."""
    return (
        _assigned_credential(actor=actor, credential_id=credential_id, client=client)
        .annotate(has_totp_seed=_has_totp_seed())
        .defer("secret", "notes", "totp_seed")
    )


def _with_level(credential: Credential | None, level: AccessLevel) -> Credential:
    if credential is None:
        raise NotFound()
    if credential.my_level < level:
        raise access_short(
            held=credential.my_level, needed=level, client_name=credential.client.name
        )
    return credential


def credential_get_for_user(
    *,
    actor: User,
    credential_id: uuid.UUID | str,
    level: AccessLevel,
    client: Client | None = None,
) -> Credential:
    """One credential with what its page shows (client, system, rotation target, tags);
    NotFound when missing or not the actor's, AccessDenied when short.

    The actor's level on its client is set as `my_level`.
    """
    credential = (
        _credential_of_actor(actor=actor, credential_id=credential_id, client=client)
        # The automated rotation target is shown on the credential's page (rotation app).
        .select_related("client", "system", "rotation_target")
        .prefetch_related("tags")
        .first()
    )
    return _with_level(credential, level)


def credential_get_to_open(
    *,
    actor: User,
    credential_id: uuid.UUID | str,
    level: AccessLevel,
    client: Client | None = None,
) -> Credential:
    """One credential with its client only, for a reveal: as credential_get_for_user, less
    the joins and the tag query a reveal never shows (the hottest path, issue 9)."""
    credential = (
        _credential_of_actor(actor=actor, credential_id=credential_id, client=client)
        .select_related("client")
        .first()
    )
    return _with_level(credential, level)


def credential_get_sealed_to_reveal(
    *, actor: User, credential_id: uuid.UUID | str, client: Client
) -> Credential:
    """For the reveal service only: the sealed secret and the state a reveal checks, with
    the actor's `my_level`, read afresh in one query with the access check (the reveal is
    the hottest path, issue 9). NotFound when gone, moved or not the actor's; AccessDenied
    below use level."""
    credential = (
        _assigned_credential(actor=actor, credential_id=credential_id, client=client)
        .only("id", "client_id", "name", "status", "privilege_tier", "is_emergency", "secret")
        .first()
    )
    return _with_level(credential, AccessLevel.USE)


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
    # The page's tag names come from credential_tag_names_attach: prefetching Tag objects
    # was a third of the time of a 1,000-credential page (issue 9).
    return credentials.prefetch_related(None).annotate(has_totp_seed=_has_totp_seed())


def credential_tag_names_attach(*, credentials: list[Credential]) -> None:
    """Set `tag_names` (sorted) on each credential, from one query of (credential, name)
    pairs: no model instance per tag. The credentials were already read through a scoped
    selector; this reads only their tags."""
    pairs = (
        Credential.tags.through.objects.filter(credential_id__in=[each.pk for each in credentials])
        .order_by("tag__name")
        .values_list("credential_id", "tag__name")
    )
    names: dict[uuid.UUID, list[str]] = {}
    for credential_id, name in pairs:
        names.setdefault(credential_id, []).append(name)
    for credential in credentials:
        credential.tag_names = names.get(credential.pk, [])
