"""Reads of one-time share links: metadata only, never the payload or the token hash."""

import uuid
from datetime import datetime

from django.utils import timezone

from accounts.models import User
from config.errors import NotFound
from tenants.models import AccessLevel, Client
from vault.models import Credential, ShareLink

PASSPHRASE_ATTEMPTS_MAX = 5

STATUS_LABELS = {
    "active": "Active",
    "used": "Used",
    "expired": "Expired",
    "revoked": "Revoked",
    "blocked": "Blocked (wrong passphrases)",
}


def share_link_state(*, link: ShareLink, now: datetime | None = None) -> str:
    """active, used, expired, revoked or blocked (too many wrong passphrases)."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.failed_passphrase_attempts >= PASSPHRASE_ATTEMPTS_MAX:
        return "blocked"
    if link.views >= link.max_views:
        return "used"
    if link.expires_at <= now or link.purged_at is not None:
        return "expired"
    return "active"


def _visible_links(actor: User):
    return ShareLink.objects.filter(client__in=Client.objects.for_user(actor, AccessLevel.VIEW))


def share_link_list_for_credential(*, actor: User, credential: Credential) -> list[ShareLink]:
    """The credential's links, newest first, each with `state` and `state_label` set."""
    now = timezone.now()
    links = list(
        _visible_links(actor)
        .filter(credential_id=credential.pk, client_id=credential.client_id)
        .select_related("created_by")
        .defer("payload", "token_hash")
        .order_by("-created_at", "pk")
    )
    for link in links:
        link.state = share_link_state(link=link, now=now)
        link.state_label = STATUS_LABELS[link.state]
        link.has_passphrase = bool(link.passphrase_hash)
    return links


def share_link_get_for_user(
    *, actor: User, link_id: uuid.UUID | str, credential: Credential
) -> ShareLink:
    """One link of the credential; NotFound when missing or not the actor's."""
    link = (
        _visible_links(actor)
        .filter(pk=link_id, credential_id=credential.pk, client_id=credential.client_id)
        .select_related("client", "credential", "created_by")
        .defer("payload", "token_hash", "passphrase_hash")
        .first()
    )
    if link is None:
        raise NotFound()
    return link
