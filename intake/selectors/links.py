"""Reads of client intake links and their staged entries, for those who manage the client.

Never the token hash, and never a staged value: the sealed fields are left in the database.
"""

import uuid
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config.errors import NotFound
from intake.models import IntakeLink, IntakeLinkRequest, StagedCredential
from tenants.models import AccessLevel, Client
from vault.models import CredentialType

STATE_LABELS = {
    "waiting": "Waiting for the contact",
    "submitted": "Submitted",
    "expired": "Expired",
    "revoked": "Revoked",
}
_SEALED = ("secret", "notes", "totp_seed")


def intake_link_state(*, link: IntakeLink, now: datetime | None = None) -> str:
    """waiting, submitted, expired or revoked."""
    now = now or timezone.now()
    if link.submitted_at is not None:
        return "submitted"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "waiting"


def _managed_links(actor: User) -> QuerySet[IntakeLink]:
    return IntakeLink.objects.filter(
        client__in=Client.objects.for_user(actor, AccessLevel.MANAGE)
    ).defer("token_hash")


def _with_state(link: IntakeLink, now: datetime) -> IntakeLink:
    link.state = intake_link_state(link=link, now=now)
    link.state_label = STATE_LABELS[link.state]
    return link


def intake_link_list_for_client(*, actor: User, client: Client) -> list[IntakeLink]:
    """The client's links, newest first, with `state`, `state_label`, `system_count` and
    `pending_count` (entries waiting for review) set."""
    now = timezone.now()
    links = (
        _managed_links(actor)
        .filter(client_id=client.pk)
        .select_related("created_by")
        .annotate(
            system_count=Count("requests", distinct=True),
            pending_count=Count(
                "staged", filter=Q(staged__status=StagedCredential.Status.PENDING), distinct=True
            ),
        )
        .order_by("-created_at", "pk")
    )
    return [_with_state(link, now) for link in links]


def intake_link_get_for_user(
    *, actor: User, client: Client, link_id: uuid.UUID | str
) -> IntakeLink:
    """One link of the client with `state` set; NotFound when missing or not the actor's."""
    link = (
        _managed_links(actor)
        .filter(pk=link_id, client_id=client.pk)
        .select_related("client", "created_by", "revoked_by")
        .first()
    )
    if link is None:
        raise NotFound()
    return _with_state(link, timezone.now())


def intake_link_request_list(*, actor: User, link: IntakeLink) -> list[IntakeLinkRequest]:
    """The systems the link asks for, in the order listed, with `credential_type_label` set."""
    labels = dict(CredentialType.choices)
    requests = list(
        IntakeLinkRequest.objects.filter(
            link_id=link.pk, link__client__in=Client.objects.for_user(actor, AccessLevel.MANAGE)
        ).order_by("position")
    )
    for request in requests:
        request.credential_type_label = labels.get(request.credential_type, "")
    return requests


def _managed_staged(actor: User) -> QuerySet[StagedCredential]:
    return StagedCredential.objects.filter(
        client__in=Client.objects.for_user(actor, AccessLevel.MANAGE)
    ).defer(*_SEALED)


def staged_credential_list_for_link(*, actor: User, link: IntakeLink) -> list[StagedCredential]:
    """What the contact sent through the link, without its values."""
    return list(
        _managed_staged(actor)
        .filter(link_id=link.pk, client_id=link.client_id)
        .select_related("request", "reviewed_by", "credential")
        .defer("credential__secret", "credential__notes", "credential__totp_seed")
        .order_by("submitted_at", "request__position", "pk")
    )


def staged_credential_get_for_user(
    *, actor: User, link: IntakeLink, staged_id: uuid.UUID | str
) -> StagedCredential:
    """One staged entry of the link, without its values; NotFound when missing or not yours."""
    staged = (
        _managed_staged(actor)
        .filter(pk=staged_id, link_id=link.pk, client_id=link.client_id)
        .select_related("client", "request")
        .first()
    )
    if staged is None:
        raise NotFound()
    return staged
