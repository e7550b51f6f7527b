"""One-time share links: a credential's secret handed to a client contact without an account.

The link carries a 256-bit token; only its SHA-256 is stored. Opening the link (GET) reads
nothing secret and consumes nothing, so mail scanners and chat unfurlers cannot burn it; the
contact's explicit Reveal (POST) consumes one view through a single conditional UPDATE, so
exactly `max_views` requests ever get the secret, however many arrive at once. A link that
is used up, expired, revoked or blocked answers like an unknown one, and a hit on it tells
the technician who created it (someone else may have used the link first).
"""

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Notification, User
from audit.models import ActorKind, Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, InvalidRequest, KeyholdError, NotFound
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.envelope import field_decrypt, field_encrypt, recording_decryption_failures
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    SHARE_LINK_RECORD_TYPE,
    Credential,
    PrivilegeTier,
    ShareLink,
)
from vault.selectors.share_links import PASSPHRASE_ATTEMPTS_MAX, share_link_state

TOKEN_BYTES = 32
EXPIRY_HOURS_DEFAULT = 24
EXPIRY_HOURS_MAX = 168
VIEWS_MAX = 10
RECIPIENT_MAX = 200
PASSPHRASE_MIN = 6
PASSPHRASE_MAX = 200
LINK_HOLDER = "client contact (share link)"
NOT_SHAREABLE = (
    "High-privilege and sealed emergency credentials cannot be sent through a share link. "
    "Give the client a standard account of their own, or ask a manager."
)
GONE_MESSAGE = "This link has expired or has already been used."


class ShareLinkGone(KeyholdError):
    """Unknown, used up, expired, revoked or blocked: deliberately indistinguishable."""

    status = 410

    def __init__(self) -> None:
        super().__init__(GONE_MESSAGE)


class PassphraseRefused(KeyholdError):
    """A wrong passphrase; the link stays usable until the attempts run out."""

    status = 403

    def __init__(self, attempts_left: int) -> None:
        left = "1 attempt" if attempts_left == 1 else f"{attempts_left} attempts"
        super().__init__(f"That passphrase is not right. {left} left before the link is blocked.")
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class SharedSecret:
    """What the contact sees after Reveal."""

    name: str
    host: str
    username: str
    secret: str
    views_left: int


@dataclass(frozen=True)
class ShareLinkLanding:
    """What the contact's page may know before Reveal: no secret, nothing of the MSP."""

    passphrase_required: bool
    expires_at: datetime


def share_token_hash(*, token: str) -> str:
    """The stored form of a link token (also what a contact's session keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _credential_target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


def _shareable_check(credential: Credential) -> None:
    if credential.status == Credential.Status.ARCHIVED:
        raise InvalidRequest("This credential is archived; it cannot be shared.")
    if credential.privilege_tier == PrivilegeTier.HIGH or credential.is_emergency:
        raise AccessDenied(NOT_SHAREABLE)


def _int_in_range(value: object, low: int, high: int, what: str) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidRequest(f"{what} is a whole number from {low} to {high}.") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{what} is a whole number from {low} to {high}.")
    return number


@sensitive_variables("passphrase", "plaintext", "payload", "token")
def share_link_create(
    *,
    actor: User,
    credential: Credential,
    recipient: str,
    expires_in_hours: int = EXPIRY_HOURS_DEFAULT,
    max_views: int = 1,
    passphrase: str = "",
) -> tuple[ShareLink, str]:
    """A one-time link to the credential's secret for a client contact (use level).

    Returns the link and its token; the token is shown to the creator once and never stored.
    """
    client = credential.client
    target = _credential_target(credential)
    attempt = Attempt(actor=actor, action="share_link.created", client=client, target=target)
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.USE)
        recipient = recipient.strip()
        if not recipient:
            raise InvalidRequest("Say who the link is for (the client contact's name or email).")
        if len(recipient) > RECIPIENT_MAX:
            raise InvalidRequest(f"The recipient is at most {RECIPIENT_MAX} characters.")
        hours = _int_in_range(expires_in_hours, 1, EXPIRY_HOURS_MAX, "The expiry in hours")
        views = _int_in_range(max_views, 1, VIEWS_MAX, "The number of views")
        if passphrase and not PASSPHRASE_MIN <= len(passphrase) <= PASSPHRASE_MAX:
            raise InvalidRequest(
                f"A passphrase is {PASSPHRASE_MIN} to {PASSPHRASE_MAX} characters, "
                "or leave it empty."
            )
        with transaction.atomic():
            current = (
                Credential.objects.filter(pk=credential.pk, client_id=client.pk)
                .only(
                    "id",
                    "client_id",
                    "name",
                    "host",
                    "username",
                    "status",
                    "privilege_tier",
                    "is_emergency",
                    "secret",
                )
                .first()
            )
            if current is None:
                raise NotFound()
            _shareable_check(current)
            plaintext = field_decrypt(
                client=client,
                record_type=CREDENTIAL_RECORD_TYPE,
                record_id=str(current.pk),
                field="secret",
                sealed=current.secret,
            ).decode("utf-8")
            payload = json.dumps(
                {
                    "name": current.name,
                    "host": current.host,
                    "username": current.username,
                    "secret": plaintext,
                }
            ).encode("utf-8")
            link_id = uuid.uuid4()
            token = secrets.token_urlsafe(TOKEN_BYTES)
            now = timezone.now()
            link = ShareLink.objects.create(
                id=link_id,
                client=client,
                credential=current,
                created_by=actor,
                recipient=recipient,
                token_hash=share_token_hash(token=token),
                payload=field_encrypt(
                    client=client,
                    record_type=SHARE_LINK_RECORD_TYPE,
                    record_id=str(link_id),
                    field="payload",
                    plaintext=payload,
                ),
                passphrase_hash=make_password(passphrase) if passphrase else "",
                max_views=views,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
            record(
                actor=actor,
                action="share_link.created",
                client=client,
                target=_credential_target(current),
                details={
                    "share_link": str(link.pk),
                    "recipient": recipient,
                    "expires_in_hours": hours,
                    "max_views": views,
                    "phrase_required": bool(passphrase),
                },
            )
    return link, token


def share_link_revoke(*, actor: User, link: ShareLink) -> ShareLink:
    """End a link before it is used (its creator, or manage level on the client)."""
    client = link.client
    target = _credential_target(link.credential)
    details = {"share_link": str(link.pk)}
    attempt = Attempt(
        actor=actor, action="share_link.revoked", client=client, target=target, details=details
    )
    with recording_failures(attempt):
        level = AccessLevel.USE if link.created_by_id == actor.pk else AccessLevel.MANAGE
        try:
            client_get_for_user(actor=actor, slug=client.slug, level=level)
        except AccessDenied:
            raise AccessDenied(
                f"Only the person who created this link or a manager of {client.name} can "
                "revoke it."
            ) from None
        with transaction.atomic():
            current = ShareLink.objects.select_for_update().filter(pk=link.pk).first()
            if current is None:
                raise NotFound()
            if current.revoked_at is not None or current.payload is None:
                raise InvalidRequest(
                    "This link can no longer be opened; there is nothing to revoke."
                )
            now = timezone.now()
            current.revoked_at = now
            current.revoked_by = actor
            current.payload = None
            current.save(update_fields=["revoked_at", "revoked_by", "payload"])
            record(
                actor=actor,
                action="share_link.revoked",
                client=client,
                target=target,
                details={**details, "views": current.views, "max_views": current.max_views},
            )
    return current


# --- The contact's side ----------------------------------------------------------------------


def _link_by_hash(token_hash: str) -> ShareLink | None:
    if not token_hash:
        return None
    return (
        ShareLink.objects.select_related("client", "credential", "created_by")
        .defer("payload")
        .filter(token_hash=token_hash)
        .first()
    )


def _refusal(link: ShareLink, now: datetime) -> str:
    """Why the link cannot be used now, or "" when it can."""
    state = share_link_state(link=link, now=now)
    if state != "active":
        return state
    if link.client.status == Client.Status.OFFBOARDED:
        return "client_offboarded"
    if link.credential.status == Credential.Status.ARCHIVED:
        return "credential_archived"
    if not (
        Client.objects.for_user(link.created_by, AccessLevel.USE).filter(pk=link.client_id).exists()
    ):
        return "creator_lost_access"
    return ""


# Only these mean the link was used or ran out: a hit on one may be someone else's.
_ALERTING = {"used", "expired", "revoked", "blocked"}


def _creator_notify(link: ShareLink, message: str) -> None:
    """One unread notice per link and message: a burst of hits is one alert."""
    url = reverse("vault:credential_detail", args=[link.client.slug, link.credential_id])
    if not Notification.objects.filter(
        user_id=link.created_by_id, link=url, message=message[:500], read_at__isnull=True
    ).exists():
        Notification.objects.create(user_id=link.created_by_id, message=message[:500], link=url)


def _dead_hit_message(link: ShareLink) -> str:
    name, who = link.credential.name, link.recipient
    return (
        f"Someone opened the share link of {name} for {who} after it had been used, had "
        f"expired or was revoked. If {who} did not, treat {name} as exposed and rotate it."
    )


def _refuse(link: ShareLink, *, action: str, reason: str) -> None:
    """Record the refusal (and alert the creator when the hit may be someone else's)."""
    with transaction.atomic():
        if reason in _ALERTING:
            _creator_notify(link, _dead_hit_message(link))
        record(
            actor=None,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action=action,
            outcome=Outcome.DENIED,
            client=link.client,
            target=_credential_target(link.credential),
            reason=reason,
            details={"share_link": str(link.pk), "state": reason},
        )


def share_link_open(*, actor: User | None, token_hash: str) -> ShareLinkLanding:
    """The page before Reveal: consumes nothing; ShareLinkGone when it cannot be used."""
    link = _link_by_hash(token_hash)
    if link is None:
        raise ShareLinkGone()
    refusal = _refusal(link, timezone.now())
    if refusal:
        _refuse(link, action="share_link.opened", reason=refusal)
        raise ShareLinkGone()
    with transaction.atomic():
        record(
            actor=actor,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action="share_link.opened",
            client=link.client,
            target=_credential_target(link.credential),
            details={"share_link": str(link.pk)},
        )
    return ShareLinkLanding(
        passphrase_required=bool(link.passphrase_hash), expires_at=link.expires_at
    )


def _passphrase_refused(link: ShareLink) -> int:
    """Count a wrong passphrase; the last allowed one blocks the link. Attempts left."""
    with transaction.atomic():
        ShareLink.objects.filter(
            pk=link.pk, failed_passphrase_attempts__lt=PASSPHRASE_ATTEMPTS_MAX
        ).update(failed_passphrase_attempts=F("failed_passphrase_attempts") + 1)
        failed = (
            ShareLink.objects.filter(pk=link.pk)
            .values_list("failed_passphrase_attempts", flat=True)
            .get()
        )
        blocked = failed >= PASSPHRASE_ATTEMPTS_MAX
        if blocked:
            burned = ShareLink.objects.filter(pk=link.pk, payload__isnull=False).update(
                payload=None
            )
            if burned:
                name, who = link.credential.name, link.recipient
                _creator_notify(
                    link,
                    f"The share link of {name} for {who} was blocked after "
                    f"{PASSPHRASE_ATTEMPTS_MAX} wrong passphrases. If {who} did not try them, "
                    f"treat {name} as exposed and rotate it.",
                )
        record(
            actor=None,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action="share_link.revealed",
            outcome=Outcome.DENIED,
            client=link.client,
            target=_credential_target(link.credential),
            reason="blocked" if blocked else "wrong_passphrase",
            details={"share_link": str(link.pk), "failed_attempts": failed},
        )
    return max(PASSPHRASE_ATTEMPTS_MAX - failed, 0)


@sensitive_variables("passphrase", "plaintext", "opened")
def share_link_reveal(*, actor: User | None, token_hash: str, passphrase: str = "") -> SharedSecret:
    """The secret, to exactly `max_views` requests however many arrive at once, audited.

    One conditional UPDATE decides who gets a view; the payload is wiped in the same
    transaction as the last view. ShareLinkGone for anything that cannot be used,
    PassphraseRefused for a wrong passphrase (counted; the fifth blocks the link).
    """
    link = _link_by_hash(token_hash)
    if link is None:
        raise ShareLinkGone()
    now = timezone.now()
    refusal = _refusal(link, now)
    if refusal:
        _refuse(link, action="share_link.revealed", reason=refusal)
        raise ShareLinkGone()
    if link.passphrase_hash and not check_password(passphrase, link.passphrase_hash):
        left = _passphrase_refused(link)
        if left == 0:
            raise ShareLinkGone()
        raise PassphraseRefused(left)
    target = _credential_target(link.credential)
    with (
        recording_decryption_failures(actor=None, client=link.client, target=target),
        transaction.atomic(),
    ):
        won = ShareLink.objects.filter(
            pk=link.pk,
            views__lt=F("max_views"),
            revoked_at__isnull=True,
            expires_at__gt=now,
            payload__isnull=False,
            failed_passphrase_attempts__lt=PASSPHRASE_ATTEMPTS_MAX,
        ).update(views=F("views") + 1, last_viewed_at=now)
        if won:
            views, max_views, sealed = (
                ShareLink.objects.filter(pk=link.pk)
                .values_list("views", "max_views", "payload")
                .get()
            )
            plaintext = field_decrypt(
                client=link.client,
                record_type=SHARE_LINK_RECORD_TYPE,
                record_id=str(link.pk),
                field="payload",
                sealed=sealed,
            )
            used_up = views >= max_views
            if used_up:
                ShareLink.objects.filter(pk=link.pk).update(payload=None)
            record(
                actor=actor,
                actor_kind=ActorKind.ANONYMOUS,
                actor_label=LINK_HOLDER,
                action="share_link.revealed",
                client=link.client,
                target=target,
                details={
                    "share_link": str(link.pk),
                    "view": views,
                    "max_views": max_views,
                    "used_up": used_up,
                },
            )
    if not won:
        # Another request took the last view (or the link ended) since it was read above.
        link.refresh_from_db(fields=["views", "revoked_at", "failed_passphrase_attempts"])
        _refuse(link, action="share_link.revealed", reason=_refusal(link, now) or "used")
        raise ShareLinkGone()
    opened = json.loads(plaintext)
    return SharedSecret(
        name=opened["name"],
        host=opened["host"],
        username=opened["username"],
        secret=opened["secret"],
        views_left=max_views - views,
    )


# --- Housekeeping ----------------------------------------------------------------------------

PURGE_BATCH = 500


def share_links_purge(*, actor: User | None, now: datetime | None = None) -> int:
    """Wipe the payload of every expired link still holding one; one event per link.

    For the beat job (actor None). Idempotent: a rerun finds only what is left.
    """
    now = now or timezone.now()
    purged = 0
    while True:
        due = list(
            ShareLink.objects.filter(payload__isnull=False, expires_at__lte=now)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not due:
            return purged
        for link_id in due:
            with transaction.atomic():
                link = (
                    ShareLink.objects.select_for_update(of=("self",))
                    .select_related("client", "credential")
                    .defer("payload")
                    .filter(pk=link_id, payload__isnull=False, expires_at__lte=now)
                    .first()
                )
                if link is None:
                    continue
                ShareLink.objects.filter(pk=link.pk).update(payload=None, purged_at=now)
                record(
                    actor=actor,
                    action="share_link.expired",
                    client=link.client,
                    target=_credential_target(link.credential),
                    details={
                        "share_link": str(link.pk),
                        "views": link.views,
                        "max_views": link.max_views,
                    },
                )
                purged += 1
